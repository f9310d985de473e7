// The shared fixture of the actor suites: an actor system on CAF's deterministic test
// coordinator, so virtual time (never the wall clock) decides every delay the actors take with
// `delayed_send` and read with `self->clock().now()`.
//
//   actor_fixture f;               // stock caf::scheduler::test_coordinator
//   f.run();                       // runs every scheduled actor until no message is left
//   f.advance(100ms);              // moves virtual time, fires what fell due, then runs
//   f.ask<bool>(actor, xs...)      // a request whose answer shows up as soon as it is given
//
// Stand-ins for fetchers and workers (typed as fetcher_actor / worker_actor) record what they
// receive, so a test says what the actor under test sent, to whom, and in which order.
//
// The queue supervisor spawns its fetchers, workers and heartbeat detached: they run on their
// own threads even under the test coordinator and send to scheduled actors and to the clock
// from there, which the stock coordinator does not allow (its job queue and clock have no
// lock). `actor_fixture{thread_safe}` plugs in `locked_test_coordinator`, the same coordinator
// with a lock around its job queue and clock; scheduled actors still run only on the test's
// thread, when the test says so.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <caf/detail/test_actor_clock.hpp>
#include <caf/execution_unit.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <doctest/doctest.h>

#include <funboost/broker.hpp>

#include "actors/actors.hpp"
#include "core/logging.hpp"
#include "core/queue_context.hpp"

namespace actors_test {

using namespace std::chrono_literals;
using namespace funboost::actors;
using time_point = caf::actor_clock::time_point;

// -- a thread-safe test coordinator (for the supervisor's detached children) -------------------

/// test_actor_clock with a lock: detached actors schedule timers (delayed_send) and read the
/// time from their own threads.
class locked_clock : public caf::detail::test_actor_clock {
public:
  using super = caf::detail::test_actor_clock;

  time_point now() const noexcept override {
    std::lock_guard<std::recursive_mutex> guard{mtx_};
    return super::now();
  }
  void set_ordinary_timeout(time_point t, caf::abstract_actor* self, caf::atom_value type,
                            uint64_t id) override {
    std::lock_guard<std::recursive_mutex> guard{mtx_};
    super::set_ordinary_timeout(t, self, type, id);
  }
  void set_multi_timeout(time_point t, caf::abstract_actor* self, caf::atom_value type,
                         uint64_t id) override {
    std::lock_guard<std::recursive_mutex> guard{mtx_};
    super::set_multi_timeout(t, self, type, id);
  }
  void set_request_timeout(time_point t, caf::abstract_actor* self,
                           caf::message_id id) override {
    std::lock_guard<std::recursive_mutex> guard{mtx_};
    super::set_request_timeout(t, self, id);
  }
  void cancel_ordinary_timeout(caf::abstract_actor* self, caf::atom_value type) override {
    std::lock_guard<std::recursive_mutex> guard{mtx_};
    super::cancel_ordinary_timeout(self, type);
  }
  void cancel_request_timeout(caf::abstract_actor* self, caf::message_id id) override {
    std::lock_guard<std::recursive_mutex> guard{mtx_};
    super::cancel_request_timeout(self, id);
  }
  void cancel_timeouts(caf::abstract_actor* self) override {
    std::lock_guard<std::recursive_mutex> guard{mtx_};
    super::cancel_timeouts(self);
  }
  void schedule_message(time_point t, caf::strong_actor_ptr receiver,
                        caf::mailbox_element_ptr content) override {
    std::lock_guard<std::recursive_mutex> guard{mtx_};
    super::schedule_message(t, std::move(receiver), std::move(content));
  }
  void schedule_message(time_point t, caf::group target, caf::strong_actor_ptr sender,
                        caf::message content) override {
    std::lock_guard<std::recursive_mutex> guard{mtx_};
    super::schedule_message(t, std::move(target), std::move(sender), std::move(content));
  }
  void cancel_all() override {
    std::lock_guard<std::recursive_mutex> guard{mtx_};
    super::cancel_all();
  }

