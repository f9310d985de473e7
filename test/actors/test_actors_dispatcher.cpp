// dispatcher (src/actors/dispatcher.cpp) on virtual time, between stand-in fetchers and
// workers: credit, hand-out to workers, acks routed to the fetcher (slot and epoch) that fetched,
// delayed retries, a crashed worker's batch, the graceful drain and its deadline, and the
// counts and long tasks of the stats line.
//
// The stand-in workers never answer by themselves: the test sends the dispatcher their
// `(done, worker, statuses, ns)` or kills them, so every step is the test's.
#include "actor_fixture.hpp"

#include <algorithm>

#include "actors/dispatcher.hpp"
#include "actors/rate_limiter.hpp"
#include "core/result_registry.hpp"

using namespace actors_test;

namespace {

/// A task run time the dispatcher treats as slow (above its 200 us batching threshold and
/// slow enough that the prefetch budget stays concurrent_num x prefetch_per_worker).
constexpr uint64_t slow_ns = 1'000'000'000;

struct fetcher_stand_in {
  fetcher_actor handle;
  std::shared_ptr<fetcher_log> log;
};

struct worker_stand_in {
  worker_actor handle;
  std::shared_ptr<worker_log> log;
};

struct dispatcher_fixture : actor_fixture {
  explicit dispatcher_fixture(funboost::booster_options o) {
    ctx = make_context(o);
    rate_limiter_actor limiter; // with qps, the real one, on virtual time
    if (o.qps > 0)
      limiter = track(sys.spawn(funboost::actors::rate_limiter, o.qps));
    scheduler = track(sys.spawn(stand_in_scheduler, scheduled));
    dispatcher = track(sys.spawn(funboost::actors::dispatcher, ctx, limiter, scheduler,
                                 worker_keeper_actor{}));
    run();
  }

  fetcher_stand_in join_fetcher(uint32_t slot, uint32_t epoch = 1) {
    fetcher_stand_in f{{}, std::make_shared<fetcher_log>()};
    f.handle = track(sys.spawn(stand_in_fetcher, f.log));
    caf::anon_send(dispatcher, join_atom::value, slot, epoch, f.handle);
    run();
    return f;
  }

  /// The slot's fetcher of `epoch` tells whether its connection continues the previous one.
  void connected(uint32_t slot, uint32_t epoch, bool continues) {
    caf::anon_send(dispatcher, connected_atom::value, slot, epoch, continues);
    run();
  }

  worker_stand_in join_worker(bool starts = true) {
    worker_stand_in w{{}, std::make_shared<worker_log>()};
    w.handle = track(sys.spawn(stand_in_worker, w.log, starts));
    caf::anon_send(dispatcher, join_atom::value, w.handle);
    run();
    return w;
  }

  void deliver(uint32_t slot, uint32_t epoch, std::vector<task> tasks) {
    caf::anon_send(dispatcher, deliver_atom::value, slot, epoch, std::move(tasks));
    run();
  }

  void done(const worker_stand_in& w, std::vector<task_status> statuses,
            uint64_t ns = slow_ns) {
    caf::anon_send(dispatcher, done_atom::value, w.handle, std::move(statuses), ns);
    run();
  }

  /// Kills a worker the way a crash does (a non-normal exit reason).
  void crash(const worker_stand_in& w) {
    crash_with(w.handle, caf::make_error(caf::sec::runtime_error, "worker crashed"));
    run();
  }

  funboost::queue_stats stats() {
    auto a = ask<funboost::queue_stats>(dispatcher, funboost::stats_atom::value);
    REQUIRE(a->value.has_value());
    return *a->value;
  }

  funboost::detail::queue_context_ptr ctx;
  std::shared_ptr<scheduler_log> scheduled = std::make_shared<scheduler_log>();
  scheduler_actor scheduler;
  dispatcher_actor dispatcher;
};

funboost::booster_options options(int concurrent_num, int prefetch_per_worker,
                                   int conn_num = 1) {
  auto o = test_options("actors_dispatcher");
  o.concurrent_num = concurrent_num;
  o.prefetch_per_worker = prefetch_per_worker;
  o.conn_num = conn_num;
  return o;
}

std::vector<task> tasks(std::initializer_list<uint64_t> tags, uint32_t slot = 0,
                        uint32_t epoch = 1, int max_retries = 0) {
  std::vector<task> out;
  for (auto tag : tags)
    out.push_back(make_task(tag, slot, epoch, max_retries));
  return out;
}

using tag_lists = std::vector<std::vector<uint64_t>>;
using events = std::vector<std::string>;

} // namespace

