// function_timeout on virtual time: the dispatcher (src/actors/dispatcher.cpp) decides a task's
// timeout on its clock, from the moment its worker says the function starts; the task is
// failed or retried by its max_retries, its stop token is requested, its worker is let go of
// and the supervisor replaces it at once, while the other workers go on. The worker
// (src/actors/worker.cpp) reads the timeout from the message (extra.function_timeout over the
// booster's) and, once let go of, reports nothing and ends.
//
// Three levels: the dispatcher between stand-ins (the test sends the workers' `started` and
// `done`); the real worker between the test and a stand-in dispatcher; and the whole queue on
// the in-memory broker with real actors. Only virtual time fires a deadline; what detached
// actors do on their threads is waited for as an event (`eventually`), never as a duration.
#include "actor_fixture.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>

#include <funboost/task_context.hpp>

#include "actors/dispatcher.hpp"
#include "actors/queue_supervisor.hpp"
#include "actors/worker.hpp"
#include "core/result_registry.hpp"

using namespace actors_test;

namespace {

// -- the dispatcher between stand-ins ---------------------------------------------------------

/// What the stand-in supervisor was told: the workers the dispatcher let go of.
struct keeper_log {
  std::vector<worker_actor> abandoned;
};

caf::behavior stand_in_keeper(caf::event_based_actor*, std::shared_ptr<keeper_log> log) {
  return {
    [=](abandon_atom, const worker_actor& w) { log->abandoned.push_back(w); },
  };
}

struct worker_stand_in {
  worker_actor handle;
  std::shared_ptr<worker_log> log;
};

struct timeout_fixture : actor_fixture {
  explicit timeout_fixture(funboost::booster_options o) {
    ctx = make_context(o);
    auto keeper = track(sys.spawn(stand_in_keeper, kept));
    auto scheduler = track(sys.spawn(stand_in_scheduler, std::make_shared<scheduler_log>()));
    dispatcher = track(sys.spawn(funboost::actors::dispatcher, ctx, rate_limiter_actor{},
                                 scheduler, caf::actor_cast<worker_keeper_actor>(keeper)));
    fetcher = track(sys.spawn(stand_in_fetcher, fetched));
    caf::anon_send(dispatcher, join_atom::value, uint32_t{0}, uint32_t{1}, fetcher);
    run();
  }

  worker_stand_in join_worker() {
    worker_stand_in w{{}, std::make_shared<worker_log>()};
    w.handle = track(sys.spawn(stand_in_worker, w.log, true));
    caf::anon_send(dispatcher, join_atom::value, w.handle);
    run();
    return w;
  }

  void deliver(std::vector<task> tasks) {
    caf::anon_send(dispatcher, deliver_atom::value, uint32_t{0}, uint32_t{1}, std::move(tasks));
    run();
  }

  /// The worker says its task's function starts now, with this function_timeout.
  void started(const worker_stand_in& w, caf::timespan timeout) {
    caf::anon_send(dispatcher, started_atom::value, w.handle, timeout);
    run();
  }

  void done(const worker_stand_in& w, std::vector<task_status> statuses,
            uint64_t ns = 1'000'000'000) {
    caf::anon_send(dispatcher, done_atom::value, w.handle, std::move(statuses), ns);
    run();
  }

  funboost::queue_stats stats() {
    auto a = ask<funboost::queue_stats>(dispatcher, funboost::stats_atom::value);
    REQUIRE(a->value.has_value());
    return *a->value;
  }

  funboost::detail::queue_context_ptr ctx;
  std::shared_ptr<keeper_log> kept = std::make_shared<keeper_log>();
  std::shared_ptr<fetcher_log> fetched = std::make_shared<fetcher_log>();
  fetcher_actor fetcher;
  dispatcher_actor dispatcher;
};

funboost::booster_options options(double function_timeout, int concurrent_num = 2) {
  auto o = test_options("actors_timeout");
  o.concurrent_num = concurrent_num;
  o.prefetch_per_worker = 4;
  o.function_timeout = function_timeout;
  return o;
}

/// A task as the worker leaves it once it has read the message: controls known.
task timed_task(uint64_t tag, double function_timeout, int max_retries, bool rpc = false) {
  auto t = make_task(tag, 0, 1, max_retries);
  t.controls.task_id = "timeout-" + std::to_string(tag);
  t.body = R"({"x":)" + std::to_string(tag) + R"(,"extra":{"task_id":")" + t.controls.task_id
           + R"("}})";
  t.controls.function_timeout = function_timeout;
  t.controls.rpc = rpc;
  return t;
}

