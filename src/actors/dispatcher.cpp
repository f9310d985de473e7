#include "actors/dispatcher.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <random>
#include <utility>

#include <caf/system_messages.hpp>

#include "core/dead_letter_reason.hpp"
#include "core/message_peek.hpp"
#include "core/interrupted_task.hpp"

namespace funboost::actors {

namespace {

using self_ptr = dispatcher_actor::stateful_pointer<dispatcher_state>;

/// Largest batch one worker gets: amortizes messages without starving the other workers.
constexpr std::size_t max_worker_batch = 64;

/// Tasks faster than this are batched to workers; slower ones go one at a time, so no task
/// waits behind another while a worker is free.
constexpr double batch_below_ns = 200'000;

/// How far ahead fast tasks are prefetched: what the pool finishes in about this long.
constexpr double prefetch_horizon_ns = 50'000'000;
constexpr uint32_t max_prefetch = 4096;

/// How long a task whose function threw requeue_task waits before it goes back to the broker.
constexpr auto requeue_pause = std::chrono::milliseconds(100);

std::size_t worker_count(const dispatcher_state& st) {
  return st.idle.size() + st.busy.size();
}

/// The in-flight budget: prefetch_per_worker tasks per worker, or, for fast tasks, what the
/// pool runs in ~50 ms, so a fast queue is not starved by fetch round trips while a slow one
/// never holds more than a crash may strand.
uint32_t prefetch_budget(const dispatcher_state& st) {
  uint32_t base = std::max<uint32_t>(st.ctx->prefetch(), 1);
  if (st.task_ns <= 0)
    return base;
  auto workers = static_cast<double>(std::max<std::size_t>(worker_count(st), 1));
  auto ahead = workers * prefetch_horizon_ns / st.task_ns;
  return std::max(base, static_cast<uint32_t>(std::min<double>(ahead, max_prefetch)));
}

/// A batch of fast tasks holds at least about this much work: handing a worker (a thread of
/// its own) a batch costs a thread wake-up and a reply of a few microseconds, more than a no-op
/// task. So a trickle of fast tasks (RabbitMQ delivers a few at a time) goes to few workers in
/// batches instead of waking one thread per task. The last task of such a batch starts at
/// most this long after the first.
constexpr double min_batch_work_ns = 100'000;

/// Tasks per worker batch: one for slow or unknown tasks; for fast ones an even share of what
/// is pending, but never less than min_batch_work_ns of work.
std::size_t batch_size(const dispatcher_state& st) {
  if (st.task_ns < 0 || st.task_ns > batch_below_ns || st.ctx->options.function_timeout > 0)
    return 1;
  auto workers = std::max<std::size_t>(worker_count(st), 1);
  auto share = (st.pending.size() + workers - 1) / workers;
  auto least = static_cast<std::size_t>(min_batch_work_ns / std::max(st.task_ns, 1.0));
  return std::clamp<std::size_t>(std::max(share, least), 1, max_worker_batch);
}

uint32_t total_credit(const dispatcher_state& st) {
  uint32_t sum = 0;
  for (const auto& f : st.fetchers)
    sum += f.credit;
  return sum;
}

/// Tops fetchers up to the prefetch budget. Small grants wait until a quarter of the budget is
/// free, so fetches stay batched; an empty queue gets credit at once.
void grant_credit(self_ptr self) {
  auto& st = self->state;
  if (st.draining)
    return;
  std::vector<fetcher_link*> live;
  for (auto& f : st.fetchers)
    if (f.handle)
      live.push_back(&f);
  if (live.empty())
    return;
  uint32_t budget = prefetch_budget(st);
  uint32_t used = st.in_flight + total_credit(st);
  if (used >= budget)
    return;
  uint32_t free = budget - used;
  if (free < std::max<uint32_t>(budget / 4, 1) && used > 0)
    return;
  auto share = free / static_cast<uint32_t>(live.size());
  auto rest = free % static_cast<uint32_t>(live.size());
  for (auto* f : live) {
    uint32_t n = share + (rest > 0 ? 1 : 0);
    if (rest > 0)
      --rest;
    if (n == 0)
      continue;
    f->credit += n;
    self->send(f->handle, credit_atom::value, n);
  }
}

/// Tells the rate limiter how many tokens could be used right now, when that changes.
void update_demand(self_ptr self) {
  auto& st = self->state;
  if (!st.rate_limiter)
    return;
  uint32_t want = static_cast<uint32_t>(std::min(st.pending.size(), st.idle.size()));
  want = want > st.tokens ? want - st.tokens : 0;
  if (want != st.wanted) {
    st.wanted = want;
    self->send(st.rate_limiter, want_atom::value, want);
  }
}

/// Whether `t` runs under a function_timeout. Such a task goes to a worker alone: the simplest
/// correct rule, since a timeout then concerns exactly one task, the one the dispatcher settles
/// when it lets the stuck worker go (a batch would leave the verdicts of the others with it).
/// With the booster's function_timeout every task is handed out alone (batch_size). A
/// per-message one is known only once a worker has read the message: a worker that finds one
/// in a batch hands it back unstarted (task_status::not_started), and from then on it goes
/// alone. (So no body is searched here: fast tasks pay nothing.)
bool may_time_out(const dispatcher_state& st, const task& t) {
  return st.ctx->options.function_timeout > 0
         || (t.controls.known && t.controls.function_timeout > 0);
}

/// Hands `batch` to the idle worker `w`, with a fresh stop source for the functions it runs.
void hand_out(self_ptr self, worker_actor w, task_batch batch) {
  auto run = std::make_shared<task_run>();
  self->state.busy[w.address()] = busy_worker{w, batch, self->clock().now(), run};
  self->send(w, run_atom::value, std::move(batch), std::move(run));
}

/// Whether `t` must run alone: when one more death would send it to the dead-letter queue, that
/// death must be blamed on it alone (a death blames every task the dead consumer held unless
/// one was marked). Earlier suspects run as usual, so a single SIGKILL (an OOM kill, a deploy)
/// slows nothing down; only tasks at two deaths in a row (with the default 3) run alone.
bool runs_alone(const dispatcher_state& st, const task& t) {
  auto max = st.ctx->options.max_crash_deliveries;
  if (max <= 0 || t.crash_deliveries == 0)
    return false;
  return t.crash_deliveries >= static_cast<uint32_t>(std::max(max - 1, 1));
}

/// What becomes of a task's verdict (ack, dead letter, give back) on its slot.
enum class route {
  send, // to the live fetcher whose connection can act on the task's delivery tag
  hold, // its fetcher died: wait for the new connection to say whether it continues the old
  drop, // the connection that fetched it is gone for good: the broker gave it back already
};

route route_of(const dispatcher_state& st, const task& t) {
  if (t.fetcher_slot >= st.fetchers.size())
    return route::drop;
  const auto& f = st.fetchers[t.fetcher_slot];
  if (t.fetcher_epoch < f.identity_since)
    return route::drop;
  if (f.handle && t.fetcher_epoch <= f.epoch
      && (t.fetcher_epoch == f.epoch || f.confirmed == f.epoch))
    return route::send;
  return route::hold;
}

/// A suspect runs alone: once every running task has finished, the oldest one starts on an
/// idle worker, after its connection marked it, and nothing else starts until it is done. Then
/// if the process dies again, the broker counts the death against this task only (and the
/// healthy tasks fetched with a poison one are not blamed with it). Returns true while
/// suspects hold the pool.
bool run_suspect(self_ptr self) {
  auto& st = self->state;
  if (st.suspect_running)
    return true;
  if (st.suspects.empty())
    return false;
  if (!st.busy.empty() || st.idle.empty())
    return true; // let the running tasks finish first
  auto batch = std::make_shared<std::vector<task>>();
  batch->push_back(std::move(st.suspects.front()));
  st.suspects.pop_front();
  const auto& t = batch->front();
  auto w = std::move(st.idle.back());
  st.idle.pop_back();
  auto run = std::make_shared<task_run>();
  st.busy[w.address()] = busy_worker{w, batch, self->clock().now(), run};
  st.suspect_running = true;
  st.suspect_worker = w.address();
  st.ctx->log->warn("queue '{}': task {} was running when a consumer process died ({} of {} "
                    "allowed times); it now runs alone so that another death is blamed on it "
                    "alone",
                    st.ctx->queue(), detail::task_id_of(t.body), t.crash_deliveries,
                    st.ctx->options.max_crash_deliveries);
  auto slot = t.fetcher_slot;
  if (route_of(st, t) == route::send) {
    // Mark first, run after: a death before the mark is written blames no one new.
    self->request(st.fetchers[slot].handle, caf::infinite, mark_atom::value, t.delivery_tag)
      .then([self, w, batch, run](bool) { self->send(w, run_atom::value, batch, run); },
            [self, w, batch, run](caf::error&) { self->send(w, run_atom::value, batch, run); });
  } else {
    self->send(w, run_atom::value, batch, run);
  }
  return true;
}

/// Hands pending tasks to idle workers.
void dispatch(self_ptr self) {
  auto& st = self->state;
  if (run_suspect(self))
    return;
  bool limited = static_cast<bool>(st.rate_limiter);
  while (!st.pending.empty() && !st.idle.empty() && (!limited || st.tokens > 0)) {
    std::size_t n = std::min(batch_size(st), st.pending.size());
    if (limited)
      n = std::min<std::size_t>(n, st.tokens);
    auto batch = std::make_shared<std::vector<task>>();
    batch->reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      bool alone = n > 1 && may_time_out(st, st.pending.front());
      if (alone && i > 0)
        break; // it goes alone, in the next batch
      batch->push_back(std::move(st.pending.front()));
      st.pending.pop_front();
      if (alone)
        break;
    }
    if (limited)
      st.tokens -= static_cast<uint32_t>(batch->size());
    auto w = std::move(st.idle.back());
    st.idle.pop_back();
    hand_out(self, std::move(w), std::move(batch));
  }
  // Tokens must not pile up while there is nothing to run: that would be a burst later.
  if (limited && (st.pending.empty() || st.idle.empty()))
    st.tokens = 0;
  update_demand(self);
}

void finish_drain_if_done(self_ptr self) {
  auto& st = self->state;
  if (!st.draining || st.in_flight > 0 || !st.delayed.empty() || !st.drained.pending())
    return;
  for (auto& f : st.fetchers)
    if (f.handle)
      self->send(f.handle, stop_atom::value); // after every ack sent to it: mailboxes are FIFO
  st.drained.deliver(true);
}

void schedule_tick(self_ptr self) {
  auto& st = self->state;
  if (st.delayed.empty())
    return;
  // One tick at a time, unless something came due earlier than it (a requeue pause is shorter
  // than a retry_delay): then an earlier one too; the later one finds nothing or less to do.
  if (st.tick_scheduled && st.delayed.front().due >= st.tick_due)
    return;
  st.tick_scheduled = true;
  st.tick_due = st.delayed.front().due;
  auto wait = st.delayed.front().due - self->clock().now();
  self->delayed_send(self, std::max(wait, caf::actor_clock::duration_type::zero()),
                     tick_atom::value);
}

/// Finished tasks grouped by the fetcher whose connection must ack, dead-letter or requeue them.
struct routed {
  explicit routed(std::size_t fetchers) : acks(fetchers), dead(fetchers), back(fetchers) {}
  std::vector<std::vector<uint64_t>> acks;
  std::vector<std::vector<task>> dead;
  std::vector<std::vector<task>> back;
};

enum class verdict { ack, dead, back };

/// Files `t`'s verdict: into `r` to send, held on its slot, or nowhere (see route).
void file_verdict(dispatcher_state& st, routed& r, task& t, verdict v) {
  auto where = route_of(st, t);
  if (where == route::drop)
    return;
  auto slot = t.fetcher_slot;
  auto& f = st.fetchers[slot];
  bool send = where == route::send;
  switch (v) {
    case verdict::ack:
      (send ? r.acks[slot] : f.held_acks).push_back(t.delivery_tag);
      break;
    case verdict::dead:
      (send ? r.dead[slot] : f.held_dead).push_back(std::move(t));
      break;
    case verdict::back:
      (send ? r.back[slot] : f.held_back).push_back(std::move(t));
      break;
  }
}

void send_routed(self_ptr self, routed& r) {
  auto& st = self->state;
  for (std::size_t slot = 0; slot < st.fetchers.size(); ++slot) {
    auto& f = st.fetchers[slot];
    if (!f.handle)
      continue; // its connection is gone: the broker redelivers by its own rules
    if (!r.acks[slot].empty())
      self->send(f.handle, ack_atom::value, std::move(r.acks[slot]));
    if (!r.dead[slot].empty())
      self->send(f.handle, dead_atom::value, std::move(r.dead[slot]));
    if (!r.back[slot].empty())
      self->send(f.handle, requeue_atom::value, std::move(r.back[slot]));
  }
}

void count(queue_stats& stats, task_status status) {
  switch (status) {
    case task_status::done:
      ++stats.done;
      break;
    case task_status::failed:
      ++stats.failed;
      break;
    case task_status::dead_letter:
      ++stats.dead_lettered;
      break;
    case task_status::expired:
      ++stats.expired;
      break;
    case task_status::requeue: // not a retry, not finished: it runs again from the broker
      break;
    case task_status::delayed:
      ++stats.delayed;
      break;
    case task_status::filtered:
      ++stats.filtered;
      break;
    case task_status::retry:
      ++stats.retried;
      break;
    case task_status::not_started: // handed out again
      break;
  }
}

/// The pause before retry number `attempts` (the task has run `attempts` times): retry_delay
/// backed off by retry_multiplier up to retry_delay_max, with retry_jitter a random 0.5 .. 1.5
/// of that (funboost's _calculate_exponential_backoff).
caf::timespan retry_pause(const booster_options& o, uint32_t attempts) {
  using ms = std::chrono::duration<double, std::milli>;
  auto base = ms(o.retry_delay).count();
  auto cap = ms(o.retry_delay_max).count();
  auto pause = std::min(base * std::pow(o.retry_multiplier, std::max<int>(attempts, 1) - 1), cap);
  if (o.retry_jitter) {
    thread_local std::minstd_rand rng{std::random_device{}()};
    pause = std::min(pause * std::uniform_real_distribution<double>(0.5, 1.5)(rng), cap);
  }
  return std::chrono::duration_cast<caf::timespan>(ms(pause));
}

/// Holds `t` until `due`: retries wait there for retry_delay, requeued tasks for requeue_pause.
/// Kept in due order (the two waits differ).
void hold_until(dispatcher_state& st, caf::actor_clock::time_point due, task t, bool give_back) {
  auto at = std::upper_bound(st.delayed.begin(), st.delayed.end(), due,
                             [](const auto& d, const delayed_task& x) { return d < x.due; });
  st.delayed.insert(at, delayed_task{due, std::move(t), give_back});
}

/// How long delayed tasks the scheduler could not keep (its store failed) wait before they go
/// back to the broker, to be fetched and delayed again.
constexpr auto delay_failed_pause = std::chrono::seconds(1);

/// Tasks whose countdown/eta is not due: the scheduler keeps them, and only once it has are
/// their messages acked (a crash in between fetches them again; keeping is idempotent). If it
/// cannot keep them, they go back to the broker after a pause. In flight until then.
void keep_delayed(self_ptr self, std::vector<task> tasks) {
  auto& st = self->state;
  if (tasks.empty())
    return;
  std::vector<delayed_message> messages;
  messages.reserve(tasks.size());
  for (auto& t : tasks)
    messages.push_back({t.controls.run_at, t.controls.misfire_grace, std::move(t.delayed_body)});
  auto held = std::make_shared<std::vector<task>>(std::move(tasks));
  self->request(st.scheduler, caf::infinite, delay_atom::value, std::move(messages))
    .then(
      [self, held](bool) {
        auto& st = self->state;
        routed r{st.fetchers.size()};
        for (auto& t : *held) {
          --st.in_flight;
          file_verdict(st, r, t, verdict::ack);
        }
        send_routed(self, r);
        grant_credit(self);
        finish_drain_if_done(self);
      },
      [self, held](caf::error& err) {
        auto& st = self->state;
        st.ctx->log->warn("queue '{}': {} delayed tasks go back to the broker in {} s: {}",
                          st.ctx->queue(), held->size(), delay_failed_pause.count(),
                          to_string(err));
        auto due = self->clock().now() + delay_failed_pause;
        for (auto& t : *held)
          hold_until(st, due, std::move(t), true);
        schedule_tick(self);
      });
}

/// Applies the workers' verdicts (or the verdict for a crashed worker's batch).
void settle(self_ptr self, std::vector<task>& batch, const std::vector<task_status>& statuses) {
  auto& st = self->state;
  routed r{st.fetchers.size()};
  std::vector<task> delayed;
  auto delay = st.ctx->options.retry_delay;
  auto now = self->clock().now();
  std::vector<task> unstarted;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto& t = batch[i];
    auto status = statuses[i];
    count(st.stats, status);
    if (t.timed_out)
      ++st.stats.timed_out;
    if (status == task_status::not_started && !st.draining) {
      unstarted.push_back(std::move(t));
      continue; // still in flight: first in line again, in its order
    }
    if (status == task_status::requeue && !st.draining) {
      // A pause first, as funboost's 0.1 s: a function that always requeues must not spin.
      hold_until(st, now + requeue_pause, std::move(t), true);
      continue; // still in flight until it is given back
    }
    if (status == task_status::delayed) {
      delayed.push_back(std::move(t));
      continue; // in flight until the scheduler has kept it
    }
    if (status == task_status::retry && !st.draining) {
      if (delay.count() > 0)
        hold_until(st, now + retry_pause(st.ctx->options, t.attempts), std::move(t), false);
      else if (runs_alone(st, t))
        st.suspects.push_front(std::move(t));
      else
        st.pending.push_front(std::move(t));
      continue; // still in flight
    }
    --st.in_flight;
    if (status == task_status::retry || status == task_status::requeue
        || status == task_status::not_started) // (stopping)
      file_verdict(st, r, t, verdict::back); // the broker gets it back for a later run
    else if (status == task_status::dead_letter) {
      if (!t.dead_letter_reason.empty())
        t.body = detail::with_dead_letter_reason(t.body, t.dead_letter_reason);
      file_verdict(st, r, t, verdict::dead);
    }
    else
      file_verdict(st, r, t, verdict::ack);
  }
  for (auto t = unstarted.rbegin(); t != unstarted.rend(); ++t)
    (runs_alone(st, *t) ? st.suspects : st.pending).push_front(std::move(*t));
  send_routed(self, r);
  keep_delayed(self, std::move(delayed));
  schedule_tick(self);
}

