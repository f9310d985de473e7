#include "actors/heartbeat.hpp"

#include <chrono>
#include <string>

#include "core/stats_line.hpp"

namespace funboost::actors {

namespace {

using self_ptr = heartbeat_actor::stateful_pointer<heartbeat_state>;

/// The queue's waiting messages, or a note why they can't be counted (the broker may be down;
/// the fetchers' restarts deal with that, this line only reports).
std::string remaining(self_ptr self) {
  auto& st = self->state;
  try {
    if (!st.connection)
      st.connection = st.ctx->broker->connect();
    return std::to_string(st.connection->count(st.ctx->queue()));
  } catch (const std::exception& e) {
    st.connection.reset();
    return std::string{"unknown ("} + e.what() + ")";
  }
}

/// One upkeep round, then the timer for the next (tagged, so an older timer does nothing).
void maintain(self_ptr self) {
  auto& st = self->state;
  std::chrono::milliseconds next{1000};
  try {
    next = st.ctx->broker->maintain();
  } catch (const std::exception& e) {
    st.ctx->log->warn("queue '{}': broker upkeep failed: {}; trying again in 1 s",
                      st.ctx->queue(), e.what());
  }
  auto round = ++st.maintenance_round;
  self->delayed_send(self, next, maintain_atom::value, round);
}

} // namespace

heartbeat_actor::behavior_type heartbeat(self_ptr self, detail::queue_context_ptr ctx,
                                         dispatcher_actor dispatcher) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.dispatcher = std::move(dispatcher);
  auto interval = st.ctx->options.logging.stats_interval;
  if (interval.count() > 0)
    self->delayed_send(self, interval, tick_atom::value);
  // Weak: the broker outlives this actor, and must not keep a stopped heartbeat alive.
  caf::weak_actor_ptr me{self->ctrl()};
  st.ctx->broker->on_maintenance_needed([me] {
    if (auto alive = me.lock())
      caf::anon_send(caf::actor_cast<caf::actor>(alive), maintain_atom::value, 0ull);
  });
  self->send(self, maintain_atom::value, 0ull);
  return {
    [self](maintain_atom, uint64_t round) {
      if (round == 0 || round == self->state.maintenance_round)
        maintain(self);
    },
    [self, interval](tick_atom) {
      auto warn_after = self->state.ctx->options.logging.long_task_warning;
      auto long_task = warn_after.count() > 0 ? caf::timespan{warn_after} : caf::timespan::max();
      self->request(self->state.dispatcher, std::chrono::seconds(5), stats_atom::value, long_task)
        .then([self, interval](const queue_stats& s, const std::vector<long_running>& slow) {
          auto& st = self->state;
          auto finished = s.done + s.failed + s.dead_lettered;
          auto rate = static_cast<double>(finished - st.last_finished)
                      / std::chrono::duration<double>(interval).count();
          st.last_finished = finished;
          st.ctx->log->info("{}", detail::stats_line(s, rate, remaining(self)));
          for (const auto& task : slow)
            st.ctx->log->warn("{}", detail::long_task_line(st.ctx->queue(), task));
        },
        // No answer (a busy or restarting dispatcher): skip this line rather than let CAF's
        // default error handler end the heartbeat, which would restart the whole queue.
        [](const caf::error&) {});
      self->delayed_send(self, interval, tick_atom::value);
    },
  };
}

} // namespace funboost::actors