const worker_stand_in& running(const std::vector<worker_stand_in>& workers, uint64_t tag) {
  for (const auto& w : workers)
    if (!w.log->batches.empty() && w.log->batches.back()->front().delivery_tag == tag)
      return w;
  FAIL("no worker runs task " << tag);
  return workers.front();
}

using tag_lists = std::vector<std::vector<uint64_t>>;

} // namespace

TEST_CASE("dispatcher: a task running past its function_timeout is retried, its stop token is "
          "requested and its worker let go of at once, while other tasks keep flowing") {
  timeout_fixture f{options(5)};
  std::vector<worker_stand_in> workers{f.join_worker(), f.join_worker()};
  auto slot = funboost::detail::expect_rpc_result("actors_timeout", "timeout-1", nullptr);
  f.deliver({timed_task(1, 5, /*max_retries=*/1, /*rpc=*/true), timed_task(2, 5, 1),
             timed_task(3, 5, 1), timed_task(4, 5, 1)});
  const auto& hung = running(workers, 1);
  const auto& other = running(workers, 2);
  REQUIRE(hung.log->batches.back()->size() == 1);
  f.started(hung, 5s);
  f.started(other, 5s);

  f.advance(4999ms);
  f.done(other, {task_status::done}); // returned in time: acked, the next task starts there
  CHECK(f.fetched->acks == tag_lists{{2}});
  REQUIRE(other.log->batches.size() == 2);
  CHECK(other.log->batches.back()->front().delivery_tag == 3);
  f.started(other, 5s);
  CHECK(f.kept->abandoned.empty());
  CHECK_FALSE(hung.log->runs.back()->stop.stop_requested());

  f.advance(1ms); // task 1's function has run 5 s
  REQUIRE(f.kept->abandoned.size() == 1);
  CHECK(f.kept->abandoned[0] == hung.handle); // the supervisor is told at once: it replaces it
  CHECK(hung.log->runs.back()->stop.stop_requested());
  CHECK_FALSE(other.log->runs.back()->stop.stop_requested());
  CHECK_FALSE(hung.log->runs.back()->claim()); // settled by the dispatcher: the worker lost
  auto s = f.stats();
  CHECK(s.timed_out == 1);
  CHECK(s.retried == 1);
  CHECK(s.failed == 0);
  CHECK(s.running == 1);          // task 3 on the other worker
  CHECK(f.fetched->acks == tag_lists{{2}}); // 1 is not acked: it runs again
  CHECK_FALSE(slot->is_finished());         // attempts left: its waiter waits on

  // The replacement the supervisor spawned joins and gets the retry (attempt 2 of 2).
  auto replacement = f.join_worker();
  REQUIRE(replacement.log->tags() == std::vector<uint64_t>{1});
  CHECK(replacement.log->batches[0]->front().attempts == 2);
  // The let-go worker's function returned after all: its late report changes nothing.
  f.done(hung, {task_status::done});
  CHECK(f.fetched->acks == tag_lists{{2}});
  CHECK(hung.log->batches.size() == 1); // never given work again

  f.started(replacement, 5s);
  f.advance(5s); // task 3 on `other` started 1 ms before task 1's timeout: also due now
  REQUIRE(f.kept->abandoned.size() == 3);
  s = f.stats();
  CHECK(s.timed_out == 3);
  CHECK(s.failed == 1); // task 1, its last attempt
  REQUIRE(slot->is_finished());
  {
    std::lock_guard guard{slot->mutex};
    CHECK_FALSE(slot->success);
    CHECK(slot->exception_type == "funboost::function_timeout");
    CHECK(slot->exception_message.find("timeout-1") != std::string::npos);
    CHECK(slot->exception_message.find("function_timeout of 5 s") != std::string::npos);
  }
  auto acked = f.fetched->acks;
  CHECK(std::find(acked.begin(), acked.end(), std::vector<uint64_t>{1}) != acked.end());
}

