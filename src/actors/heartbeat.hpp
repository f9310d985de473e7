// heartbeat: a detached actor per consuming queue that
//  - runs the broker's upkeep (broker::maintain(): Redis heartbeats and recovery of dead
//    consumers' messages) on the timer the broker asks for, and at once when the broker wakes it;
//  - every logging.stats_interval (when not 0) logs the queue's line: done, failed, running,
//    prefetched, rate and remaining (it owns a broker connection to count the queue), and a
//    warning for each task running longer than logging.long_task_warning.
// Detached because both block on the broker.
#pragma once

#include <cstdint>
#include <memory>

#include "actors/actors.hpp"
#include "core/queue_context.hpp"

namespace funboost::actors {

struct heartbeat_state {
  static inline const char* name = "funboost.heartbeat";
  // Not an aggregate: C++20 would let CAF construct an aggregate state from the actor pointer.
  heartbeat_state() = default;
  detail::queue_context_ptr ctx;
  dispatcher_actor dispatcher;
  std::unique_ptr<broker_connection> connection;
  uint64_t last_finished = 0;
  uint64_t maintenance_round = 0; // only the newest timer runs a round: wakes don't pile up
};

heartbeat_actor::behavior_type
heartbeat(heartbeat_actor::stateful_pointer<heartbeat_state> self, detail::queue_context_ptr ctx,
          dispatcher_actor dispatcher);

} // namespace funboost::actors