TEST_CASE("dispatcher: a joining fetcher is granted concurrent_num x prefetch_per_worker") {
  dispatcher_fixture f{options(3, 2)};
  auto fetcher = f.join_fetcher(0);
  // Task times are unknown yet: the budget is the prefetch budget, granted in one message.
  CHECK(fetcher.log->credits == std::vector<uint32_t>{6});
}

TEST_CASE("dispatcher: with unknown task time each idle worker gets one task, in fetch order") {
  dispatcher_fixture f{options(3, 2)};
  std::vector<worker_stand_in> workers{f.join_worker(), f.join_worker(), f.join_worker()};
  f.join_fetcher(0);
  f.deliver(0, 1, tasks({1, 2, 3, 4, 5}));

  std::vector<uint64_t> started;
  for (auto& w : workers) {
    REQUIRE(w.log->batches.size() == 1);
    CHECK(w.log->batches[0]->size() == 1); // one task each: none waits behind another
    started.push_back(w.log->tags()[0]);
  }
  std::sort(started.begin(), started.end());
  CHECK(started == std::vector<uint64_t>{1, 2, 3}); // 4 and 5 wait for a free worker
}

TEST_CASE("dispatcher: a trickle of fast tasks goes to one worker as a batch, not one per worker") {
  dispatcher_fixture f{options(4, 2)};
  std::vector<worker_stand_in> workers{f.join_worker(), f.join_worker(), f.join_worker(),
                                       f.join_worker()};
  f.join_fetcher(0);
  f.deliver(0, 1, tasks({1}));
  auto& first = *std::find_if(workers.begin(), workers.end(),
                              [](auto& w) { return !w.log->batches.empty(); });
  f.done(first, {task_status::done}, 2'000); // 2 us a task: 100 us of work is 50 tasks
  f.deliver(0, 1, tasks({2, 3, 4, 5, 6}));
  int given = 0;
  for (auto& w : workers)
    given += static_cast<int>(w.log->batches.size());
  CHECK(given == 2); // the first task's batch, then one batch of the five
  CHECK(first.log->batches.back()->size() == 5);
}

TEST_CASE("dispatcher: tasks of 100 us or more still go one per idle worker") {
  dispatcher_fixture f{options(3, 2)};
  std::vector<worker_stand_in> workers{f.join_worker(), f.join_worker(), f.join_worker()};
  f.join_fetcher(0);
  f.deliver(0, 1, tasks({1}));
  auto& first = *std::find_if(workers.begin(), workers.end(),
                              [](auto& w) { return !w.log->batches.empty(); });
  f.done(first, {task_status::done}, 150'000); // fast enough to batch a backlog, no trickle
  f.deliver(0, 1, tasks({2, 3, 4}));
  for (auto& w : workers)
    CHECK(w.log->batches.back()->size() == 1);
}

TEST_CASE("dispatcher: a worker's done acks its tags to the fetcher, and credit follows once a "
          "quarter of the budget is free") {
  // Budget 2 x 4 = 8; new credit only once 8 / 4 = 2 are free.
  dispatcher_fixture f{options(2, 4)};
  auto w0 = f.join_worker();
  auto w1 = f.join_worker();
  auto fetcher = f.join_fetcher(0);
  REQUIRE(fetcher.log->credits == std::vector<uint32_t>{8});
  f.deliver(0, 1, tasks({1, 2, 3, 4, 5, 6, 7, 8}));

  auto& first = w0.log->tags() == std::vector<uint64_t>{1} ? w0 : w1;
  auto& second = &first == &w0 ? w1 : w0;
  REQUIRE(first.log->tags() == std::vector<uint64_t>{1});
  REQUIRE(second.log->tags() == std::vector<uint64_t>{2});

  f.done(first, {task_status::done});
  CHECK(fetcher.log->acks == tag_lists{{1}});
  CHECK(first.log->tags() == std::vector<uint64_t>{1, 3}); // the free worker takes the next
  CHECK(fetcher.log->credits == std::vector<uint32_t>{8}); // one free: not a quarter yet

  f.done(second, {task_status::done});
  CHECK(fetcher.log->acks == tag_lists{{1}, {2}});
  CHECK(fetcher.log->credits == std::vector<uint32_t>{8, 2}); // two free: topped up
  CHECK(f.stats().done == 2);
}

TEST_CASE("dispatcher: acks go to the fetcher slot that fetched, and never to a newer epoch") {
  dispatcher_fixture f{options(2, 2, 2)};
  auto w0 = f.join_worker();
  auto w1 = f.join_worker();
  auto slot0 = f.join_fetcher(0);
  auto slot1 = f.join_fetcher(1);
  // Delivery tags belong to a connection: the same tag on both slots is two messages.
  f.deliver(1, 1, tasks({7}, 1));
  f.deliver(0, 1, tasks({7}, 0));
  REQUIRE(w0.log->batches.size() == 1);
  REQUIRE(w1.log->batches.size() == 1);
  auto& from_slot1 = (*w0.log->batches[0])[0].fetcher_slot == 1 ? w0 : w1;
  auto& from_slot0 = &from_slot1 == &w0 ? w1 : w0;

  f.done(from_slot1, {task_status::done});
  CHECK(slot1.log->acks == tag_lists{{7}});
  CHECK(slot0.log->acks.empty());

  // Slot 0's fetcher is replaced (epoch 2) while its task runs: the tag belonged to the old
  // connection, so the ack is dropped rather than sent on the new one.
  auto slot0_again = f.join_fetcher(0, 2);
  f.done(from_slot0, {task_status::done});
  CHECK(slot0_again.log->acks.empty());
  CHECK(slot0.log->acks.empty());
  CHECK(f.stats().in_flight == 0);
}

TEST_CASE("dispatcher: a retry waits retry_delay of virtual time before it runs again") {
  auto o = options(1, 2);
  o.retry_delay = 500ms;
  dispatcher_fixture f{o};
  auto w = f.join_worker();
  auto fetcher = f.join_fetcher(0);
  f.deliver(0, 1, tasks({1}, 0, 1, 3));
  REQUIRE(w.log->batches.size() == 1);

  f.done(w, {task_status::retry});
  CHECK(fetcher.log->acks.empty()); // still in flight, not acked
  f.advance(499ms);
  CHECK(w.log->batches.size() == 1); // the worker is idle, but the task is not due
  f.advance(1ms);
  REQUIRE(w.log->batches.size() == 2);
  CHECK(w.log->tags() == std::vector<uint64_t>{1, 1});
  auto s = f.stats();
  CHECK(s.retried == 1);
  CHECK(s.in_flight == 1);
}

TEST_CASE("dispatcher: retries back off by retry_multiplier up to retry_delay_max") {
  auto o = options(1, 2);
  o.retry_delay = 100ms;
  o.retry_multiplier = 2;
  o.retry_delay_max = 300ms;
  dispatcher_fixture f{o};
  auto w = f.join_worker();
  f.join_fetcher(0);
  f.deliver(0, 1, tasks({1}, 0, 1, 5));
  // The stand-in worker does not count attempts: the test sets what a real one would have.
  auto fail_attempt = [&](uint32_t attempts) {
    (*w.log->batches.back())[0].attempts = attempts;
    f.done(w, {task_status::retry});
  };
  std::vector<caf::timespan> expected{100ms, 200ms, 300ms, 300ms}; // 100, 200, 400 -> 300, ...
  for (uint32_t attempt = 1; attempt <= expected.size(); ++attempt) {
    fail_attempt(attempt);
    auto runs = w.log->batches.size();
    f.advance(expected[attempt - 1] - 1ms);
    CHECK(w.log->batches.size() == runs); // not yet
    f.advance(1ms);
    CHECK(w.log->batches.size() == runs + 1);
  }
}

TEST_CASE("dispatcher: with retry_jitter a retry waits 0.5 to 1.5 times its backoff") {
  for (int trial = 0; trial < 20; ++trial) {
    auto o = options(1, 2);
    o.retry_delay = 1000ms;
    o.retry_jitter = true;
    dispatcher_fixture f{o};
    auto w = f.join_worker();
    f.join_fetcher(0);
    f.deliver(0, 1, tasks({1}, 0, 1, 1));
    (*w.log->batches.back())[0].attempts = 1;
    f.done(w, {task_status::retry});
    f.advance(499ms);
    CHECK(w.log->batches.size() == 1);
    f.advance(1001ms);
    CHECK(w.log->batches.size() == 2);
  }
}

TEST_CASE("dispatcher: a task whose function threw requeue_task goes back to its fetcher after "
          "100 ms, not counted, while a retry due later keeps its place") {
  auto o = options(2, 2);
  o.retry_delay = 500ms;
  dispatcher_fixture f{o};
  auto w0 = f.join_worker();
  auto w1 = f.join_worker();
  auto fetcher = f.join_fetcher(0);
  f.deliver(0, 1, tasks({1, 2}, 0, 1, 3));
  auto& runs1 = w0.log->tags() == std::vector<uint64_t>{1} ? w0 : w1;
  auto& runs2 = &runs1 == &w0 ? w1 : w0;
  f.done(runs2, {task_status::retry});   // 2: due in 500 ms
  f.advance(10ms);
  f.done(runs1, {task_status::requeue}); // 1: due in 100 ms, before 2
  CHECK(fetcher.log->requeued.empty());
  f.advance(99ms);
  CHECK(fetcher.log->requeued.empty()); // paused, so an always-requeueing function never spins
  f.advance(1ms);
  CHECK(fetcher.log->requeued == tag_lists{{1}});
  CHECK(fetcher.log->acks.empty());
  auto s = f.stats();
  CHECK(s.retried == 1); // 2's retry only
  CHECK(s.in_flight == 1);
  f.advance(390ms); // 500 ms after 2's failure
  CHECK(runs1.log->tags().size() + runs2.log->tags().size() == 3); // 2 runs again
}

TEST_CASE("dispatcher: a delayed task goes to the scheduler with its due time, grace and "
          "message when due, then is acked and counted delayed") {
  dispatcher_fixture f{options(1, 2)};
  auto w = f.join_worker();
  auto fetcher = f.join_fetcher(0);
  f.deliver(0, 1, tasks({1}));
  REQUIRE(w.log->batches.size() == 1);
  auto& t = w.log->batches[0]->front(); // what the worker found, as run_one leaves it
  t.controls.run_at = 1774348711.5;
  t.controls.misfire_grace = 3;
  t.delayed_body = R"({"x":1,"extra":{"task_id":"task-1"}})";
  f.done(w, {task_status::delayed});
  REQUIRE(f.scheduled->kept.size() == 1);
  CHECK(f.scheduled->kept[0].due == 1774348711.5);
  CHECK(f.scheduled->kept[0].misfire_grace == 3);
  CHECK(f.scheduled->kept[0].body == R"({"x":1,"extra":{"task_id":"task-1"}})");
  CHECK(fetcher.log->acks == tag_lists{{1}});
  auto s = f.stats();
  CHECK(s.delayed == 1);
  CHECK(s.done == 0);
  CHECK(s.in_flight == 0);
}

TEST_CASE("dispatcher: delayed tasks the scheduler could not keep are never acked: they go back "
          "to their fetcher after 1 s") {
  dispatcher_fixture f{options(1, 2)};
  f.scheduled->refuse = true;
  auto w = f.join_worker();
  auto fetcher = f.join_fetcher(0);
  f.deliver(0, 1, tasks({1}));
  w.log->batches[0]->front().controls.run_at = 1774348711.5;
  f.done(w, {task_status::delayed});
  CHECK(fetcher.log->acks.empty());
  CHECK(f.stats().in_flight == 1);
  f.advance(999ms);
  CHECK(fetcher.log->requeued.empty());
  f.advance(1ms);
  CHECK(fetcher.log->requeued == tag_lists{{1}});
  CHECK(fetcher.log->acks.empty());
  CHECK(f.stats().in_flight == 0);
}

TEST_CASE("dispatcher: a task with max_retries 0 whose worker dies is failed and acked") {
  dispatcher_fixture f{options(1, 2)};
  auto w = f.join_worker();
  auto fetcher = f.join_fetcher(0);
  f.deliver(0, 1, tasks({1}, 0, 1, /*max_retries=*/0));
  REQUIRE(w.log->tags() == std::vector<uint64_t>{1});

  f.crash(w);
  CHECK(fetcher.log->acks == tag_lists{{1}});
  auto s = f.stats();
  CHECK(s.failed == 1);
  CHECK(s.retried == 0);
  CHECK(s.in_flight == 0);
  auto replacement = f.join_worker();
  CHECK(replacement.log->batches.empty()); // not run again
}

TEST_CASE("dispatcher: a task with max_retries 2 whose worker dies is re-run, three runs in all") {
  dispatcher_fixture f{options(1, 2)};
  auto fetcher = f.join_fetcher(0);
  auto w = f.join_worker();
  f.deliver(0, 1, tasks({2}, 0, 1, /*max_retries=*/2));

  for (int run = 1; run <= 3; ++run) {
    CAPTURE(run);
    REQUIRE(w.log->tags() == std::vector<uint64_t>{2});
    CHECK((*w.log->batches[0])[0].attempts == static_cast<uint32_t>(run));
    CHECK(fetcher.log->acks.empty()); // not settled while attempts are left
    f.crash(w);
    w = f.join_worker(); // what the supervisor does: a replacement joins
  }
  // The third crash used the last attempt: failed for good, acked, never run again.
  CHECK(w.log->batches.empty());
  CHECK(fetcher.log->acks == tag_lists{{2}});
  auto s = f.stats();
  CHECK(s.retried == 2);
  CHECK(s.failed == 1);
}

TEST_CASE("dispatcher: drain gives back unstarted tasks, answers when in-flight reaches zero, "
          "then stops the fetchers after their acks") {
  dispatcher_fixture f{options(1, 4, 2)};
  auto w = f.join_worker();
  auto slot0 = f.join_fetcher(0);
  auto slot1 = f.join_fetcher(1);
  f.deliver(0, 1, tasks({1, 2}, 0));
  f.deliver(1, 1, tasks({5}, 1));
  REQUIRE(w.log->tags() == std::vector<uint64_t>{1}); // 2 and 5 pending

  auto drained = f.ask<bool>(f.dispatcher, drain_atom::value);
  CHECK_FALSE(drained->given()); // task 1 still runs
  // Each fetcher is told to fetch no more and gets back, on its own connection, what it
  // fetched and no worker started.
  CHECK(slot0.log->events == events{"credit", "drain", "requeue"});
  CHECK(slot0.log->requeued == tag_lists{{2}});
  CHECK(slot1.log->events == events{"drain", "requeue"});
  CHECK(slot1.log->requeued == tag_lists{{5}});
  CHECK(f.stats().in_flight == 1);

  // A delivery that was on its way when the drain began goes straight back.
  f.deliver(1, 1, tasks({6}, 1));
  CHECK(slot1.log->requeued == tag_lists{{5}, {6}});
  CHECK(w.log->batches.size() == 1);
  CHECK_FALSE(drained->given());

  f.done(w, {task_status::done});
  REQUIRE(drained->value.has_value());
  CHECK(*drained->value == true);
  // The ack before the stop: a fetcher quits on stop, so its last acks must come first.
  CHECK(slot0.log->events == events{"credit", "drain", "requeue", "ack", "stop"});
  CHECK(slot0.log->acks == tag_lists{{1}});
  CHECK(slot1.log->events == events{"drain", "requeue", "requeue", "stop"});
  CHECK(f.stats().in_flight == 0);
}

TEST_CASE("dispatcher: a retry verdict during a drain goes back to the broker, not to a worker") {
  dispatcher_fixture f{options(1, 2)};
  auto w = f.join_worker();
  auto fetcher = f.join_fetcher(0);
  f.deliver(0, 1, tasks({1}, 0, 1, 3));
  auto drained = f.ask<bool>(f.dispatcher, drain_atom::value);
  CHECK_FALSE(drained->given());

  f.done(w, {task_status::retry});
  CHECK(w.log->batches.size() == 1);
  CHECK(fetcher.log->events == events{"credit", "drain", "requeue", "stop"});
  CHECK(fetcher.log->requeued == tag_lists{{1}});
  REQUIRE(drained->value.has_value());
  CHECK(*drained->value == true);
}

TEST_CASE("dispatcher: when a fetcher dies, the tasks it delivered that no worker started wait "
          "for its successor; a connection that does not continue it drops them (the broker "
          "gave them back), and the started ones still finish") {
  dispatcher_fixture f{options(1, 8)};
  auto w = f.join_worker();
  auto dead = f.join_fetcher(0);
  f.deliver(0, 1, tasks({1, 2, 3})); // 1 starts at once; 2 and 3 wait for the worker
  REQUIRE(w.log->tags() == std::vector<uint64_t>{1});
  CHECK(f.stats().in_flight == 3);
  crash_with(dead.handle, caf::make_error(caf::sec::runtime_error, "broker lost"));
  f.run();
  f.done(w, {task_status::done});
  CHECK(w.log->batches.size() == 1); // 2 and 3 wait: nobody knows yet whether they are ours
  CHECK(f.stats().in_flight == 2);

  auto next = f.join_fetcher(0, 2);
  f.connected(0, 2, false);
  CHECK(f.stats().in_flight == 0); // 2 and 3 are the broker's again, not run twice
  CHECK(w.log->batches.size() == 1);
  CHECK(next.log->acks.empty()); // 1's tag belonged to the lost connection
  f.deliver(0, 2, tasks({1}, 0, 2)); // the new connection's own tags work as usual
  f.done(w, {task_status::done});
  CHECK(next.log->acks == tag_lists{{1}});
}

TEST_CASE("dispatcher: when the new connection continues the dead fetcher's identity, the "
          "waiting tasks run and every ack (of tasks that finished meanwhile too) goes to it") {
  dispatcher_fixture f{options(1, 8)};
  auto w = f.join_worker();
  auto dead = f.join_fetcher(0);
  f.deliver(0, 1, tasks({1, 2, 3}));
  REQUIRE(w.log->tags() == std::vector<uint64_t>{1});
  crash_with(dead.handle, caf::make_error(caf::sec::runtime_error, "broker lost"));
  f.run();
  f.done(w, {task_status::done}); // finished while no connection could ack it: held
  CHECK(w.log->batches.size() == 1);

  // The answer may come before the supervisor's join reaches the dispatcher.
  f.connected(0, 2, true);
  CHECK(w.log->batches.size() == 1);
  auto next = f.join_fetcher(0, 2);
  CHECK(next.log->acks == tag_lists{{1}});
  REQUIRE(w.log->batches.size() == 2); // 2 and 3 run now, on no connection's behalf but theirs
  f.done(w, {task_status::done});
  f.done(w, {task_status::done});
  CHECK(w.log->tags() == std::vector<uint64_t>{1, 2, 3});
  CHECK(next.log->acks == tag_lists{{1}, {2}, {3}});
  CHECK(dead.log->acks.empty());
  CHECK(f.stats().in_flight == 0);
}

TEST_CASE("dispatcher with qps: tasks start one per token on the limiter's schedule, and never "
          "more than there are idle workers (concurrency is the separate cap)") {
  auto o = options(3, 8);
  o.qps = 10;
  dispatcher_fixture f{o};
  std::vector<worker_stand_in> workers{f.join_worker(), f.join_worker(), f.join_worker()};
  f.join_fetcher(0);
  f.deliver(0, 1, tasks({1, 2, 3, 4, 5, 6}));
  auto started = [&] {
    std::size_t n = 0;
    for (auto& w : workers)
      n += w.log->tags().size();
    return n;
  };
  CHECK(started() == 1); // the token due at once
  f.advance(99ms);
  CHECK(started() == 1);
  f.advance(1ms);
  CHECK(started() == 2); // 100 ms later, the next
  f.advance(100ms);
  CHECK(started() == 3);
  f.advance(1000ms); // tokens are due, but every worker is busy with a slow task
  CHECK(started() == 3);
  for (auto& w : workers)
    if (!w.log->tags().empty()) {
      f.done(w, {task_status::done}); // one frees up: one more starts, no burst of the rest
      break;
    }
  CHECK(started() == 4);
}

TEST_CASE("dispatcher: a task whose worker died before starting it runs again, with no attempt "
          "counted") {
  dispatcher_fixture f{options(1, 2)};
  auto fetcher = f.join_fetcher(0);
  auto w = f.join_worker(/*starts=*/false);
  f.deliver(0, 1, tasks({7}, 0, 1, /*max_retries=*/0));
  REQUIRE(w.log->tags() == std::vector<uint64_t>{7});
  f.crash(w);
  auto s = f.stats();
  CHECK(s.failed == 0); // max_retries 0, yet not failed: it never ran
  CHECK(s.in_flight == 1);
  auto replacement = f.join_worker();
  REQUIRE(replacement.log->tags() == std::vector<uint64_t>{7});
  CHECK((*replacement.log->batches[0])[0].attempts == 1); // its first real run
}

TEST_CASE("dispatcher: a task one death short of max_crash_deliveries waits for the running "
          "tasks, is marked on its connection, and runs alone; nothing starts beside it") {
  dispatcher_fixture f{options(2, 4)}; // max_crash_deliveries 3
  auto w0 = f.join_worker();
  auto w1 = f.join_worker();
  auto fetcher = f.join_fetcher(0);
  auto after_one_death = tasks({1, 2});
  after_one_death[0].crash_deliveries = 1; // one death blames everything held: runs as usual
  f.deliver(0, 1, std::move(after_one_death));
  auto suspect = tasks({3, 4});
  suspect[0].crash_deliveries = 2;
  f.deliver(0, 1, std::move(suspect));
  CHECK(w0.log->tags().size() + w1.log->tags().size() == 2); // 1 and 2 run; 3 waits for them
  CHECK(fetcher.log->marked.empty());

  f.done(w0, {task_status::done});
  CHECK(fetcher.log->marked.empty()); // task 2 still runs
  CHECK(w0.log->tags().size() + w1.log->tags().size() == 2); // and 4 waits behind the suspect
  f.done(w1, {task_status::done});
  CHECK(fetcher.log->marked == std::vector<uint64_t>{3});
  auto& alone = w0.log->tags().size() == 2 ? w0 : w1;
  auto& other = &alone == &w0 ? w1 : w0;
  REQUIRE(alone.log->tags().back() == 3);
  CHECK(other.log->tags().size() == 1); // 4 does not start beside the suspect

  f.done(alone, {task_status::done});
  CHECK(fetcher.log->acks.back() == std::vector<uint64_t>{3});
  bool rest_goes_on = w0.log->tags().back() == 4 || w1.log->tags().back() == 4;
  CHECK(rest_goes_on);
}

TEST_CASE("dispatcher: a task delivered with max_crash_deliveries deaths goes to the "
          "dead-letter queue with the reason, never to a worker") {
  auto o = options(1, 2);
  o.max_crash_deliveries = 3;
  dispatcher_fixture f{o};
  auto w = f.join_worker();
  auto fetcher = f.join_fetcher(0);
  auto poisoned = tasks({7, 8});
  poisoned[0].body = R"({"x":7,"extra":{"task_id":"poison-7"}})";
  poisoned[0].crash_deliveries = 3;
  f.deliver(0, 1, std::move(poisoned));
  CHECK(fetcher.log->dead == tag_lists{{7}});
  REQUIRE(fetcher.log->dead_bodies.size() == 1);
  CHECK(fetcher.log->dead_bodies[0]
        == R"j({"x":7,"extra":{"dead_letter_reason":"a consumer process died while running it 3 )j"
           R"j(times (max_crash_deliveries 3)","task_id":"poison-7"}})j");
  CHECK(w.log->tags() == std::vector<uint64_t>{8});
  CHECK(f.stats().dead_lettered == 1);
  CHECK(f.stats().in_flight == 1);
}