/// A fetcher died. Whether the tasks it delivered are still this process's depends on its
/// connection: one whose broker keeps the consumer identity (Redis: the consumer id and its
/// unack key) hands it to the slot's next connection, which can ack them; otherwise the broker
/// gave them back and they would run twice here. Until the next connection says which
/// (`connected`), the unstarted ones wait on the slot. Started ones finish; their verdicts
/// wait likewise (route::hold). While stopping, nothing waits: they go back by the broker's
/// rules.
void orphan_unstarted(self_ptr self, uint32_t slot) {
  auto& st = self->state;
  auto& f = st.fetchers[slot];
  std::vector<task> taken;
  auto take = [&](task& t) {
    if (t.fetcher_slot != slot)
      return false;
    taken.push_back(std::move(t));
    return true;
  };
  st.pending.erase(std::remove_if(st.pending.begin(), st.pending.end(), take), st.pending.end());
  st.suspects.erase(std::remove_if(st.suspects.begin(), st.suspects.end(), take),
                    st.suspects.end());
  st.delayed.erase(std::remove_if(st.delayed.begin(), st.delayed.end(),
                                  [&](delayed_task& d) { return take(d.item); }),
                   st.delayed.end());
  for (auto& t : taken) {
    if (t.fetcher_epoch < f.identity_since || st.draining) {
      --st.in_flight;
      if (st.draining && t.fetcher_epoch >= f.identity_since)
        f.held_back.push_back(std::move(t));
    } else {
      f.orphans.push_back(std::move(t));
    }
  }
}

