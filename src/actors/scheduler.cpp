#include "actors/scheduler.hpp"

#include <algorithm>

#include "core/delay_controls.hpp"
#include "core/log_safe.hpp"
#include "core/message_peek.hpp"

namespace funboost::actors {

namespace {

using self_ptr = scheduler_actor::stateful_pointer<scheduler_state>;

/// Sets the timer for `due` (Unix s) unless one fires no later; a later timer then finds
/// nothing or less to do.
void tick_at(self_ptr self, double due) {
  auto& st = self->state;
  auto now = st.now();
  due = std::min(due, now + std::chrono::duration<double>(look_interval).count());
  if (st.tick_at && *st.tick_at <= due)
    return;
  st.tick_at = due;
  auto wait = std::chrono::duration<double>(std::max(due - now, 0.0));
  self->delayed_send(self, std::chrono::duration_cast<caf::timespan>(wait), tick_atom::value);
}

/// A store failure: logged at once, then at most once a minute while it lasts.
void log_failure(self_ptr self, const char* what, const std::exception& e) {
  auto& st = self->state;
  auto now = self->clock().now();
  if (st.error_logged && now - *st.error_logged < std::chrono::minutes(1))
    return;
  st.error_logged = now;
  st.ctx->log->error("queue '{}': could not {} delayed tasks at {}: {}; trying again every {} s, "
                     "nothing is lost",
                     st.ctx->queue(), what, st.ctx->broker_address(), detail::log_safe{e.what()},
                     look_interval.count());
}

void fire_due(self_ptr self) {
  auto& st = self->state;
  auto now = st.now();
  fire_result r;
  try {
    if (!st.store)
      st.store = st.ctx->broker->make_delay_store();
    r = st.store->fire(st.ctx->queue(), now, fire_batch);
  } catch (const std::exception& e) {
    log_failure(self, "fire", e);
    tick_at(self, now + std::chrono::duration<double>(look_interval).count());
    return;
  }
  st.error_logged.reset();
  for (const auto& body : r.missed)
    st.ctx->log->warn("queue '{}': delayed task {} was fired later than its misfire_grace_time "
                      "allows: dropped without running",
                      st.ctx->queue(), detail::log_safe{detail::task_id_of(body)});
  if (r.fired > 0)
    st.ctx->log->debug("queue '{}': {} delayed tasks are due and back on the queue",
                       st.ctx->queue(), r.fired);
  if (r.fired + r.missed.size() >= fire_batch) {
    tick_at(self, now); // more are due: after whatever waits in the mailbox
    return;
  }
  tick_at(self, r.next_due.value_or(now + std::chrono::duration<double>(look_interval).count()));
}

} // namespace

scheduler_actor::behavior_type
scheduler(scheduler_actor::stateful_pointer<scheduler_state> self, detail::queue_context_ptr ctx,
          wall_clock now) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.now = now ? std::move(now) : wall_clock{detail::unix_now};
  self->send(self, tick_atom::value); // what was kept before this start may be due
  return {
    [self](delay_atom, std::vector<delayed_message>& messages) -> caf::result<bool> {
      auto& st = self->state;
      try {
        if (!st.store)
          st.store = st.ctx->broker->make_delay_store();
        st.store->add(st.ctx->queue(), messages);
      } catch (const std::exception& e) {
        log_failure(self, "keep", e);
        return caf::make_error(ec::broker_unreachable,
                               "queue '" + st.ctx->queue() + "': delayed tasks not kept: "
                                 + e.what());
      }
      auto earliest = std::min_element(messages.begin(), messages.end(),
                                       [](auto& a, auto& b) { return a.due < b.due; });
      if (earliest != messages.end())
        tick_at(self, earliest->due);
      return true;
    },
    [self](tick_atom) {
      self->state.tick_at.reset();
      fire_due(self);
    },
  };
}

} // namespace funboost::actors