// -- the stop deadline and the stats line ---------------------------------------------------------

namespace {

/// A task whose message carries its task id, as funboost's messages do: what the dispatcher
/// reads when it must name a task a worker still runs.
task task_with_id(uint64_t tag, bool rpc = false) {
  auto t = make_task(tag);
  t.body = R"({"x":)" + std::to_string(tag) + R"(,"extra":{"task_id":"task-)"
           + std::to_string(tag) + R"(")" + (rpc ? R"(,"is_using_rpc_mode":true)" : "") + "}}";
  return t;
}

struct stats_with_long_tasks {
  funboost::queue_stats stats;
  std::vector<long_running> slow;
};

/// The heartbeat's question: the counters and the batches running longer than `limit`.
stats_with_long_tasks ask_stats(dispatcher_fixture& f, caf::timespan limit) {
  auto out = std::make_shared<std::optional<stats_with_long_tasks>>();
  auto d = f.dispatcher;
  f.sys.spawn([=](caf::event_based_actor* self) {
    self->request(d, caf::infinite, funboost::stats_atom::value, limit)
      .then([=](funboost::queue_stats& s, std::vector<long_running>& slow) {
        *out = stats_with_long_tasks{std::move(s), std::move(slow)};
      });
  });
  f.run();
  REQUIRE(out->has_value());
  return **out;
}

} // namespace