TEST_CASE("dispatcher: a task that returns before its function_timeout is untouched") {
  timeout_fixture f{options(5, 1)};
  auto w = f.join_worker();
  f.deliver({timed_task(1, 5, 0)});
  f.started(w, 5s);
  f.advance(4s);
  f.done(w, {task_status::done});
  f.advance(10s); // the deadline's timer fires and finds nothing
  CHECK(f.kept->abandoned.empty());
  CHECK_FALSE(w.log->runs[0]->stop.stop_requested());
  CHECK(w.log->runs[0]->claim() == true); // nobody claimed it (a worker would have, first)
  CHECK(f.fetched->acks == tag_lists{{1}});
  auto s = f.stats();
  CHECK(s.timed_out == 0);
  CHECK(s.done == 1);
  CHECK(s.in_flight == 0);
}

TEST_CASE("dispatcher: a deadline that the function's return beat is not a timeout: the worker "
          "claimed the task first and its done settles it") {
  timeout_fixture f{options(5, 1)};
  auto w = f.join_worker();
  f.deliver({timed_task(1, 5, 0)});
  f.started(w, 5s);
  REQUIRE(w.log->runs[0]->claim()); // the function returned just before the deadline...
  f.advance(5s);                    // ...whose timer fires before the worker's done arrives
  CHECK(f.kept->abandoned.empty());
  CHECK_FALSE(w.log->runs[0]->stop.stop_requested());
  f.done(w, {task_status::done});
  CHECK(f.fetched->acks == tag_lists{{1}});
  CHECK(f.stats().timed_out == 0);
}

TEST_CASE("dispatcher: the worker's started message sets the deadline, so a per-message "
          "function_timeout shorter than the booster's times out first") {
  timeout_fixture f{options(10)};
  std::vector<worker_stand_in> workers{f.join_worker(), f.join_worker()};
  f.deliver({timed_task(1, 2, 0), timed_task(2, 10, 0)});
  f.started(running(workers, 1), 2s); // what the worker read from extra.function_timeout
  f.started(running(workers, 2), 10s);
  f.advance(2s);
  REQUIRE(f.kept->abandoned.size() == 1);
  CHECK(f.kept->abandoned[0] == running(workers, 1).handle);
  f.advance(7999ms);
  CHECK(f.kept->abandoned.size() == 1);
  f.advance(1ms);
  CHECK(f.kept->abandoned.size() == 2);
  CHECK(f.stats().failed == 2);
}

TEST_CASE("dispatcher: a timed-out task whose retries are used up with dead_letter_on_failure "
          "goes to the dead-letter queue with the reason") {
  auto o = options(3, 1);
  o.dead_letter_on_failure = true;
  timeout_fixture f{o};
  auto w = f.join_worker();
  f.deliver({timed_task(1, 3, 0)});
  f.started(w, 3s);
  f.advance(3s);
  CHECK(f.fetched->dead == tag_lists{{1}});
  REQUIRE(f.fetched->dead_bodies.size() == 1);
  CHECK(f.fetched->dead_bodies[0].find("ran longer than its function_timeout of 3 s")
        != std::string::npos);
  CHECK(f.stats().dead_lettered == 1);
}

