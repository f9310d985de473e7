// queue_supervisor: one per booster. consume() makes it spawn the queue's actors; it restarts a
// fetcher whose broker failed after a backoff (1 s doubling to 60 s, reset once a fetch works),
// replaces a crashed worker, and runs the graceful stop. Its handle is what CAF code talks to:
//   (consume_atom)                 start consuming
//   (stop_atom) -> bool            stop gracefully; answers when in-flight tasks are acked
//   (push_atom, kwargs JSON) -> task id string
#pragma once

#include <chrono>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/actors.hpp"
#include "core/queue_context.hpp"

namespace funboost::actors {

struct fetcher_slot {
  fetcher_actor handle; // null while dead (waiting for its restart)
  uint32_t epoch = 0;
  std::chrono::milliseconds backoff{0};
};

struct queue_supervisor_state {
  static inline const char* name = "funboost.queue_supervisor";
  // Not an aggregate: C++20 would let CAF construct an aggregate state from the actor pointer.
  queue_supervisor_state() = default;
  detail::queue_context_ptr ctx;
  bool running = false;
  bool stopping = false;
  bool drained = false;
  dispatcher_actor dispatcher;
  rate_limiter_actor rate_limiter;
  heartbeat_actor heartbeat;
  std::vector<fetcher_slot> fetchers;
  std::vector<worker_actor> workers;
  std::vector<caf::response_promise> stop_promises;
};

caf::behavior queue_supervisor(caf::stateful_actor<queue_supervisor_state>* self,
                               detail::queue_context_ptr ctx);

} // namespace funboost::actors