TEST_CASE("dispatcher: abandon during a drain gives back the tasks workers still run to the "
          "fetcher that fetched them, then the drain answers and a late done acks nothing") {
  dispatcher_fixture f{options(2, 2)};
  auto w1 = f.join_worker();
  auto w2 = f.join_worker();
  auto fetcher = f.join_fetcher(0);
  f.deliver(0, 1, {task_with_id(1), task_with_id(2), task_with_id(3)}); // 3 waits
  auto drained = f.ask<bool>(f.dispatcher, drain_atom::value);
  REQUIRE(fetcher.log->requeued == tag_lists{{3}});
  CHECK_FALSE(drained->given()); // 1 and 2 never return

  auto abandoned = f.ask<std::vector<worker_actor>>(f.dispatcher, abandon_atom::value);
  REQUIRE(abandoned->value.has_value());
  CHECK(abandoned->value->size() == 2);
  REQUIRE(fetcher.log->requeued.size() == 2);
  auto back = fetcher.log->requeued[1];
  std::sort(back.begin(), back.end());
  CHECK(back == std::vector<uint64_t>{1, 2});
  REQUIRE(drained->value.has_value());
  CHECK(*drained->value == true);
  // Given back before the fetcher is told to quit: it must requeue them on its connection.
  CHECK(fetcher.log->events == events{"credit", "drain", "requeue", "requeue", "stop"});
  CHECK(f.stats().in_flight == 0);

  f.done(w1, {task_status::done}); // its function returned after all: the broker has it back
  CHECK(fetcher.log->acks.empty());
}