TEST_CASE("dispatcher: with a function_timeout fast tasks go one at a time; without one, a "
          "task whose message carries extra.function_timeout still ends up alone") {
  SUBCASE("the booster's function_timeout") {
    timeout_fixture f{options(5, 1)};
    auto w = f.join_worker();
    f.deliver({timed_task(1, 5, 0)});
    f.done(w, {task_status::done}, 2'000); // 2 us a task: would be batched by the dozen
    f.deliver({timed_task(2, 5, 0), timed_task(3, 5, 0), timed_task(4, 5, 0)});
    CHECK(w.log->batches.back()->size() == 1);
  }
  SUBCASE("only in a message: the worker that finds it hands it back unstarted") {
    timeout_fixture f{options(0, 1)};
    auto w = f.join_worker();
    f.deliver({make_task(1)});
    f.done(w, {task_status::done}, 2'000); // 2 us a task: batched by the dozen
    f.deliver({make_task(2), make_task(3), make_task(4), make_task(5), make_task(6)});
    REQUIRE(w.log->batches.size() == 2);
    REQUIRE(tags_of(*w.log->batches[1]) == std::vector<uint64_t>{2, 3, 4, 5, 6});
    // What the real worker does: 2 and 3 ran; 4 has extra.function_timeout, so it and the
    // rest were not started (4's controls are known now, its attempt undone).
    auto& batch = *w.log->batches[1];
    batch[2].controls.function_timeout = 2;
    batch[2].attempts = 0;
    batch[3].attempts = 0;
    batch[4].attempts = 0;
    f.done(w, {task_status::done, task_status::done, task_status::not_started,
               task_status::not_started, task_status::not_started},
           4'000);
    CHECK(f.fetched->acks == tag_lists{{1}, {2, 3}});
    REQUIRE(w.log->batches.size() == 3);
    CHECK(tags_of(*w.log->batches[2]) == std::vector<uint64_t>{4}); // alone, first in line
    f.done(w, {task_status::done}, 2'000);
    CHECK(tags_of(*w.log->batches[3]) == std::vector<uint64_t>{5, 6});
    auto s = f.stats();
    CHECK(s.done == 4);
    CHECK(s.retried == 0);
    CHECK(s.in_flight == 2);
  }
}

TEST_CASE("dispatcher: a stop that gives up waiting requests the stop token of what still runs") {
  timeout_fixture f{options(0, 1)};
  auto w = f.join_worker();
  f.deliver({timed_task(1, 0, 0)});
  f.ask<bool>(f.dispatcher, drain_atom::value);
  f.ask<std::vector<worker_actor>>(f.dispatcher, abandon_atom::value);
  CHECK(w.log->runs[0]->stop.stop_requested());
  CHECK(f.kept->abandoned.empty()); // the stop's own bookkeeping, not a timeout's
}

// -- the real worker --------------------------------------------------------------------------

namespace {

/// What a stand-in dispatcher heard from the real worker.
struct worker_reports {
  std::mutex mtx;
  std::vector<caf::timespan> started; // the function_timeout of each started message
  int done = 0;
  std::vector<std::vector<task_status>> statuses;
};

caf::behavior recording_dispatcher(caf::event_based_actor*, std::shared_ptr<worker_reports> r) {
  return {
    [=](started_atom, const worker_actor&, caf::timespan timeout) {
      std::lock_guard guard{r->mtx};
      r->started.push_back(timeout);
    },
    [=](done_atom, const worker_actor&, const std::vector<task_status>& statuses, uint64_t) {
      std::lock_guard guard{r->mtx};
      ++r->done;
      r->statuses.push_back(statuses);
    },
  };
}

/// A message as a producer sends it: `extra` with the task id and, if given, function_timeout.
std::string message(const std::string& task_id, const std::string& function_timeout = "") {
  return R"({"x":1,"extra":{)"
         + (function_timeout.empty() ? "" : R"("function_timeout":)" + function_timeout + ",")
         + R"("task_id":")" + task_id + R"("}})";
}

task fetched(const std::string& body) {
  task t;
  t.body = body;
  t.delivery_tag = 1;
  return t;
}

struct worker_fixture : actor_fixture {
  explicit worker_fixture(double booster_timeout) : actor_fixture(/*thread_safe=*/true) {
    auto o = test_options("actors_timeout_worker");
    o.function_timeout = booster_timeout;
    auto c = std::make_shared<funboost::detail::queue_context>(*make_context(o));
    c->function = [gate = gate](simdjson::dom::object) {
      // Returns when the test opens the gate, or when the queue asks the task to stop.
      std::unique_lock lock{gate->mtx};
      gate->cv.wait(lock, funboost::current_stop_token(), [&] { return gate->open; });
      gate->saw_stop = funboost::stop_requested();
      funboost::call_outcome ok;
      ok.ok = true;
      ok.result_json = "null";
      return ok;
    };
    ctx = c;
    dispatcher = caf::actor_cast<dispatcher_actor>(track(sys.spawn(recording_dispatcher, reports)));
    worker = sys.spawn<caf::detached>(funboost::actors::worker, ctx, dispatcher);
    caf::actor_cast<caf::abstract_actor*>(worker)->attach_functor([e = ended] { *e = true; });
  }

  ~worker_fixture() override {
    open_gate();
    caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
    worker = nullptr; // its thread ends once no handle keeps the actor alive
    CHECK(eventually(*this, [&] {
      locked->clock().trigger_all();
      return sys.detached_actors() == 0;
    }));
  }

  void open_gate() {
    std::lock_guard guard{gate->mtx};
    gate->open = true;
    gate->cv.notify_all();
  }

  std::vector<caf::timespan> started() {
    std::lock_guard guard{reports->mtx};
    return reports->started;
  }
  int done() {
    std::lock_guard guard{reports->mtx};
    return reports->done;
  }

  /// Runs one message on the worker and waits until it reported (done) or ended.
  std::vector<caf::timespan> timeout_told_for(const std::string& body) {
    auto before = done();
    caf::anon_send(worker, run_atom::value,
                   std::make_shared<std::vector<task>>(std::vector<task>{fetched(body)}),
                   std::make_shared<task_run>());
    open_gate();
    REQUIRE(eventually(*this, [&] { return done() == before + 1; }));
    {
      std::lock_guard guard{gate->mtx};
      gate->open = false;
    }
    return started();
  }

  struct gate_state {
    std::mutex mtx;
    std::condition_variable_any cv;
    bool open = false;
    bool saw_stop = false;
  };
  std::shared_ptr<gate_state> gate = std::make_shared<gate_state>();
  std::shared_ptr<worker_reports> reports = std::make_shared<worker_reports>();
  std::shared_ptr<std::atomic<bool>> ended = std::make_shared<std::atomic<bool>>(false);
  funboost::detail::queue_context_ptr ctx;
  dispatcher_actor dispatcher;
  worker_actor worker;
};

} // namespace

TEST_CASE("worker: extra.function_timeout overrides the booster's when truthy, and a task "
          "without any timeout tells the dispatcher nothing") {
  {
    worker_fixture f{10};
    CHECK(f.timeout_told_for(message("a", "2")) == std::vector<caf::timespan>{2s});
    CHECK(f.timeout_told_for(message("b", "0")).back() == caf::timespan{10s}); // 0: booster's
    CHECK(f.timeout_told_for(message("c", "null")).back() == caf::timespan{10s});
    CHECK(f.timeout_told_for(message("d")).back() == caf::timespan{10s});
    CHECK(f.timeout_told_for(message("e", "0.25")).back() == caf::timespan{250ms});
    CHECK(f.started().size() == 5);
  }
  {
    worker_fixture f{0};
    CHECK(f.timeout_told_for(message("f")).empty()); // no limit: no started message
    CHECK(f.timeout_told_for(message("g", "3")) == std::vector<caf::timespan>{3s});
  }
}

TEST_CASE("worker: in a batch, a task with extra.function_timeout and the ones after it are "
          "handed back unstarted; the ones before it run") {
  worker_fixture f{0};
  f.open_gate();
  auto batch = std::make_shared<std::vector<task>>(std::vector<task>{
    fetched(message("first")), fetched(message("timed", "2")), fetched(message("after"))});
  caf::anon_send(f.worker, run_atom::value, batch, std::make_shared<task_run>());
  REQUIRE(eventually(f, [&] { return f.done() == 1; }));
  {
    std::lock_guard guard{f.reports->mtx};
    CHECK(f.reports->statuses.back()
          == std::vector<task_status>{task_status::done, task_status::not_started,
                                      task_status::not_started});
  }
  CHECK(f.started().empty()); // not timed in the batch: it never started
  const auto& timed = (*batch)[1];
  CHECK(timed.attempts == 0);
  CHECK(timed.controls.known);
  CHECK(timed.controls.function_timeout == 2);
  CHECK((*batch)[2].attempts == 0);
}

TEST_CASE("worker: a negative or non-numeric extra.function_timeout dead-letters the task "
          "unrun") {
  worker_fixture f{10};
  for (const char* bad : {"-1", "\"soon\"", "true"}) {
    CAPTURE(bad);
    caf::anon_send(f.worker, run_atom::value,
                   std::make_shared<std::vector<task>>(
                     std::vector<task>{fetched(message("bad", bad))}),
                   std::make_shared<task_run>());
    auto before = f.reports->statuses.size();
    REQUIRE(eventually(f, [&] {
      std::lock_guard guard{f.reports->mtx};
      return f.reports->statuses.size() == before + 1;
    }));
    std::lock_guard guard{f.reports->mtx};
    CHECK(f.reports->statuses.back() == std::vector<task_status>{task_status::dead_letter});
  }
  CHECK(f.started().empty());
}

TEST_CASE("worker: once the dispatcher settled its task at the deadline, the worker's function "
          "sees stop_requested(), and the worker reports nothing and ends") {
  worker_fixture f{5};
  auto run = std::make_shared<task_run>();
  caf::anon_send(f.worker, run_atom::value,
                 std::make_shared<std::vector<task>>(std::vector<task>{fetched(message("late"))}),
                 run);
  REQUIRE(eventually(f, [&] { return f.started().size() == 1; }));
  // What the dispatcher does at the deadline: claim the task, then request its stop.
  REQUIRE(run->claim());
  run->stop.request_stop();
  REQUIRE(eventually(f, [&] { return f.ended->load(); })); // the function returned on the stop
  {
    std::lock_guard guard{f.gate->mtx};
    CHECK(f.gate->saw_stop);
  }
  f.run();
  CHECK(f.done() == 0); // its late outcome is not reported
}

// -- the whole queue -------------------------------------------------------------------------

namespace {

/// The queue's real actors on the in-memory broker, as test_actors_stop.cpp runs them. Task x = 0
/// waits until it is asked to stop (it records that it saw the request); any other x returns
/// at once and is counted.
struct queue_fixture : actor_fixture {
  explicit queue_fixture(const std::string& queue, double function_timeout)
    : actor_fixture(/*thread_safe=*/true) {
    auto o = test_options(queue);
    o.concurrent_num = 2;
    o.prefetch_per_worker = 2;
    o.max_retries = 0;
    o.function_timeout = function_timeout;
    auto c = std::make_shared<funboost::detail::queue_context>(*make_context(o));
    c->function = [s = shared](simdjson::dom::object message) {
      int64_t x = 1;
      if (message["x"].get(x))
        x = 1;
      if (x == 0) {
        ++s->hung;
        std::unique_lock lock{s->mtx};
        s->cv.wait(lock, funboost::current_stop_token(), [&] { return s->released; });
        if (funboost::stop_requested())
          ++s->saw_stop;
      } else {
        ++s->quick;
      }
      funboost::call_outcome ok;
      ok.ok = true;
      ok.result_json = "null";
      return ok;
    };
    ctx = c;
    broker = ctx->broker->connect();
    broker->clear(queue);
  }

  ~queue_fixture() override {
    {
      std::lock_guard guard{shared->mtx};
      shared->released = true;
      shared->cv.notify_all();
    }
    caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
    run();
    CHECK(eventually(*this, [&] {
      locked->clock().trigger_all();
      return sys.detached_actors() == 0;
    }));
  }

  void publish(int x, const std::string& task_id, const std::string& extra = "") {
    std::vector<std::string> bodies{R"({"x":)" + std::to_string(x) + R"(,"extra":{)" + extra
                                    + R"("task_id":")" + task_id
                                    + R"(","is_using_rpc_mode":true}})"};
    broker->publish(ctx->queue(), bodies);
  }

  void consume() {
    supervisor = track(sys.spawn(queue_supervisor, ctx, publisher_actor{}));
    caf::anon_send(supervisor, funboost::consume_atom::value);
    run();
    auto d = ask<dispatcher_actor>(supervisor, dispatch_atom::value);
    REQUIRE(d->value.has_value());
    dispatcher = *d->value;
  }

  /// Whether a running task's started message has reached the dispatcher (its deadline is set).
  bool deadline_set() {
    for (const auto& [addr, b] : state_of<dispatcher_state>(dispatcher).busy)
      if (b.deadline != caf::actor_clock::time_point::max())
        return true;
    return false;
  }

  std::vector<worker_actor> workers() {
    return state_of<queue_supervisor_state>(supervisor).workers;
  }

  struct shared_state {
    std::mutex mtx;
    std::condition_variable_any cv;
    bool released = false;
    std::atomic<int> hung{0};
    std::atomic<int> saw_stop{0};
    std::atomic<int> quick{0};
  };
  std::shared_ptr<shared_state> shared = std::make_shared<shared_state>();
  funboost::detail::queue_context_ptr ctx;
  std::unique_ptr<funboost::broker_connection> broker;
  supervisor_actor supervisor;
  dispatcher_actor dispatcher;
};

void check_timed_out(const std::shared_ptr<funboost::detail::result_slot>& slot,
                     const std::string& limit) {
  REQUIRE(slot->is_finished());
  std::lock_guard guard{slot->mutex};
  CHECK_FALSE(slot->success);
  CHECK(slot->exception_type == "funboost::function_timeout");
  CHECK(slot->exception_message.find("function_timeout of " + limit + " s")
        != std::string::npos);
}

} // namespace

TEST_CASE("queue: a hung task is timed out on virtual time while the other worker runs the rest; "
          "the supervisor replaces the hung worker at once and the function sees the stop") {
  queue_fixture f{"actors_timeout_queue", 5};
  auto slot = funboost::detail::expect_rpc_result(f.ctx->queue(), "hung", nullptr);
  f.publish(0, "hung");
  for (int i = 1; i <= 10; ++i)
    f.publish(i, "quick-" + std::to_string(i));
  f.consume();
  auto before = f.workers();
  REQUIRE(before.size() == 2);
  // Ten tasks flow through the other worker while the hung one holds its worker (no virtual
  // time passes: nothing can time out meanwhile).
  REQUIRE(eventually(f, [&] { return f.shared->quick == 10 && f.deadline_set(); }));
  CHECK(f.shared->hung == 1);
  f.advance(4999ms);
  CHECK_FALSE(slot->is_finished());
  CHECK(f.shared->saw_stop == 0);

  f.advance(1ms);
  REQUIRE(eventually(f, [&] { return slot->is_finished(); }));
  check_timed_out(slot, "5");
  // The function polled its token and returned; its worker reported nothing and ended.
  REQUIRE(eventually(f, [&] { return f.shared->saw_stop == 1; }));
  REQUIRE(eventually(f, [&] { return f.ctx->abandoned_workers->load() == 0; }));
  auto after = f.workers();
  CHECK(after.size() == 2); // the replacement was spawned at once
  int kept = 0;
  for (const auto& w : after)
    kept += std::count(before.begin(), before.end(), w) ? 1 : 0;
  CHECK(kept == 1);
  auto stats = f.ask<funboost::queue_stats>(f.supervisor, funboost::stats_atom::value);
  REQUIRE(eventually(f, [&] { return stats->given(); }));
  REQUIRE(stats->value.has_value());
  CHECK(stats->value->timed_out == 1);
  CHECK(stats->value->failed == 1);
  CHECK(stats->value->done == 10);

  // The pool has its capacity: more tasks still run on both workers.
  for (int i = 11; i <= 14; ++i)
    f.publish(i, "after-" + std::to_string(i));
  CHECK(eventually(f, [&] { return f.shared->quick == 14; }));
  CHECK(f.broker->count(f.ctx->queue()) == 0);
}

TEST_CASE("queue: a message's extra.function_timeout overrides the booster's") {
  queue_fixture f{"actors_timeout_override", 10};
  auto slot = funboost::detail::expect_rpc_result(f.ctx->queue(), "short", nullptr);
  f.publish(0, "short", R"("function_timeout":2,)");
  f.consume();
  REQUIRE(eventually(f, [&] { return f.deadline_set(); }));
  f.advance(1999ms);
  CHECK_FALSE(slot->is_finished());
  f.advance(1ms);
  REQUIRE(eventually(f, [&] { return slot->is_finished(); }));
  check_timed_out(slot, "2");
}
