// rate_limiter: issues QPS tokens on a schedule, one every 1/qps seconds, to the dispatcher.
// Tokens are never banked while there is no demand (no burst after an idle spell), and at high
// rates each timer tick issues every token that fell due since the last one, so the average
// stays exact from 0.02/s to 100k/s whatever the function's duration.
#pragma once

#include <caf/actor_clock.hpp>

#include <chrono>

#include "actors/actors.hpp"

namespace funboost::actors {

struct rate_limiter_state {
  static inline const char* name = "funboost.rate_limiter";
  // Not an aggregate: C++20 would let CAF construct an aggregate state from the actor pointer.
  rate_limiter_state() = default;
  dispatcher_actor dispatcher; // whoever sent the latest want
  caf::actor_clock::duration_type interval{};
  caf::actor_clock::time_point next_token{}; // on the actor's clock: tests drive it
  uint32_t wanted = 0;
  bool tick_scheduled = false;
};

rate_limiter_actor::behavior_type
rate_limiter(rate_limiter_actor::stateful_pointer<rate_limiter_state> self, double qps);

} // namespace funboost::actors
