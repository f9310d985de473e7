// publisher: a detached actor per booster that publishes what reaches it by message (pushes
// by queue name through the node, pushes sent to the supervisor) and what the caller's fast
// path (core/direct_publisher) could not deliver. It is a circuit breaker in front of the
// broker:
//   up:   a refused publish is retried by a timer message to self, publish_retries times
//         publish_retry_interval apart (the seed's contract); pushes that arrive meanwhile
//         queue behind it, untried. Only one retry cycle runs at a time.
//   down: the cycle failed (or an outbox replay did). Every push waiting and every new push
//         goes straight to the outbox file and is answered ec::kept_in_outbox at once; the
//         replay timer, every publish_retry_interval, is the only broker traffic (the probe).
//         A replay that delivers the whole outbox (or, with nothing to replay, a connect that
//         works) turns it up again; queue_context::publisher_down mirrors the state for push().
// A push the outbox cannot keep (unwritable directory, full disk) is answered
// ec::broker_unreachable naming the queue, the task, the path and the fix; when the directory
// is unusable that happens at the first refusal, without waiting for the retries.
// Detached because broker calls and file syncs block; it never sleeps.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <caf/typed_response_promise.hpp>

#include "actors/actors.hpp"
#include "core/outbox.hpp"
#include "core/queue_context.hpp"

namespace funboost::actors {

/// Messages waiting for their next try, with whoever waits for the answer.
struct waiting_publish {
  std::vector<std::string> bodies; // not yet on the broker
  std::vector<std::string> task_ids;
  std::vector<std::string> published_ids; // taken by the broker in an earlier, partial try
  caf::typed_response_promise<std::vector<push_receipt>> promise;
  int attempts = 0;
};

struct publisher_state {
  static inline const char* name = "funboost.publisher";
  // Not an aggregate: C++20 would let CAF construct an aggregate state from the actor pointer.
  publisher_state() = default;
  detail::queue_context_ptr ctx;
  std::unique_ptr<broker_connection> connection;
  std::unique_ptr<detail::outbox> outbox;
  std::deque<waiting_publish> waiting; // in push order; new pushes queue behind them
  bool retry_scheduled = false;
  bool replay_scheduled = false;
  bool down = false;       // the circuit: see above
  std::string down_reason; // why, for the receipts of pushes kept while down
};

publisher_actor::behavior_type
publisher(publisher_actor::stateful_pointer<publisher_state> self, detail::queue_context_ptr ctx);

} // namespace funboost::actors
