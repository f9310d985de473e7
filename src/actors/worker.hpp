// worker: a detached actor that runs the user's function, one batch at a time, and decides
// what became of each task (done, retry, failed, dead-letter). It tells the dispatcher when a
// task with a function_timeout starts (the dispatcher times it), ends quietly once let go of
// at a timeout, and with process_isolation runs each function in a forked child it waits for.
#pragma once

#include <simdjson.h>

#include "actors/actors.hpp"
#include "core/queue_context.hpp"

namespace funboost::actors {

struct worker_state {
  static inline const char* name = "funboost.worker";
  // Not an aggregate: C++20 would let CAF construct an aggregate state from the actor pointer.
  worker_state() = default;
  detail::queue_context_ptr ctx;
  dispatcher_actor dispatcher;
  simdjson::dom::parser parser; // reused: parsing allocates nothing after the first message
};

worker_actor::behavior_type worker(worker_actor::stateful_pointer<worker_state> self,
                                   detail::queue_context_ptr ctx, dispatcher_actor dispatcher);

} // namespace funboost::actors
