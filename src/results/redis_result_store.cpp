#include "results/redis_result_store.hpp"
#include "results/redis_task_filter.hpp"

#include <algorithm>
#include <deque>
#include <functional>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <funboost/broker.hpp>

#include "brokers/redis/redis_connection.hpp"
#include "core/log_safe.hpp"
#include "core/status_record.hpp"

// The waiter is told about slots by weak reference; it never leaves this process.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::weak_ptr<funboost::detail::result_slot>)

namespace funboost::detail {

namespace {

namespace rd = brokers::redis;
using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

// -- tuning ----------------------------------------------------------------------------------

constexpr std::size_t max_pending_records = 100'000; // the writer's memory during an outage
constexpr std::size_t records_per_pipeline = 1000;
constexpr std::size_t checks_per_pipeline = 1000;     // LINDEX per round trip
constexpr auto first_retry_delay = 1s;                // after an immediate retry failed
constexpr auto max_retry_delay = 30s;
constexpr int max_reads_per_tick = 64;                // a flood of notifications can't starve
                                                      // the rest of the tick

// -- atoms and interfaces (CAF 0.17: at most 10 characters) -----------------------------------

using put_atom = caf::atom_constant<caf::atom("rs_put")>;
using flush_atom = caf::atom_constant<caf::atom("rs_flush")>;
using retry_atom = caf::atom_constant<caf::atom("rs_retry")>;
using close_atom = caf::atom_constant<caf::atom("rs_close")>;
using watch_atom = caf::atom_constant<caf::atom("rs_watch")>;
using tick_atom = caf::atom_constant<caf::atom("rs_tick")>;

using writer_actor = caf::typed_actor<caf::reacts_to<put_atom, std::string, std::string>,
                                      caf::reacts_to<flush_atom>,  // self: send what is pending
                                      caf::reacts_to<retry_atom>,  // self: after an error
                                      caf::reacts_to<close_atom>>; // send what is left, quit

using waiter_actor = caf::typed_actor<caf::reacts_to<watch_atom, std::weak_ptr<result_slot>, bool>,
                                      caf::reacts_to<tick_atom>,   // self: one round of reading
                                      caf::reacts_to<retry_atom>>; // self: reconnect

/// The next delay after a failure: the first retry is immediate (a connection that went stale
/// while idle just needs a new one), then 1 s doubling to 30 s. Returns the delay to use now.
std::chrono::seconds next_backoff(std::chrono::seconds& backoff) {
  auto now = backoff;
  backoff = now == 0s ? std::chrono::seconds{first_retry_delay}
                      : std::min(now * 2, std::chrono::seconds{max_retry_delay});
  return now;
}

/// Error replies that mean "not now" rather than "never": the batch is retried.
bool transient_error(const redisReply* r) {
  for (auto prefix : {"LOADING", "BUSY", "OOM", "TRYAGAIN", "MASTERDOWN", "READONLY"})
    if (rd::is_error(r, prefix))
      return true;
  return false;
}

// -- the writer ------------------------------------------------------------------------------

struct writer_state {
  static inline const char* name = "funboost.result_writer";
  writer_state() = default; // not an aggregate (see fetcher_state)
  rd::redis_where where;
  std::string expire;       // seconds, as EXPIRE takes them
  std::shared_ptr<spdlog::logger> log;
  std::unique_ptr<rd::redis_connection> conn;
  std::deque<std::pair<std::string, std::string>> pending; // task id, record
  bool flush_scheduled = false;
  bool waiting_retry = false;
  std::chrono::seconds backoff{0};
  uint64_t dropped = 0; // oldest records given up during this outage
};

using writer_ptr = writer_actor::stateful_pointer<writer_state>;

/// Sends the oldest pending records in one pipeline and forgets them. Throws on I/O errors and
/// transient error replies; the records then stay pending.
void write_batch(writer_state& st) {
  auto n = std::min(records_per_pipeline, st.pending.size());
  const auto& prefix = st.where.address.key_prefix;
  std::vector<rd::command> commands;
  commands.reserve(3 * n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& [id, record] = st.pending[i];
    commands.push_back({"LPUSH", prefix + id, record});
    commands.push_back({"EXPIRE", prefix + id, st.expire});
  }
  // One notification for the whole batch, after the data: whoever hears it finds the records.
  // Its message is the task ids, one per line.
  std::string ids;
  for (std::size_t i = 0; i < n; ++i)
    ids.append(st.pending[i].first).push_back('\n');
  commands.push_back({"PUBLISH", std::string{result_ready_channel}, std::move(ids)});
  if (!st.conn)
    st.conn = std::make_unique<rd::redis_connection>(st.where);
  auto replies = st.conn->pipeline(commands);
  for (const auto& r : replies)
    if (transient_error(r.get()))
      st.conn->fail("storing results: " + rd::reply_text(r.get()));
  for (std::size_t i = 0; i < n; ++i) {
    const auto* r = replies[2 * i].get();
    if (r->type == REDIS_REPLY_ERROR) // e.g. WRONGTYPE: retrying can't help
      st.log->error("{}: the result of task {} cannot be stored: {}", st.conn->describe(),
                    log_safe{st.pending[i].first}, rd::reply_text(r));
  }
  st.pending.erase(st.pending.begin(), st.pending.begin() + static_cast<std::ptrdiff_t>(n));
}

void schedule_flush(writer_ptr self) {
  auto& st = self->state;
  if (st.flush_scheduled || st.waiting_retry)
    return;
  st.flush_scheduled = true;
  // Behind the records already in the mailbox: they all go in the next pipeline.
  self->send(self, flush_atom::value);
}

void flush(writer_ptr self) {
  auto& st = self->state;
  if (st.pending.empty())
    return;
  try {
    write_batch(st);
    if (st.backoff != 0s || st.dropped > 0)
      st.log->info("{}: writing results again{}", st.conn->describe(),
                   st.dropped ? "; " + std::to_string(st.dropped)
                                  + " record(s) were dropped meanwhile (more than "
                                  + std::to_string(max_pending_records) + " waiting)"
                              : std::string{});
    st.backoff = 0s;
    st.dropped = 0;
    if (!st.pending.empty())
      schedule_flush(self); // the rest after whatever else waits in the mailbox
  } catch (const std::exception& e) {
    st.conn.reset();
    auto delay = next_backoff(st.backoff);
    st.waiting_retry = true;
    st.log->warn("{}; {} result record(s) kept, retrying in {} s", e.what(), st.pending.size(),
                 delay.count());
    if (delay == 0s)
      self->send(self, retry_atom::value);
    else
      self->delayed_send(self, delay, retry_atom::value);
  }
}

writer_actor::behavior_type result_writer(writer_ptr self, rd::redis_where where,
                                          std::chrono::seconds expire,
                                          std::shared_ptr<spdlog::logger> log) {
  auto& st = self->state;
  st.where = std::move(where);
  st.expire = std::to_string(expire.count());
  st.log = std::move(log);
  return {
    [self](put_atom, std::string& task_id, std::string& record) {
      auto& st = self->state;
      st.pending.emplace_back(std::move(task_id), std::move(record));
      if (st.pending.size() > max_pending_records) {
        if (st.dropped++ == 0)
          st.log->error("redis results at {}: Redis is unreachable and {} results are "
                        "waiting; dropping the oldest from now on (their waiters time out)",
                        st.where.address.display(), max_pending_records);
        st.pending.pop_front();
      }
      schedule_flush(self);
    },
    [self](flush_atom) {
      self->state.flush_scheduled = false;
      if (!self->state.waiting_retry)
        flush(self);
    },
    [self](retry_atom) {
      self->state.waiting_retry = false;
      flush(self);
    },
    [self](close_atom) {
      // One last attempt for what is left: the records before this message are all here.
      auto& st = self->state;
      try {
        while (!st.pending.empty())
          write_batch(st);
      } catch (const std::exception& e) {
        st.log->error("{}; {} result record(s) lost at shutdown", e.what(), st.pending.size());
      }
      self->quit();
    },
  };
}

// -- the waiter ------------------------------------------------------------------------------

/// The waiter's SUBSCRIBE connection: its own redis_connection, read with a bounded wait.
class subscriber {
public:
  explicit subscriber(const rd::redis_where& where) : conn_(where) {
    // Channels ignore the db. The confirmation comes before any notification, so from here on
    // no record written later goes unannounced.
    conn_.run({"SUBSCRIBE", std::string{result_ready_channel}});
  }

