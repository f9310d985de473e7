#include "actors/queue_supervisor.hpp"

#include <algorithm>

#include <caf/exit_reason.hpp>
#include <caf/system_messages.hpp>

#include <funboost/wire.hpp>

#include "actors/dispatcher.hpp"
#include "actors/exit_reason.hpp"
#include "actors/fetcher.hpp"
#include "actors/heartbeat.hpp"
#include "actors/publish_one.hpp"
#include "actors/rate_limiter.hpp"
#include "actors/scheduler.hpp"
#include "actors/worker.hpp"
#include "core/kwargs_check.hpp"

namespace funboost::actors {

namespace {

using self_ptr = supervisor_actor::stateful_pointer<queue_supervisor_state>;

void spawn_fetcher(self_ptr self, uint32_t slot) {
  auto& st = self->state;
  auto& f = st.fetchers[slot];
  ++f.epoch;
  f.handle = self->spawn<caf::detached>(fetcher, st.ctx, slot, f.epoch, st.dispatcher,
                                        caf::actor_cast<supervisor_actor>(self));
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

/// Spawns every actor of the queue: a first start, or a restart after the dispatcher died.
void spawn_children(self_ptr self) {
  auto& st = self->state;
  const auto& opts = st.ctx->options;
  if (opts.qps > 0) {
    st.rate_limiter = self->spawn(rate_limiter, opts.qps);
    self->monitor(st.rate_limiter);
  }
  st.scheduler = self->spawn<caf::detached>(scheduler, st.ctx, wall_clock{});
  self->monitor(st.scheduler);
  st.dispatcher = self->spawn(dispatcher, st.ctx, st.rate_limiter, st.scheduler,
                              caf::actor_cast<worker_keeper_actor>(self));
  self->monitor(st.dispatcher);
  auto epochs = st.fetchers;
  st.fetchers.assign(static_cast<std::size_t>(std::max(opts.conn_num, 1)), fetcher_slot{});
  for (uint32_t slot = 0; slot < st.fetchers.size(); ++slot) {
    if (slot < epochs.size())
      st.fetchers[slot].epoch = epochs[slot].epoch; // epochs only grow: old acks stay stale
    st.fetchers[slot].backoff = opts.restart_backoff;
    spawn_fetcher(self, slot);
  }
  for (int i = 0; i < std::max(opts.concurrent_num, 1); ++i)
    spawn_worker(self);
  st.heartbeat = self->spawn<caf::detached>(heartbeat, st.ctx, st.dispatcher);
  self->monitor(st.heartbeat);
}

void start(self_ptr self) {
  auto& st = self->state;
  const auto& opts = st.ctx->options;
  st.running = true;
  st.ctx->consuming->store(true);
  st.drained = false;
  st.restart_backoff = opts.restart_backoff;
  spawn_children(self);
  st.ctx->log->info("queue '{}': consuming on broker '{}' with conn_num {}, concurrent_num {}, "
                    "qps {}, max_retries {}",
                    st.ctx->queue(), opts.broker_kind, opts.conn_num, opts.concurrent_num,
                    opts.qps, opts.max_retries);
}

/// Ends every actor of the queue at once (no drain) and forgets them, so their down messages
/// are not mistaken for new failures. Fetchers close their connections: what they fetched and
/// no one acked goes back to the broker.
void kill_children(self_ptr self, const caf::error& reason) {
  auto& st = self->state;
  for (auto& f : st.fetchers) {
    if (f.handle)
      self->send_exit(f.handle, reason);
    f.handle = nullptr;
  }
  for (auto& w : st.workers)
    self->send_exit(w, reason);
  st.workers.clear();
  for (caf::actor_addr a : {st.rate_limiter.address(), st.heartbeat.address(),
                            st.scheduler.address(), st.dispatcher.address()})
    if (a)
      self->send_exit(a, reason);
  st.rate_limiter = nullptr;
  st.scheduler = nullptr;
  st.heartbeat = nullptr;
  st.dispatcher = nullptr;
}

/// Ends the stop once the dispatcher has drained and every fetcher has acked and quit.
void finish_stop_if_done(self_ptr self) {
  auto& st = self->state;
  if (!st.stopping || !st.drained)
    return;
  for (auto& f : st.fetchers)
    if (f.handle)
      return;
  kill_children(self, caf::exit_reason::user_shutdown);
  st.running = false;
  st.ctx->consuming->store(false);
  st.stopping = false;
  if (st.giving_up)
    st.ctx->log->info("queue '{}': stopped; tasks still running at the stop's deadline went back "
                      "to the broker", st.ctx->queue());
  else
    st.ctx->log->info("queue '{}': stopped; in-flight tasks finished and acked", st.ctx->queue());
  st.giving_up = false;
  for (auto& p : st.stop_promises)
    p.deliver(true);
  st.stop_promises.clear();
}

/// The dispatcher, rate limiter or heartbeat died: the queue's actors share the dispatcher, so
/// all of them restart together after a backoff; the broker gets back what was in flight.
void restart_queue(self_ptr self, const char* who, const caf::error& reason) {
  auto& st = self->state;
  st.ctx->log->error("queue '{}': the {} died ({}); restarting the queue's actors in {} ms. "
                     "Tasks in flight go back to the broker and run again.",
                     st.ctx->queue(), who, to_string(reason), st.restart_backoff.count());
  kill_children(self, caf::exit_reason::user_shutdown);
  st.restarting = true;
  self->delayed_send(self, st.restart_backoff, restart_atom::value);
  st.restart_backoff = std::min(st.restart_backoff * 2, st.ctx->options.restart_backoff_max);
}

/// Every failure is retried, but a long outage logs once a minute, not at every probe.
/// Returns false when it did not log.
bool log_fetcher_failure(self_ptr self, uint32_t slot, const caf::error& reason,
                         caf::actor_clock::time_point now) {
  auto& st = self->state;
  auto& f = st.fetchers[slot];
  if (f.failures != 1 && now - f.last_logged < std::chrono::minutes(1))
    return false;
  f.last_logged = now;
  st.ctx->log->error("queue '{}': fetcher {} on broker '{}' ({}) failed: {}; reconnecting "
                     "in {} ms (failure {} in a row; logged at most once a minute). "
                     "Consuming goes on by itself once the broker is reachable.",
                     st.ctx->queue(), slot, st.ctx->options.broker_kind,
                     st.ctx->broker_address(), reason_text(reason), f.backoff.count(),
                     f.failures);
  return true;
}

/// The broker refuses our configuration (a wrong password, a database or vhost that does not
/// exist): waiting will not fix it, so say so and what to change. Fetchers still retry (the
/// server side may be fixed), but every fetcher gets the same answer: once a minute per queue.
bool log_config_error(self_ptr self, const caf::error& reason,
                      caf::actor_clock::time_point now) {
  auto& st = self->state;
  if (st.config_error_logged && now - *st.config_error_logged < std::chrono::minutes(1))
    return false;
  st.config_error_logged = now;
  st.ctx->log->error("queue '{}': CONFIGURATION error on broker '{}' ({}): {}. Retrying "
                     "alone will not fix this; consuming starts by itself once the "
                     "configuration or the server is fixed (retried at least every {} ms; "
                     "logged at most once a minute).",
                     st.ctx->queue(), st.ctx->options.broker_kind, st.ctx->broker_address(),
                     reason_text(reason),
                     std::min(st.ctx->options.restart_backoff_max,
                              st.ctx->options.broker_probe_interval)
                       .count());
  return true;
}

/// A fetcher's first broker call worked: if it had failed, say the broker is back, and after
/// how long; its restart backoff starts again from restart_backoff.
void on_healthy(self_ptr self, uint32_t slot) {
  auto& st = self->state;
  if (slot >= st.fetchers.size())
    return;
  auto& f = st.fetchers[slot];
  if (f.failures > 0) {
    std::chrono::duration<double> down = self->clock().now() - f.failing_since;
    st.ctx->log->info("queue '{}': reconnected to {} after {:.1f} s (fetcher {}, {} failed {})",
                      st.ctx->queue(), st.ctx->broker_address(), down.count(), slot,
                      f.failures, f.failures == 1 ? "attempt" : "attempts");
  }
  f.backoff = st.ctx->options.restart_backoff;
  f.failures = 0;
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
    auto now = self->clock().now();
    if (++f.failures == 1)
      f.failing_since = now;
    bool logged = is_config_refusal(dm.reason) ? log_config_error(self, dm.reason, now)
                                               : log_fetcher_failure(self, slot, dm.reason, now);
    if (!logged) // every retry, for whoever debugs
      st.ctx->log->debug("queue '{}': fetcher {} failed again: {}; reconnecting in {} ms "
                         "(failure {} in a row)",
                         st.ctx->queue(), slot, reason_text(dm.reason), f.backoff.count(),
                         f.failures);
    self->delayed_send(self, f.backoff, restart_atom::value, slot);
    // Capped by broker_probe_interval: the restart is what notices the broker is back, so
    // consuming resumes within that long of its return however long the outage was.
    f.backoff = std::min({f.backoff * 2, opts.restart_backoff_max, opts.broker_probe_interval});
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
  const char* who = nullptr;
  if (st.dispatcher && dm.source == st.dispatcher.address())
    who = "dispatcher";
  else if (st.rate_limiter && dm.source == st.rate_limiter.address())
    who = "rate limiter";
  else if (st.heartbeat && dm.source == st.heartbeat.address())
    who = "heartbeat";
  else if (st.scheduler && dm.source == st.scheduler.address())
    who = "scheduler";
  if (!who)
    return; // a child we already let go of
  if (st.stopping) {
    // The drain will never answer: give the stop what it waits for.
    kill_children(self, caf::exit_reason::user_shutdown);
    st.drained = true;
    finish_stop_if_done(self);
    return;
  }
  if (st.running)
    restart_queue(self, who, dm.reason);
}

/// Counts a worker that was let go of (its function had not returned) until it ends, so the
/// runtime knows not to wait for it at exit.
void count_abandoned(const std::shared_ptr<std::atomic<int>>& abandoned, const worker_actor& w) {
  ++*abandoned;
  // Runs at once if the worker has ended already, else when its function returns.
  caf::actor_cast<caf::abstract_actor*>(w)->attach_functor([abandoned] { --*abandoned; });
}

/// The stop waited long enough: the dispatcher gives back what workers still run and ends the
/// drain; the workers it let go of are counted until their function returns, so the runtime
/// knows not to wait for them at exit.
void give_up_waiting(self_ptr self) {
  auto& st = self->state;
  if (st.giving_up || !st.dispatcher)
    return;
  st.giving_up = true;
  auto abandoned = st.ctx->abandoned_workers;
  self->request(st.dispatcher, caf::infinite, abandon_atom::value)
    .then(
      [abandoned](const std::vector<worker_actor>& workers) {
        for (const auto& w : workers)
          count_abandoned(abandoned, w);
      },
      // The dispatcher died meanwhile: the down handler finishes the stop.
      [](const caf::error&) {});
}

/// The dispatcher let `w` go: its task passed its function_timeout and was settled. Its thread
/// stays in the function until it returns (then it ends by itself); a replacement keeps the
/// pool at concurrent_num meanwhile.
void on_abandoned(self_ptr self, const worker_actor& w) {
  auto& st = self->state;
  count_abandoned(st.ctx->abandoned_workers, w);
  auto i = std::find(st.workers.begin(), st.workers.end(), w);
  if (i == st.workers.end())
    return; // ended with the queue's other actors already
  st.workers.erase(i); // its end is not a crash
  if (st.running && !st.stopping && !st.restarting)
    spawn_worker(self);
}

/// Starts a graceful stop (or joins the one under way) that waits at most `timeout` for running
/// tasks; a shorter timeout than the one under way brings its deadline forward.
caf::result<bool> begin_stop(self_ptr self, caf::timespan timeout) {
  auto& st = self->state;
  if (!st.running)
    return true;
  if (st.restarting) { // nothing runs: the restart just doesn't happen
    st.running = false;
    st.ctx->consuming->store(false);
    st.restarting = false;
    return true;
  }
  st.stop_promises.push_back(self->make_response_promise<bool>());
  auto promise = st.stop_promises.back();
  if (!st.stopping) {
    st.stopping = true;
    ++st.stop_round;
    st.ctx->log->info("queue '{}': stopping: no more fetching; waiting at most {} ms "
                      "(stop_timeout) for running tasks",
                      st.ctx->queue(),
                      std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
    auto dispatcher = st.dispatcher;
    self->request(dispatcher, caf::infinite, drain_atom::value)
      .then(
        [self, dispatcher](bool) {
          if (self->state.dispatcher != dispatcher)
            return; // answered by a dispatcher that has been replaced since
          self->state.drained = true;
          finish_stop_if_done(self);
        },
        // The dispatcher died meanwhile: the down handler finishes the stop. (Without a
        // handler here, CAF's default would end the supervisor itself.)
        [](const caf::error&) {});
  }
  if (timeout <= caf::timespan::zero())
    give_up_waiting(self);
  else
    self->delayed_send(self, timeout, deadline_atom::value, st.stop_round);
  return promise;
}

/// A push from CAF code: build the message here, publish through the booster's publisher.
caf::result<push_receipt> push(self_ptr self, const std::string& kwargs,
                               const task_options& options) {
  auto& st = self->state;
  queue_info signature;
  signature.queue_name = st.ctx->queue();
  signature.function_name = st.ctx->options.function_name;
  signature.arg_names = st.ctx->options.arg_names;
  signature.optional_arg_names = st.ctx->options.optional_arg_names;
  if (auto problem = detail::check_kwargs(signature, kwargs); !problem.empty())
    return caf::make_error(ec::bad_message, problem);
  std::string id;
  std::string body;
  auto written = with_booster_rpc(options, st.ctx->options.is_using_rpc_mode);
  try {
    body = message_from_kwargs(kwargs, written,
                               st.ctx->options.publish_time_utc_offset_minutes, id);
  } catch (const std::exception& e) {
    return caf::make_error(ec::bad_message, "queue '" + st.ctx->queue() + "': " + e.what());
  }
  return publish_one(self, *st.ctx, st.publisher, std::move(body), std::move(id),
                     written.is_using_rpc_mode);
}

} // namespace

supervisor_actor::behavior_type queue_supervisor(self_ptr self, detail::queue_context_ptr ctx,
                                                 publisher_actor publisher) {
  self->state.ctx = std::move(ctx);
  self->state.publisher = std::move(publisher);
  self->set_down_handler([self](caf::down_msg& dm) { on_down(self, dm); });
  // The children are monitored, not linked (a crashed child is restarted, it must not take the
  // supervisor down); so when the supervisor is told to exit, it takes them down itself, or the
  // actor system would wait for them forever at shutdown.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    kill_children(self, msg.reason);
    // CAF 0.17 does not answer a promise its actor drops: whoever waits for a stop is told.
    for (auto& p : self->state.stop_promises)
      p.deliver(caf::make_error(ec::queue_stopped, "queue '" + self->state.ctx->queue()
                                                     + "': the booster is gone"));
    self->state.stop_promises.clear();
    self->quit(msg.reason);
  });
  return {
    [self](consume_atom) {
      if (!self->state.running)
        start(self);
    },
    [self](stop_atom) -> caf::result<bool> {
      return begin_stop(self, self->state.ctx->options.stop_timeout);
    },
    [self](stop_atom, caf::timespan timeout) -> caf::result<bool> {
      return begin_stop(self, timeout);
    },
    [self](deadline_atom, uint32_t round) {
      auto& st = self->state;
      if (st.stopping && round == st.stop_round && !st.drained)
        give_up_waiting(self);
    },
    [self](push_atom, const std::string& kwargs) { return push(self, kwargs, {}); },
    [self](push_atom, const std::string& kwargs, const task_options& options) {
      return push(self, kwargs, options);
    },
    [self](stats_atom) -> caf::result<queue_stats> {
      auto& st = self->state;
      if (!st.dispatcher) {
        queue_stats idle;
        idle.queue_name = st.ctx->queue();
        idle.consuming = st.running;
        return idle;
      }
      return self->delegate(st.dispatcher, stats_atom::value);
    },
    [self](healthy_atom, uint32_t slot) { on_healthy(self, slot); },
    [self](restart_atom, uint32_t slot) {
      auto& st = self->state;
      if (st.running && !st.stopping && !st.restarting && slot < st.fetchers.size()
          && !st.fetchers[slot].handle)
        spawn_fetcher(self, slot);
    },
    [self](restart_atom) {
      auto& st = self->state;
      if (!st.running || st.stopping || !st.restarting)
        return;
      st.restarting = false;
      spawn_children(self);
      st.ctx->log->info("queue '{}': the queue's actors are running again", st.ctx->queue());
      // A broker that works says nothing about a dispatcher that keeps dying: the backoff
      // resets only once the queue has run a while without another restart.
      self->delayed_send(self, st.ctx->options.restart_backoff_max, stable_atom::value,
                         ++st.restarts);
    },
    [self](stable_atom, uint32_t restart) {
      auto& st = self->state;
      if (restart == st.restarts && !st.restarting)
        st.restart_backoff = st.ctx->options.restart_backoff;
    },
    [self](abandon_atom, const worker_actor& w) { on_abandoned(self, w); },
    [self](dispatch_atom) { return self->state.dispatcher; },
  };
}

} // namespace funboost::actors