/// Sends what waited on `slot` once its live fetcher's connection has answered.
void release_held(self_ptr self, uint32_t slot) {
  auto& st = self->state;
  auto& f = st.fetchers[slot];
  if (!f.handle || f.confirmed != f.epoch)
    return;
  if (!f.held_acks.empty())
    self->send(f.handle, ack_atom::value, std::exchange(f.held_acks, {}));
  if (!f.held_dead.empty())
    self->send(f.handle, dead_atom::value, std::exchange(f.held_dead, {}));
  if (!f.held_back.empty())
    self->send(f.handle, requeue_atom::value, std::exchange(f.held_back, {}));
  for (auto& t : f.orphans)
    (runs_alone(st, t) ? st.suspects : st.pending).push_back(std::move(t));
  f.orphans.clear();
}

/// On a graceful stop, tasks not yet started go back to the broker they came from.
void requeue_pending(self_ptr self) {
  auto& st = self->state;
  std::vector<std::vector<task>> back(st.fetchers.size());
  auto take = [&](task& t) {
    --st.in_flight;
    auto where = route_of(st, t);
    if (where == route::send)
      back[t.fetcher_slot].push_back(std::move(t));
    else if (where == route::hold)
      st.fetchers[t.fetcher_slot].held_back.push_back(std::move(t));
  };
  for (auto& t : st.pending)
    take(t);
  st.pending.clear();
  for (auto& t : st.suspects)
    take(t);
  st.suspects.clear();
  for (auto& d : st.delayed)
    take(d.item);
  st.delayed.clear();
  for (auto& f : st.fetchers) { // not yet known to be ours: given back if they still are
    for (auto& t : f.orphans) {
      --st.in_flight;
      f.held_back.push_back(std::move(t));
    }
    f.orphans.clear();
  }
  for (std::size_t slot = 0; slot < back.size(); ++slot)
    if (!back[slot].empty())
      self->send(st.fetchers[slot].handle, requeue_atom::value, std::move(back[slot]));
}