  /// Waits up to `wait` for notifications and hands each announced task id to `on_id`.
  void read(std::chrono::milliseconds wait, const std::function<void(std::string)>& on_id) {
    for (int round = 0; round < max_reads_per_tick; ++round) {
      auto replies = conn_.read_pushed(round == 0 ? wait : std::chrono::milliseconds{0});
      if (replies.empty())
        return;
      for (const auto& reply : replies) {
        auto ids = announced_ids(reply.get());
        for (std::size_t at = 0; at < ids.size();) {
          auto end = ids.find('\n', at);
          if (end == std::string::npos)
            end = ids.size();
          if (end > at)
            on_id(ids.substr(at, end - at));
          at = end + 1;
        }
      }
    }
  }

private:
  /// The task ids (one per line) of a ["message", channel, ids] push, else "".
  static std::string announced_ids(const redisReply* r) {
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3
        || rd::reply_text(r->element[0]) != "message")
      return {};
    return rd::reply_text(r->element[2]);
  }

  rd::redis_connection conn_;
};

struct waiter_state {
  static inline const char* name = "funboost.result_waiter";
  waiter_state() = default;
  rd::redis_where where;
  redis_result_timing timing;
  std::shared_ptr<spdlog::logger> log;
  std::unique_ptr<rd::redis_connection> conn; // LINDEX
  std::unique_ptr<subscriber> notes;
  struct watch_entry {
    std::vector<std::weak_ptr<result_slot>> slots;
    clock::time_point since; // the sweep skips ids watched for less than a sweep period
  };
  std::unordered_map<std::string, watch_entry> watched;
  // Ids announced lately that nobody here watched (yet): a watch message may arrive just
  // after the notification for its task (both race from other threads), and must not then
  // wait for a sweep. Bounded; oldest forgotten first.
  std::unordered_set<std::string> announced;
  std::deque<std::string> announced_order;
  std::unordered_set<std::string> due; // check at the next tick: newly watched or announced
  clock::time_point next_sweep{};
  bool ticking = false;                // a tick is in the mailbox
  bool waiting_retry = false;
  std::chrono::seconds backoff{0};
};

using waiter_ptr = waiter_actor::stateful_pointer<waiter_state>;

/// Finishes every slot waiting for `task_id` from its record and stops watching it.
void finish_from_record(waiter_state& st, const std::string& task_id, std::string record) {
  auto it = st.watched.find(task_id);
  if (it == st.watched.end())
    return;
  parsed_status status;
  std::string error;
  bool parsed = parse_status_record(record, status, error);
  for (auto& weak : it->second.slots) {
    auto slot = weak.lock();
    if (!slot)
      continue;
    if (parsed)
      slot->finish(status.success, status.result_json, status.exception_type,
                   status.exception_message, record);
    else
      slot->finish(false, "null", "funboost::bad_result_record",
                   "task " + task_id + ": the record under its key in "
                     + st.where.address.display() + " is not a funboost status record ("
                     + error + "); it starts with: " + record.substr(0, 200),
                   record);
  }
  st.watched.erase(it);
}

/// Reads the newest record of each id (LINDEX, so the record stays for other readers).
void check(waiter_state& st, const std::vector<std::string>& ids) {
  const auto& prefix = st.where.address.key_prefix;
  for (std::size_t start = 0; start < ids.size(); start += checks_per_pipeline) {
    auto end = std::min(ids.size(), start + checks_per_pipeline);
    std::vector<rd::command> commands;
    commands.reserve(end - start);
    for (auto i = start; i < end; ++i)
      commands.push_back({"LINDEX", prefix + ids[i], "0"});
    auto replies = st.conn->pipeline(commands);
    for (auto i = start; i < end; ++i) {
      const auto* r = replies[i - start].get();
      if (r->type == REDIS_REPLY_STRING)
        finish_from_record(st, ids[i], std::string{r->str, r->len});
      else if (r->type == REDIS_REPLY_ERROR && !transient_error(r)) // e.g. WRONGTYPE
        finish_from_record(st, ids[i], "(" + rd::reply_text(r) + ")");
    }
  }
}

/// Forgets slots whose waiters gave up and slots finished by someone else (this process's own
/// worker, through the in-process registry).
void prune(waiter_state& st) {
  for (auto it = st.watched.begin(); it != st.watched.end();) {
    auto& slots = it->second.slots;
    std::erase_if(slots, [](const std::weak_ptr<result_slot>& w) {
      auto s = w.lock();
      return !s || s->is_finished();
    });
    it = slots.empty() ? st.watched.erase(it) : std::next(it);
  }
}

void remember_announced(waiter_state& st, std::string id) {
  constexpr std::size_t max_announced = 65'536;
  if (!st.announced.insert(id).second)
    return;
  st.announced_order.push_back(std::move(id));
  if (st.announced_order.size() > max_announced) {
    st.announced.erase(st.announced_order.front());
    st.announced_order.pop_front();
  }
}

void start_ticking(waiter_ptr self) {
  auto& st = self->state;
  if (st.ticking || st.waiting_retry || st.watched.empty())
    return;
  st.ticking = true;
  self->send(self, tick_atom::value);
}

/// One round: wait briefly for notifications, then check what is due. Throws on Redis errors.
void tick_once(waiter_state& st) {
  if (!st.notes) {
    // Subscribed before any check, so nothing written from now on is missed; what was
    // announced while we were not subscribed is found by checking everything now (a sweep).
    st.notes = std::make_unique<subscriber>(st.where);
    for (const auto& entry : st.watched)
      st.due.insert(entry.first);
    st.next_sweep = clock::now() + st.timing.sweep_period;
  }
  if (!st.conn)
    st.conn = std::make_unique<rd::redis_connection>(st.where);
  auto now = clock::now();
  auto wait = st.due.empty() ? std::min<clock::duration>(st.timing.notification_wait,
                                                           std::max(st.next_sweep - now,
                                                                    clock::duration::zero()))
                             : clock::duration::zero();
  st.notes->read(std::chrono::duration_cast<std::chrono::milliseconds>(wait),
                 [&st](std::string id) {
                   if (st.watched.count(id))
                     st.due.insert(std::move(id));
                   else
                     remember_announced(st, std::move(id));
                 });
  if (clock::now() >= st.next_sweep) {
    // Records our consumers write are announced; the sweep is for those written without a
    // notification (Python funboost), so ids watched only briefly are left to their
    // notification: the sweep stays cheap with thousands of short waits in flight.
    prune(st);
    auto old = clock::now() - st.timing.sweep_period;
    for (const auto& [id, entry] : st.watched)
      if (entry.since <= old)
        st.due.insert(id);
    st.next_sweep = clock::now() + st.timing.sweep_period;
  }
  std::vector<std::string> ids{st.due.begin(), st.due.end()};
  st.due.clear();
  check(st, ids);
}

waiter_actor::behavior_type result_waiter(waiter_ptr self, rd::redis_where where,
                                          redis_result_timing timing,
                                          std::shared_ptr<spdlog::logger> log) {
  self->state.where = std::move(where);
  self->state.timing = timing;
  self->state.log = std::move(log);
  return {
    [self](watch_atom, const std::weak_ptr<result_slot>& weak, bool may_exist) {
      auto slot = weak.lock();
      if (!slot || slot->is_finished())
        return;
      auto& st = self->state;
      auto& entry = st.watched[slot->task_id];
      if (entry.slots.empty())
        entry.since = clock::now();
      entry.slots.push_back(weak);
      // Look at once if the record may exist already, or was announced before this watch.
      if (may_exist || st.announced.count(slot->task_id))
        st.due.insert(slot->task_id);
      start_ticking(self);
    },
    [self](tick_atom) {
      auto& st = self->state;
      st.ticking = false;
      try {
        tick_once(st);
        if (st.backoff != 0s)
          st.log->info("redis results at {}: reading results again",
                       st.where.address.display());
        st.backoff = 0s;
      } catch (const std::exception& e) {
        st.conn.reset();
        st.notes.reset();
        auto delay = next_backoff(st.backoff);
        st.waiting_retry = true;
        st.log->warn("{}; {} task(s) waiting for a result, reconnecting in {} s", e.what(),
                     st.watched.size(), delay.count());
        if (delay == 0s)
          self->send(self, retry_atom::value);
        else
          self->delayed_send(self, delay, retry_atom::value);
        return;
      }
      start_ticking(self); // stops by itself once nothing is watched
    },
    [self](retry_atom) {
      self->state.waiting_retry = false;
      start_ticking(self);
    },
  };
}

// -- the store -------------------------------------------------------------------------------

class redis_result_store final : public result_store {
public:
  redis_result_store(caf::actor_system& system, rd::redis_address address,
                     std::chrono::seconds expire, std::shared_ptr<spdlog::logger> log,
                     redis_result_timing timing)
    : display_(address.display()), address_(address) {
    if (!log)
      log = spdlog::default_logger();
    rd::redis_where where{"redis results", "(results db)", std::move(address)};
    writer_ = system.spawn<caf::detached>(result_writer, where, expire, log);
    waiter_ = system.spawn<caf::detached>(result_waiter, std::move(where), timing,
                                          std::move(log));
  }

