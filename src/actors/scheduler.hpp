// scheduler: a detached actor per consuming queue that owns its delayed tasks' timers.
// Tasks whose countdown or eta is not due yet come from the dispatcher (`delay`); it keeps them
// in the broker's delay store (include/funboost/delay_store.hpp: Redis for the Redis kinds,
// this process's memory otherwise) and answers once they are kept, so the dispatcher acks the
// original message only then. A timer for the earliest due time it knows of fires them (the
// store pushes each due one to the queue, once across processes); it also looks at the store
// at least every `look_interval`, for tasks kept by other processes (or before a restart) whose
// scheduler is gone. Detached because the store's calls block.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "actors/actors.hpp"
#include "core/queue_context.hpp"

namespace funboost::actors {

/// Now, in Unix seconds. The system clock by default; a test gives one that follows its
/// deterministic clock.
using wall_clock = std::function<double()>;

struct scheduler_state {
  static inline const char* name = "funboost.scheduler";
  // Not an aggregate: C++20 would let CAF construct an aggregate state from the actor pointer.
  scheduler_state() = default;
  detail::queue_context_ptr ctx;
  wall_clock now;
  std::unique_ptr<delay_store> store;
  std::optional<double> tick_at; // when the timer set last fires (Unix s); none: no timer
  std::optional<caf::actor_clock::time_point> error_logged; // store failures: once a minute
};

/// The longest the scheduler goes without looking at the store.
inline constexpr std::chrono::seconds look_interval{1};
/// The most delayed tasks one call fires; more due ones are fired by the next call at once.
inline constexpr std::size_t fire_batch = 1000;

scheduler_actor::behavior_type
scheduler(scheduler_actor::stateful_pointer<scheduler_state> self, detail::queue_context_ptr ctx,
          wall_clock now);

} // namespace funboost::actors