/// Takes delivered tasks in: a task that was running when consumer processes died
/// max_crash_deliveries times goes to {queue}_dlx with the reason instead of killing this
/// process too; one that a further death would send there runs alone (runs_alone); the rest
/// are pending.
void admit(self_ptr self, std::vector<task>& tasks) {
  auto& st = self->state;
  auto max = st.ctx->options.max_crash_deliveries;
  routed r{st.fetchers.size()};
  bool poisoned = false;
  for (auto& t : tasks) {
    if (max > 0 && t.crash_deliveries >= static_cast<uint32_t>(max)) {
      auto reason = "a consumer process died while running it " + std::to_string(t.crash_deliveries)
                    + " times (max_crash_deliveries " + std::to_string(max) + ")";
      st.ctx->log->error("queue '{}': task {}: {}; it was moved to '{}' and not run again. Find "
                         "the crash in the function (its arguments are in the message), fix it, "
                         "and push the message again.",
                         st.ctx->queue(), detail::task_id_of(t.body), reason,
                         dead_letter_queue(st.ctx->queue()));
      t.body = detail::with_dead_letter_reason(t.body, reason);
      ++st.stats.dead_lettered;
      --st.in_flight;
      file_verdict(st, r, t, verdict::dead);
      poisoned = true;
    } else if (runs_alone(st, t)) {
      st.suspects.push_back(std::move(t));
    } else {
      st.pending.push_back(std::move(t));
    }
  }
  if (poisoned)
    send_routed(self, r);
}