  ~redis_result_store() override { close(); }

  void close() override {
    // The writer first sends the records already in its mailbox; the waiter just stops (its
    // waiters time out on their own). A second close finds them gone: nothing happens.
    caf::anon_send(writer_, close_atom::value);
    caf::anon_send_exit(waiter_, caf::exit_reason::user_shutdown);
  }

  void write(const std::string& task_id, std::string record_json) override {
    caf::anon_send(writer_, put_atom::value, task_id, std::move(record_json));
  }

  void watch(const std::shared_ptr<result_slot>& slot, bool may_exist) override {
    caf::anon_send(waiter_, watch_atom::value, std::weak_ptr<result_slot>{slot}, may_exist);
  }

  std::string describe() const override { return display_; }

  std::shared_ptr<task_filter> make_task_filter(double expire_seconds) override {
    return make_redis_task_filter(address_, expire_seconds);
  }

private:
  std::string display_;
  rd::redis_address address_;
  writer_actor writer_;
  waiter_actor waiter_;
};

} // namespace

std::shared_ptr<result_store> make_redis_result_store(caf::actor_system& system,
                                                      brokers::redis::redis_address address,
                                                      std::chrono::seconds expire,
                                                      std::shared_ptr<spdlog::logger> log,
                                                      redis_result_timing timing) {
  return std::make_shared<redis_result_store>(system, std::move(address), expire,
                                              std::move(log), timing);
}

} // namespace funboost::detail