TEST_CASE("dispatcher: a task given back at the stop deadline finishes its RPC waiter with "
          "funboost::interrupted") {
  dispatcher_fixture f{options(1, 2)};
  f.join_worker();
  auto fetcher = f.join_fetcher(0);
  auto slot = funboost::detail::expect_rpc_result("actors_dispatcher", "task-7", nullptr);
  f.deliver(0, 1, {task_with_id(7, /*rpc=*/true)});
  f.ask<bool>(f.dispatcher, drain_atom::value);
  CHECK_FALSE(slot->is_finished());
  f.ask<std::vector<worker_actor>>(f.dispatcher, abandon_atom::value);
  REQUIRE(slot->is_finished());
  std::lock_guard guard{slot->mutex};
  CHECK_FALSE(slot->success);
  CHECK(slot->exception_type == "funboost::interrupted");
  CHECK(slot->exception_message.find("task-7") != std::string::npos);
  CHECK(fetcher.log->requeued == tag_lists{{7}});
}

TEST_CASE("dispatcher: stats count running and prefetched tasks apart") {
  dispatcher_fixture f{options(2, 4)};
  auto w1 = f.join_worker();
  f.join_worker();
  f.join_fetcher(0);
  f.deliver(0, 1, tasks({1, 2, 3, 4, 5})); // two workers: 1 and 2 run, 3 to 5 wait
  auto s = f.stats();
  CHECK(s.running == 2);
  CHECK(s.prefetched == 3);
  CHECK(s.in_flight == 5);
  f.done(w1, {task_status::done}); // 3 starts
  s = f.stats();
  CHECK(s.running == 2);
  CHECK(s.prefetched == 2);
}

TEST_CASE("dispatcher: the stats line's question names the tasks running longer than asked, "
          "by the virtual time since they started") {
  dispatcher_fixture f{options(2, 4)};
  auto w1 = f.join_worker();
  auto w2 = f.join_worker();
  f.join_fetcher(0);
  f.deliver(0, 1, {task_with_id(1), task_with_id(2), task_with_id(3)});
  const auto& runs_1 = w1.log->tags() == std::vector<uint64_t>{1} ? w1 : w2;
  f.advance(30s);
  f.done(runs_1, {task_status::done}); // 3 starts 30 s after 2
  f.advance(30s);
  CHECK(ask_stats(f, 60s).slow.empty()); // 2 has run exactly 60 s: not longer
  f.advance(1s);
  auto r = ask_stats(f, 60s);
  CHECK(r.stats.running == 2);
  REQUIRE(r.slow.size() == 1);
  CHECK(r.slow[0].task_ids == std::vector<std::string>{"task-2"});
  CHECK(r.slow[0].running_for == caf::timespan{61s});
}