// -- the stats line and the stop deadline ------------------------------------------------------
// A busy worker's batch is shared with the worker's thread, which writes each task's attempts
// and controls while it runs: only the fields it never writes (body, delivery tag, fetcher
// slot and epoch) are read here.

queue_stats current_stats(self_ptr self) {
  auto& st = self->state;
  auto stats = st.stats;
  stats.queue_name = st.ctx->queue();
  stats.consuming = !st.draining;
  stats.in_flight = st.in_flight;
  stats.running = 0;
  for (const auto& [addr, b] : st.busy)
    stats.running += b.batch->size();
  stats.prefetched = stats.in_flight - std::min(stats.in_flight, stats.running);
  return stats;
}

/// The batches workers have been running longer than `limit`, with their task ids.
std::vector<long_running> long_running_batches(self_ptr self, caf::timespan limit) {
  auto& st = self->state;
  std::vector<long_running> out;
  auto now = self->clock().now();
  for (const auto& [addr, b] : st.busy) {
    if (now - b.started <= limit)
      continue;
    long_running slow{{}, now - b.started};
    for (const auto& t : *b.batch)
      slow.task_ids.push_back(detail::task_id_of(t.body));
    out.push_back(std::move(slow));
  }
  return out;
}

/// The stop's deadline passed: what workers still run goes back to the broker on the
/// connection that fetched it (another consumer runs it), RPC waiters learn it was interrupted,
/// and the workers are forgotten (a late `done` from one is ignored). Ends the drain.
std::vector<worker_actor> give_back_running(self_ptr self) {
  auto& st = self->state;
  std::vector<worker_actor> abandoned;
  if (!st.draining)
    return abandoned;
  routed r{st.fetchers.size()};
  std::vector<std::string> ids;
  auto now = self->clock().now();
  for (auto& [addr, b] : st.busy) {
    abandoned.push_back(b.handle);
    if (b.run)
      b.run->stop.request_stop(); // a function that polls stop_requested() may return now
    auto seconds = std::chrono::duration<double>(now - b.started).count();
    for (const auto& running : *b.batch) {
      --st.in_flight;
      task t; // not a copy: the worker's thread may be writing the other fields
      t.body = running.body;
      t.delivery_tag = running.delivery_tag;
      t.fetcher_slot = running.fetcher_slot;
      t.fetcher_epoch = running.fetcher_epoch;
      auto controls = detail::controls_of_running(t.body, st.ctx->options);
      ids.push_back(detail::task_id_of(t.body));
      detail::report_interrupted(*st.ctx, t.body, controls, seconds);
      file_verdict(st, r, t, verdict::back);
    }
  }
  st.busy.clear();
  st.suspect_running = false; // a suspect still running went back with the rest
  send_routed(self, r);
  if (!ids.empty()) {
    std::string list;
    for (const auto& id : ids)
      list += (list.empty() ? "" : ", ") + id;
    st.ctx->log->warn("queue '{}': {} task(s) still running when the stop gave up waiting ({}); "
                      "they went back to the broker and run again. Their worker threads are "
                      "abandoned: the function keeps running until it returns or the process "
                      "exits",
                      st.ctx->queue(), ids.size(), list);
  }
  finish_drain_if_done(self);
  return abandoned;
}

