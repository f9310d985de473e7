#include "actors/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace funboost::actors {

namespace {

using self_ptr = rate_limiter_actor::stateful_pointer<rate_limiter_state>;
using clock = caf::actor_clock;

/// Timer ticks closer than this would cost more than they add; tokens due in between are
/// issued together at the next tick.
constexpr auto min_tick = std::chrono::milliseconds(1);

void schedule_tick(self_ptr self) {
  auto& st = self->state;
  if (st.tick_scheduled || st.wanted == 0)
    return;
  st.tick_scheduled = true;
  auto wait = std::max<clock::duration_type>(st.next_token - self->clock().now(),
                                            clock::duration_type::zero());
  if (st.interval < min_tick)
    wait = std::max<clock::duration_type>(wait, min_tick);
  self->delayed_send(self, wait, tick_atom::value);
}

void issue_due_tokens(self_ptr self) {
  auto& st = self->state;
  auto now = self->clock().now();
  uint32_t issued = 0;
  while (st.wanted > issued && st.next_token <= now) {
    ++issued;
    st.next_token += st.interval;
  }
  if (issued > 0) {
    st.wanted -= issued;
    self->send(st.dispatcher, tokens_atom::value, issued);
  }
}

} // namespace

rate_limiter_actor::behavior_type rate_limiter(self_ptr self, double qps) {
  auto& st = self->state;
  st.interval = std::chrono::duration_cast<clock::duration_type>(
    std::chrono::duration<double>(1.0 / qps));
  st.next_token = self->clock().now();
  return {
    [self](want_atom, uint32_t n) {
      auto& st = self->state;
      st.dispatcher = caf::actor_cast<dispatcher_actor>(self->current_sender());
      // Demand after a spell without any: the schedule restarts now, so an idle queue earns no
      // burst. While demand lasts it never restarts: a late tick (or the 1 ms minimum tick at
      // high rates) issues every token that fell due meanwhile.
      if (st.wanted == 0 && st.next_token < self->clock().now())
        st.next_token = self->clock().now();
      st.wanted = n;
      issue_due_tokens(self);
      schedule_tick(self);
    },
    [self](tick_atom) {
      self->state.tick_scheduled = false;
      issue_due_tokens(self);
      schedule_tick(self);
    },
  };
}

} // namespace funboost::actors