  size_t advance(duration_type d) {
    std::lock_guard<std::recursive_mutex> guard{mtx_};
    return advance_time(d);
  }
  size_t trigger_all() {
    std::lock_guard<std::recursive_mutex> guard{mtx_};
    return trigger_timeouts();
  }

private:
  mutable std::recursive_mutex mtx_;
};

/// CAF's test coordinator with a lock around its job queue and a locked clock. Jobs run only
/// on the thread that calls run_all(), exactly as test_coordinator::run() does.
class locked_test_coordinator : public caf::scheduler::test_coordinator {
public:
  using test_coordinator::test_coordinator;

  locked_clock& clock() noexcept override {
    return clock_;
  }

  /// Runs jobs until none is left; returns how many ran.
  size_t run_all() {
    size_t n = 0;
    while (run_one())
      ++n;
    return n;
  }

protected:
  void enqueue(caf::resumable* ptr) override {
    std::lock_guard<std::mutex> guard{jobs_mtx_};
    jobs.push_back(ptr);
  }

  void stop() override {
    while (run_all() > 0)
      clock_.trigger_all();
  }

private:
  /// What a running actor schedules goes back into the locked queue.
  class unit : public caf::execution_unit {
  public:
    explicit unit(locked_test_coordinator* parent)
      : caf::execution_unit(&parent->system()), parent_(parent) {}
    void exec_later(caf::resumable* ptr) override {
      parent_->enqueue(ptr);
    }

  private:
    locked_test_coordinator* parent_;
  };

  /// test_coordinator::try_run_once with the queue locked while it is touched.
  bool run_one() {
    caf::resumable* job = nullptr;
    {
      std::lock_guard<std::mutex> guard{jobs_mtx_};
      if (jobs.empty())
        return false;
      job = jobs.front();
      jobs.pop_front();
    }
    unit worker{this};
    switch (job->resume(&worker, 1)) {
      case caf::resumable::resume_later: {
        std::lock_guard<std::mutex> guard{jobs_mtx_};
        jobs.push_front(job);
        break;
      }
      case caf::resumable::done:
      case caf::resumable::awaiting_message:
        intrusive_ptr_release(job);
        break;
      case caf::resumable::shutdown_execution_unit:
        break;
    }
    return true;
  }

  std::mutex jobs_mtx_;
  locked_clock clock_;
};

// -- the fixture ---------------------------------------------------------------------------------

/// Holds the config so it is built before the actor system that keeps a reference to it.
struct config_holder {
  explicit config_holder(bool thread_safe) {
    if (thread_safe)
      cfg.module_factories.push_back([](caf::actor_system& sys) -> caf::actor_system::module* {
        return new locked_test_coordinator(sys);
      });
    else
      cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.file-verbosity", caf::atom("quiet"));
  }
  caf::actor_system_config cfg;
};

/// An answer that arrives when the scheduler gets to it: empty until then.
template <class T>
struct answer {
  std::optional<T> value;
  std::optional<caf::error> error;
  bool given() const {
    return value.has_value() || error.has_value();
  }
};

template <class T>
using answer_ptr = std::shared_ptr<answer<T>>;

class actor_fixture : protected config_holder {
public:
  explicit actor_fixture(bool thread_safe = false)
    : config_holder(thread_safe),
      sys(cfg),
      sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())),
      locked(dynamic_cast<locked_test_coordinator*>(&sys.scheduler())) {}

  actor_fixture(const actor_fixture&) = delete;
  actor_fixture& operator=(const actor_fixture&) = delete;

  virtual ~actor_fixture() {
    // Actors of a test hold each other (the rate limiter and its stand-in dispatcher do), so
    // they are ended here, not left for ~actor_system to wait on.
    for (auto& a : spawned)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    run();
    sys.await_actors_before_shutdown(false);
  }

  /// Runs every scheduled actor until no message is left. Timers do not fire.
  void run() {
    if (locked)
      locked->run_all();
    else
      sched.run();
  }

  /// Moves virtual time forward by `d`, fires every timer that fell due, then runs.
  void advance(caf::timespan d) {
    if (locked)
      locked->clock().advance(d);
    else
      sched.advance_time(d);
    run();
  }

  /// Moves virtual time forward by `total` in steps of `step`, running after each: timers fire
  /// at their due time, as on a clock that is never late.
  void advance_in_steps(caf::timespan total, caf::timespan step) {
    for (caf::timespan done{0}; done < total; done += step)
      advance(step);
  }

  time_point now() {
    return sys.clock().now();
  }

  /// Keeps a handle so the fixture ends the actor at the end of the test.
  template <class Handle>
  Handle track(Handle h) {
    spawned.push_back(caf::actor_cast<caf::actor>(h));
    return h;
  }

  /// Sends a request from a scheduled probe actor; the answer is filled in when the scheduler
  /// delivers it (so a test can see that it has NOT been given yet). With thread_safe, an
  /// answer that is due may still be missing after the run(): a detached actor's send can have
  /// unblocked the receiver's mailbox and not yet scheduled it. Wait with `eventually` there.
  template <class T, class Handle, class... Ts>
  answer_ptr<T> ask(const Handle& h, Ts... xs) {
    auto out = std::make_shared<answer<T>>();
    sys.spawn([=](caf::event_based_actor* self) {
      self->request(h, caf::infinite, xs...)
        .then([=](T& x) { out->value = std::move(x); },
              [=](caf::error& err) { out->error = std::move(err); });
    });
    run();
    return out;
  }

  /// The state of a scheduled stateful actor. Safe: scheduled actors run only on this thread.
  template <class State, class Handle>
  State& state_of(const Handle& h) {
    auto ptr = dynamic_cast<typename Handle::template stateful_pointer<State>>(
      caf::actor_cast<caf::abstract_actor*>(h));
    REQUIRE(ptr != nullptr);
    return ptr->state;
  }

  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  locked_test_coordinator* locked; // null unless thread_safe
  std::vector<caf::actor> spawned;
};