// -- function_timeout ------------------------------------------------------------------------
// A worker tells the dispatcher when a task with a function_timeout calls its function
// (`started`); its deadline is kept in the busy record, and one timer at a time is set for the
// earliest deadline (timers of deadlines that passed unused fire and find nothing). When a
// deadline passes, the dispatcher claims the task (the worker claims it when the function
// returns: whoever is first settles it), fails or retries it by its max_retries, requests its
// stop token, and lets the worker go: the supervisor counts it as abandoned and spawns a
// replacement at once. The worker's thread runs on until the function returns; then it reports
// nothing and ends.

void schedule_deadline(self_ptr self) {
  auto& st = self->state;
  auto earliest = caf::actor_clock::time_point::max();
  for (const auto& [addr, b] : st.busy)
    earliest = std::min(earliest, b.deadline);
  if (earliest == caf::actor_clock::time_point::max())
    return;
  if (st.deadline_scheduled && earliest >= st.deadline_due)
    return; // the timer already set fires first and sets the next one
  st.deadline_scheduled = true;
  st.deadline_due = earliest;
  auto wait = earliest - self->clock().now();
  self->delayed_send(self, std::max(wait, caf::actor_clock::duration_type::zero()),
                     deadline_atom::value);
}

/// The task of busy worker `i` passed its function_timeout: settled here, the worker let go of.
void time_out(self_ptr self, std::unordered_map<caf::actor_addr, busy_worker>::iterator i) {
  auto& st = self->state;
  auto& b = i->second;
  if (!b.run->claim()) {
    b.deadline = caf::actor_clock::time_point::max(); // it returned just now: `done` is on its way
    return;
  }
  // A copy: the worker's thread keeps its references into the batch (it reads nothing of it
  // after losing the claim, and wrote everything it writes before `started`).
  std::vector<task> batch{b.batch->front()};
  auto worker = b.handle;
  auto run = b.run;
  auto timeout = std::chrono::duration<double>(b.timeout).count();
  if (st.suspect_running && st.suspect_worker == i->first)
    st.suspect_running = false;
  st.busy.erase(i);
  // The supervisor hears of it before the function can see the stop and its worker end: that
  // worker's down message must not reach the supervisor first (it would be taken for a crash).
  self->send(st.keeper, abandon_atom::value, worker);
  run->stop.request_stop();

  auto& t = batch.front();
  const auto& c = t.controls;
  t.timed_out = true;
  auto text = detail::function_timeout_text(st.ctx->queue(), c.task_id, timeout);
  bool last = t.attempts > static_cast<uint32_t>(std::max(c.max_retries, 0));
  auto status = !last ? task_status::retry
                : st.ctx->options.dead_letter_on_failure ? task_status::dead_letter
                                                         : task_status::failed;
  st.ctx->log->error("{} (attempt {} of {}); {}. It was asked to stop "
                     "(funboost::stop_requested()) and its worker thread is abandoned: the "
                     "function runs on until it returns, and a new worker takes its place",
                     text, t.attempts, c.max_retries + 1,
                     !last ? "retrying" : status == task_status::dead_letter
                                            ? "failed for good, moved to the dead-letter queue"
                                            : "failed for good");
  if (last) {
    detail::report_failure(*st.ctx, t, "funboost::function_timeout", text, timeout);
    if (status == task_status::dead_letter)
      t.dead_letter_reason = text;
  }
  settle(self, batch, {status});
}

