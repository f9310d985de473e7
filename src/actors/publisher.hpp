// publisher: a detached actor per booster that publishes what reaches it by message (pushes
// by queue name through the node, pushes sent to the supervisor) and what the caller's fast
// path (core/direct_publisher) could not deliver. A refused publish is retried by a timer
// message to self, publish_retries times publish_retry_interval apart (the seed's contract);
// then the messages go to the outbox file and the push answers ec::kept_in_outbox. The outbox
// is replayed on the same timer until the broker takes it, also when an earlier process left
// it. Detached because broker calls block; it never sleeps.
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
  std::vector<std::string> bodies;
  std::vector<std::string> task_ids;
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
};

publisher_actor::behavior_type
publisher(publisher_actor::stateful_pointer<publisher_state> self, detail::queue_context_ptr ctx);

} // namespace funboost::actors
