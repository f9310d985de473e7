#include "actors/queue_supervisor.hpp"

#include <algorithm>

#include <caf/system_messages.hpp>
#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>

#include "actors/dispatcher.hpp"
#include "actors/fetcher.hpp"
#include "actors/heartbeat.hpp"
#include "actors/rate_limiter.hpp"
#include "actors/worker.hpp"

namespace funboost::actors {

namespace {

using self_ptr = caf::stateful_actor<queue_supervisor_state>*;

void spawn_fetcher(self_ptr self, uint32_t slot) {
  auto& st = self->state;
  auto& f = st.fetchers[slot];
  ++f.epoch;
  f.handle = self->spawn<caf::detached>(fetcher, st.ctx, slot, f.epoch, st.dispatcher,
                                        caf::actor_cast<caf::actor>(self));
  self->monitor(f.handle);
  self->send(st.dispatcher, join_atom::value, slot, f.epoch, f.handle);
}

void spawn_worker(self_ptr self) {
  auto& st = self->state;
  auto w = self->spawn<caf::detached>(worker, st.ctx, st.dispatcher);
  self->monitor(w);
  st.workers.push_back(w);
  self->send(st.dispatcher, join_atom::value, w);
}

void start(self_ptr self) {
  auto& st = self->state;
  const auto& opts = st.ctx->options;
  st.running = true;
  st.drained = false;
  if (opts.qps > 0)
    st.rate_limiter = self->spawn(rate_limiter, opts.qps);
  st.dispatcher = self->spawn(dispatcher, st.ctx, st.rate_limiter);
  self->monitor(st.dispatcher);
  st.fetchers.assign(static_cast<std::size_t>(std::max(opts.conn_num, 1)), fetcher_slot{});
  for (uint32_t slot = 0; slot < st.fetchers.size(); ++slot) {
    st.fetchers[slot].backoff = opts.restart_backoff;
    spawn_fetcher(self, slot);
  }
  for (int i = 0; i < std::max(opts.concurrent_num, 1); ++i)
    spawn_worker(self);
  if (opts.logging.stats_interval.count() > 0)
    st.heartbeat = self->spawn<caf::detached>(heartbeat, st.ctx, st.dispatcher);
  st.ctx->log->info("queue '{}': consuming on broker '{}' with conn_num {}, concurrent_num {}, "
                    "qps {}, max_retries {}",
                    st.ctx->queue(), opts.broker_kind, opts.conn_num, opts.concurrent_num,
                    opts.qps, opts.max_retries);
}

/// Ends the stop once the dispatcher has drained and every fetcher has acked and quit.
void finish_stop_if_done(self_ptr self) {
  auto& st = self->state;
  if (!st.stopping || !st.drained)
    return;
  for (auto& f : st.fetchers)
    if (f.handle)
      return;
  auto reason = caf::exit_reason::user_shutdown;
  for (auto& w : st.workers)
    self->send_exit(w, reason);
  st.workers.clear();
  if (st.rate_limiter)
    self->send_exit(st.rate_limiter, reason);
  if (st.heartbeat)
    self->send_exit(st.heartbeat, reason);
  self->send_exit(st.dispatcher, reason);
  st.rate_limiter = nullptr;
  st.heartbeat = nullptr;
  st.dispatcher = nullptr;
  st.running = false;
  st.stopping = false;
  st.ctx->log->info("queue '{}': stopped; in-flight tasks finished and acked", st.ctx->queue());
  for (auto& p : st.stop_promises)
    p.deliver(true);
  st.stop_promises.clear();
}

void on_down(self_ptr self, caf::down_msg& dm) {
  auto& st = self->state;
  const auto& opts = st.ctx->options;
  for (uint32_t slot = 0; slot < st.fetchers.size(); ++slot) {
    auto& f = st.fetchers[slot];
    if (!f.handle || f.handle.address() != dm.source)
      continue;
    f.handle = nullptr;
    if (st.stopping || !st.running) {
      finish_stop_if_done(self);
      return;
    }
    st.ctx->log->error("queue '{}': fetcher {} on broker '{}' ({}) failed: {}; reconnecting "
                       "in {} ms. Consuming goes on by itself once the broker is reachable.",
                       st.ctx->queue(), slot, opts.broker_kind, opts.broker.url,
                       to_string(dm.reason), f.backoff.count());
    self->delayed_send(self, f.backoff, restart_atom::value, slot);
    f.backoff = std::min(f.backoff * 2, opts.restart_backoff_max);
    return;
  }
  auto w = std::find_if(st.workers.begin(), st.workers.end(),
                        [&](const worker_actor& x) { return x.address() == dm.source; });
  if (w != st.workers.end()) {
    st.workers.erase(w);
    if (st.running && !st.stopping) {
      st.ctx->log->error("queue '{}': a worker died ({}); starting a replacement",
                         st.ctx->queue(), to_string(dm.reason));
      spawn_worker(self);
    }
    return;
  }
  if (st.dispatcher && dm.source == st.dispatcher.address()) {
    // Not expected: the dispatcher catches what its tasks throw. Say so loudly.
    st.ctx->log->critical("queue '{}': the dispatcher died ({}); consuming has stopped",
                          st.ctx->queue(), to_string(dm.reason));
  }
}

/// Ends every actor of the queue at once (no drain): the booster is gone.
void kill_children(self_ptr self, const caf::error& reason) {
  auto& st = self->state;
  for (auto& f : st.fetchers)
    if (f.handle)
      self->send_exit(f.handle, reason);
  for (auto& w : st.workers)
    self->send_exit(w, reason);
  if (st.rate_limiter)
    self->send_exit(st.rate_limiter, reason);
  if (st.heartbeat)
    self->send_exit(st.heartbeat, reason);
  if (st.dispatcher)
    self->send_exit(st.dispatcher, reason);
}

} // namespace

caf::behavior queue_supervisor(self_ptr self, detail::queue_context_ptr ctx) {
  self->state.ctx = std::move(ctx);
  self->set_down_handler([self](caf::down_msg& dm) { on_down(self, dm); });
  // The children are monitored, not linked (a crashed child is restarted, it must not take the
  // supervisor down); so when the supervisor is told to exit, it takes them down itself, or the
  // actor system would wait for them forever at shutdown.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    kill_children(self, msg.reason);
    self->quit(msg.reason);
  });
  return {
    [self](consume_atom) {
      if (!self->state.running)
        start(self);
    },
    [self](stop_atom) -> caf::result<bool> {
      auto& st = self->state;
      if (!st.running)
        return true;
      st.stop_promises.push_back(self->make_response_promise());
      if (!st.stopping) {
        st.stopping = true;
        st.ctx->log->info("queue '{}': stopping: no more fetching, waiting for running tasks",
                          st.ctx->queue());
        self->request(st.dispatcher, caf::infinite, drain_atom::value).then([self](bool) {
          self->state.drained = true;
          finish_stop_if_done(self);
        });
      }
      return caf::delegated<bool>();
    },
    [self](push_atom, const std::string& kwargs) -> caf::result<std::string> {
      try {
        return self->state.ctx->push_kwargs(kwargs);
      } catch (const std::exception& e) {
        return caf::make_error(caf::sec::invalid_argument, std::string{e.what()});
      }
    },
    [self](healthy_atom, uint32_t slot) {
      auto& st = self->state;
      if (slot < st.fetchers.size())
        st.fetchers[slot].backoff = st.ctx->options.restart_backoff;
    },
    [self](restart_atom, uint32_t slot) {
      auto& st = self->state;
      if (st.running && !st.stopping && slot < st.fetchers.size() && !st.fetchers[slot].handle)
        spawn_fetcher(self, slot);
    },
  };
}

} // namespace funboost::actors