/// The earliest deadline may have passed: time out every task whose deadline has.
void check_deadlines(self_ptr self) {
  auto& st = self->state;
  st.deadline_scheduled = false;
  auto now = self->clock().now();
  std::vector<caf::actor_addr> due;
  for (const auto& [addr, b] : st.busy)
    if (b.deadline <= now)
      due.push_back(addr);
  for (const auto& addr : due)
    if (auto i = st.busy.find(addr); i != st.busy.end())
      time_out(self, i);
  schedule_deadline(self);
  if (!due.empty()) {
    dispatch(self);
    grant_credit(self);
    finish_drain_if_done(self);
  }
}

/// A worker's task with a function_timeout calls its function now.
void on_started(self_ptr self, const worker_actor& w, caf::timespan timeout) {
  auto& st = self->state;
  auto i = st.busy.find(w.address());
  if (i == st.busy.end() || i->second.batch->size() != 1)
    return; // let go of already; or batched with others (a key the look did not see): untimed
  i->second.timeout = timeout;
  i->second.deadline = self->clock().now() + timeout;
  schedule_deadline(self);
}

} // namespace

dispatcher_actor::behavior_type dispatcher(self_ptr self, detail::queue_context_ptr ctx,
                                           rate_limiter_actor rate_limiter,
                                           scheduler_actor scheduler,
                                           worker_keeper_actor keeper) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.rate_limiter = std::move(rate_limiter);
  st.scheduler = std::move(scheduler);
  st.keeper = std::move(keeper);
  st.fetchers.resize(static_cast<std::size_t>(std::max(st.ctx->options.conn_num, 1)));
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    for (uint32_t slot = 0; slot < st.fetchers.size(); ++slot) {
      auto& f = st.fetchers[slot];
      if (f.handle && f.handle.address() == dm.source) {
        f.handle = nullptr; // its credit dies with it; a restarted fetcher joins afresh
        f.credit = 0;
        orphan_unstarted(self, slot);
        grant_credit(self);
        finish_drain_if_done(self);
      }
    }
    st.idle.erase(std::remove_if(st.idle.begin(), st.idle.end(),
                                 [&](const worker_actor& w) { return w.address() == dm.source; }),
                  st.idle.end());
    auto i = st.busy.find(dm.source);
    if (i != st.busy.end()) {
      // The worker died mid-batch. A task it started (the one that crashed it, and any whose
      // verdict never came back) counts as an attempt and is re-run until it runs out of its
      // own retries (the message's max_retry_times, read when it started); a task it never
      // started is simply run again.
      auto batch = std::move(i->second.batch);
      st.busy.erase(i);
      if (st.suspect_running && st.suspect_worker == dm.source)
        st.suspect_running = false;
      std::vector<task_status> statuses;
      for (auto& t : *batch) {
        auto max_retries = t.controls.known ? t.controls.max_retries : st.ctx->options.max_retries;
        auto max_attempts = static_cast<uint32_t>(std::max(max_retries, 0)) + 1;
        statuses.push_back(t.attempts == 0 || t.attempts < max_attempts ? task_status::retry
                                                                        : task_status::failed);
      }
      st.ctx->log->error("queue '{}': a worker crashed ({}) with {} task(s); they are "
                         "retried or failed by max_retries, and the worker is replaced",
                         st.ctx->queue(), to_string(dm.reason), batch->size());
      settle(self, *batch, statuses);
      dispatch(self);
      grant_credit(self);
      finish_drain_if_done(self);
    }
  });
  return {
    [self](deliver_atom, uint32_t slot, uint32_t epoch, std::vector<task>& tasks) {
      auto& st = self->state;
      if (slot < st.fetchers.size() && st.fetchers[slot].epoch == epoch) {
        auto& f = st.fetchers[slot];
        f.credit -= std::min<uint32_t>(f.credit, static_cast<uint32_t>(tasks.size()));
      }
      st.in_flight += static_cast<uint32_t>(tasks.size());
      admit(self, tasks);
      if (st.draining) {
        requeue_pending(self);
        finish_drain_if_done(self);
        return;
      }
      dispatch(self);
    },
    [self](join_atom, uint32_t slot, uint32_t epoch, fetcher_actor f) {
      auto& st = self->state;
      self->monitor(f);
      auto& link = st.fetchers[slot];
      link.handle = std::move(f);
      link.epoch = epoch;
      link.credit = 0;
      release_held(self, slot); // if its connection answered before this join arrived
      dispatch(self);
      grant_credit(self);
    },
    [self](broken_atom, uint32_t slot, uint32_t epoch, fetcher_actor f) {
      auto& st = self->state;
      if (slot < st.fetchers.size()) {
        auto& link = st.fetchers[slot];
        if (link.handle && link.handle == f && link.epoch == epoch) {
          link.handle = nullptr; // as if it had died: from now on its verdicts are held
          link.credit = 0;
          orphan_unstarted(self, slot);
          grant_credit(self);
          finish_drain_if_done(self);
        }
      }
      self->send(f, broken_atom::value); // the last message it gets from here: it may die
    },
    [self](undone_atom, uint32_t slot, std::vector<uint64_t>& acks, std::vector<task>& dead,
           std::vector<task>& back) {
      auto& st = self->state;
      if (slot >= st.fetchers.size())
        return;
      auto& f = st.fetchers[slot];
      f.held_acks.insert(f.held_acks.end(), acks.begin(), acks.end());
      std::move(dead.begin(), dead.end(), std::back_inserter(f.held_dead));
      std::move(back.begin(), back.end(), std::back_inserter(f.held_back));
      release_held(self, slot);
    },
    [self](connected_atom, uint32_t slot, uint32_t epoch, bool continues) {
      auto& st = self->state;
      if (slot >= st.fetchers.size() || epoch < st.fetchers[slot].confirmed)
        return;
      auto& f = st.fetchers[slot];
      f.confirmed = epoch;
      if (!continues) {
        // The old connection's tasks went back to the broker: running them here, or acking
        // them on this connection, would run them twice or ack nothing.
        st.in_flight -= std::min(st.in_flight, static_cast<uint32_t>(f.orphans.size()));
        f.orphans.clear();
        f.held_acks.clear();
        f.held_dead.clear();
        f.held_back.clear();
        f.identity_since = epoch;
      }
      release_held(self, slot);
      if (st.draining)
        requeue_pending(self);
      dispatch(self);
      grant_credit(self);
      finish_drain_if_done(self);
    },
    [self](credit_atom, uint32_t slot, uint32_t epoch, uint32_t unused) {
      auto& st = self->state;
      if (slot < st.fetchers.size() && st.fetchers[slot].epoch == epoch) {
        auto& f = st.fetchers[slot];
        f.credit -= std::min(f.credit, unused);
        grant_credit(self); // shared out again among every live fetcher
      }
    },
    [self](join_atom, worker_actor w) {
      self->monitor(w);
      self->state.idle.push_back(std::move(w));
      dispatch(self);
    },
    [self](done_atom, worker_actor w, const std::vector<task_status>& statuses,
           uint64_t spent_ns) {
      auto& st = self->state;
      auto i = st.busy.find(w.address());
      if (i == st.busy.end())
        return;
      auto ran = std::count_if(statuses.begin(), statuses.end(),
                               [](task_status s) { return s != task_status::not_started; });
      if (ran > 0) {
        auto per_task = static_cast<double>(spent_ns) / static_cast<double>(ran);
        st.task_ns = st.task_ns < 0 ? per_task : 0.9 * st.task_ns + 0.1 * per_task;
      }
      auto batch = std::move(i->second.batch);
      st.busy.erase(i);
      if (st.suspect_running && st.suspect_worker == w.address())
        st.suspect_running = false;
      st.idle.push_back(std::move(w));
      settle(self, *batch, statuses);
      dispatch(self);
      grant_credit(self);
      finish_drain_if_done(self);
    },
    [self](started_atom, const worker_actor& w, caf::timespan timeout) {
      on_started(self, w, timeout);
    },
    [self](deadline_atom) { check_deadlines(self); },
    [self](tokens_atom, uint32_t n) {
      auto& st = self->state;
      st.tokens += n;
      st.wanted -= std::min(st.wanted, n);
      dispatch(self);
    },
    [self](tick_atom) {
      auto& st = self->state;
      st.tick_scheduled = false;
      auto now = self->clock().now();
      routed r{st.fetchers.size()};
      while (!st.delayed.empty() && st.delayed.front().due <= now) {
        auto& d = st.delayed.front();
        if (d.give_back) {
          --st.in_flight;
          file_verdict(st, r, d.item, verdict::back);
        } else {
          (runs_alone(st, d.item) ? st.suspects : st.pending).push_back(std::move(d.item));
        }
        st.delayed.pop_front();
      }
      send_routed(self, r);
      schedule_tick(self);
      dispatch(self);
    },
    [self](drain_atom) {
      auto& st = self->state;
      st.draining = true;
      st.drained = self->make_response_promise<bool>();
      for (auto& f : st.fetchers)
        if (f.handle)
          self->send(f.handle, drain_atom::value);
      requeue_pending(self);
      finish_drain_if_done(self);
      return st.drained;
    },
    [self](abandon_atom) { return give_back_running(self); },
    [self](stats_atom) { return current_stats(self); },
    [self](stats_atom, caf::timespan long_task)
      -> caf::result<queue_stats, std::vector<long_running>> {
      return {current_stats(self), long_running_batches(self, long_task)};
    },
  };
}

} // namespace funboost::actors