/// Sends `h` an exit message with any error as the reason (caf::anon_send_exit takes only an
/// exit_reason): what a crash looks like to the actor's monitors.
template <class Handle>
void crash_with(const Handle& h, caf::error reason) {
  auto ptr = caf::actor_cast<caf::strong_actor_ptr>(h);
  if (ptr)
    ptr->enqueue(nullptr, caf::make_message_id(),
                 caf::make_message(caf::exit_msg{ptr->address(), std::move(reason)}), nullptr);
}

/// Polls `done` (running the scheduler before each look) until it holds. Only for what a
/// detached actor does on its own thread; the deadline is a hang guard and decides no timing.
inline bool eventually(actor_fixture& f, const std::function<bool()>& done,
                       std::chrono::seconds limit = std::chrono::seconds(30)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    f.run();
    if (done())
      return true;
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// -- queue context ------------------------------------------------------------------------------

/// Options of a test queue: in-memory broker, errors only on the console, no log file, no stats
/// line (its timer would only add noise to the virtual clock).
inline funboost::booster_options test_options(std::string queue) {
  funboost::booster_options o;
  o.queue_name = std::move(queue);
  o.broker_kind = funboost::broker_kind::memory;
  o.logging.file_dir = "";
  o.logging.level = funboost::log_level::error;
  o.logging.stats_interval = std::chrono::seconds(0);
  return o;
}

/// What every actor of a queue shares, built by hand as booster_core does. The function is
/// never called: the suites stand in for workers. `broker` replaces the one `o` names.
inline funboost::detail::queue_context_ptr
make_context(const funboost::booster_options& o,
             std::shared_ptr<funboost::broker> broker = nullptr) {
  auto ctx = std::make_shared<funboost::detail::queue_context>();
  ctx->options = o;
  ctx->broker = broker ? std::move(broker) : funboost::make_broker(o);
  ctx->function = [](simdjson::dom::object) {
    funboost::call_outcome ok;
    ok.ok = true;
    ok.result_json = "null";
    return ok;
  };
  ctx->log = funboost::detail::queue_logger(o);
  return ctx;
}

/// A fetched message as a fetcher hands it over.
inline task make_task(uint64_t tag, uint32_t slot = 0, uint32_t epoch = 1, int max_retries = 0) {
  task t;
  t.body = R"({"x":)" + std::to_string(tag) + "}";
  t.delivery_tag = tag;
  t.fetcher_slot = slot;
  t.fetcher_epoch = epoch;
  t.controls.task_id = "task-" + std::to_string(tag);
  t.controls.max_retries = max_retries;
  t.controls.known = true; // as the worker's parse leaves them
  return t;
}

inline std::vector<uint64_t> tags_of(const std::vector<task>& tasks) {
  std::vector<uint64_t> tags;
  for (const auto& t : tasks)
    tags.push_back(t.delivery_tag);
  return tags;
}

// -- stand-ins ----------------------------------------------------------------------------------

/// What a stand-in fetcher received, and in which order (`events`).
struct fetcher_log {
  std::vector<std::string> events; // "credit", "ack", "requeue", "dead", "drain", "stop"
  std::vector<uint32_t> credits;
  std::vector<std::vector<uint64_t>> acks;
  std::vector<std::vector<uint64_t>> requeued;
  std::vector<std::vector<uint64_t>> dead;
  std::vector<std::string> dead_bodies;
  std::vector<uint64_t> marked; // suspects marked as running alone
};

/// A fetcher without a broker: records; quits on stop like the real one.
inline fetcher_actor::behavior_type stand_in_fetcher(fetcher_actor::pointer self,
                                                     std::shared_ptr<fetcher_log> log) {
  return {
    [=](credit_atom, uint32_t n) {
      log->events.emplace_back("credit");
      log->credits.push_back(n);
    },
    [](connected_atom) {},
    [](fetch_atom) {},
    [](tick_atom) {},
    [](flush_acks_atom) {},
    [=](ack_atom, const std::vector<uint64_t>& tags) {
      log->events.emplace_back("ack");
      log->acks.push_back(tags);
    },
    [=](requeue_atom, const std::vector<task>& tasks) {
      log->events.emplace_back("requeue");
      log->requeued.push_back(tags_of(tasks));
    },
    [=](dead_atom, const std::vector<task>& tasks) {
      log->events.emplace_back("dead");
      log->dead.push_back(tags_of(tasks));
      for (const auto& t : tasks)
        log->dead_bodies.push_back(t.body);
    },
    [=](mark_atom, uint64_t tag) {
      log->events.emplace_back("mark");
      log->marked.push_back(tag);
      return true;
    },
    [=](drain_atom) { log->events.emplace_back("drain"); },
    [=](broken_atom) {
      log->events.emplace_back("broken");
      self->quit(caf::make_error(caf::sec::runtime_error, "broker lost"));
    },
    [=](funboost::stop_atom) {
      log->events.emplace_back("stop");
      self->quit();
    },
  };
}

/// What a stand-in scheduler was asked to keep; `refuse` makes it answer an error, as a
/// scheduler whose store (Redis) is down does.
struct scheduler_log {
  std::vector<funboost::delayed_message> kept;
  bool refuse = false;
};

/// A scheduler without a store: records what it is asked to keep and answers at once.
inline scheduler_actor::behavior_type stand_in_scheduler(scheduler_actor::pointer,
                                                         std::shared_ptr<scheduler_log> log) {
  return {
    [=](delay_atom, std::vector<funboost::delayed_message>& messages) -> caf::result<bool> {
      if (log->refuse)
        return caf::make_error(funboost::ec::broker_unreachable, "the store is down");
      log->kept.insert(log->kept.end(), messages.begin(), messages.end());
      return true;
    },
    [](tick_atom) {},
  };
}

/// What a stand-in worker was given to run.
struct worker_log {
  std::vector<task_batch> batches;
  std::vector<task_run_ptr> runs; // each batch's stop source, as the dispatcher handed it out
  std::vector<uint64_t> tags() const {
    std::vector<uint64_t> all;
    for (const auto& b : batches)
      for (const auto& t : *b)
        all.push_back(t.delivery_tag);
    return all;
  }
};

/// A worker that never finishes on its own: the test sends the dispatcher its `done`, or kills
/// it. It counts each task of a batch as started, as worker.cpp's run_one does (++attempts).
/// `starts`: counts an attempt on each task as run_one does; false: a worker that dies before
/// starting any of its batch.
inline worker_actor::behavior_type stand_in_worker(worker_actor::pointer,
                                                   std::shared_ptr<worker_log> log,
                                                   bool starts = true) {
  return {
    [=](run_atom, task_batch batch, task_run_ptr run) {
      if (starts)
        for (auto& t : *batch)
          ++t.attempts;
      log->batches.push_back(std::move(batch));
      log->runs.push_back(std::move(run));
    },
  };
}

} // namespace actors_test
