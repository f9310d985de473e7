// function_timeout and process_isolation end to end, on the in-memory broker: a function that
// never returns is timed out while other tasks keep flowing; one that polls
// funboost::stop_requested() sees the request; in process isolation a crash fails only its task
// and a hung child is killed, while results come back through the child's pipe.
//
// Timeouts are real here (tenths of a second), but no test asserts a duration: they assert
// outcomes, and every wait is a hang guard (wait_until / get with a generous limit).
// The virtual-time proofs (deadline exactness, the replacement worker, the late report) are in
// test/actors/test_actors_timeout.cpp.
#include <doctest/doctest.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unistd.h>

#include <caf/scoped_actor.hpp>
#include <funboost/funboost.hpp>

#include "support/fixtures.hpp"

using namespace std::chrono_literals;
using test_support::memory_queue;
using test_support::stats_of;
using test_support::wait_until;

namespace {

struct reading {
  std::string sensor;
  double value = 0;
  std::vector<int> samples;
};

} // namespace

template <>
struct funboost::fields<reading> {
  static constexpr const char* name = "reading";
  static constexpr auto list = std::make_tuple(funboost::field("sensor", &reading::sensor),
                                               funboost::field("value", &reading::value),
                                               funboost::field("samples", &reading::samples));
};

namespace {

/// A condition nobody signals while the test runs. Released when the gate goes (declared after
/// the runtime, so before it ends), so abandoned threads can end instead of outliving the test.
struct never_signalled {
  struct state {
    std::mutex mtx;
    std::condition_variable cv;
    bool released = false;
  };
  std::shared_ptr<state> s = std::make_shared<state>();

  void wait() const {
    std::unique_lock lock{s->mtx};
    s->cv.wait(lock, [&] { return s->released; });
  }
  ~never_signalled() {
    std::lock_guard guard{s->mtx};
    s->released = true;
    s->cv.notify_all();
  }
};

/// get() must fail with this exception type; returns its message.
template <class R>
std::string failure_of(funboost::async_result<R> r, const std::string& type) {
  try {
    r.get(30s);
  } catch (const funboost::task_failed& e) {
    CHECK(e.exception_type() == type);
    return e.exception_message();
  }
  FAIL("expected funboost::task_failed of type " << type);
  return {};
}

} // namespace

TEST_CASE("a function that never returns is timed out and retried by max_retries while the "
          "other tasks keep flowing") {
  funboost::runtime rt;
  never_signalled hang;
  std::atomic<int> hung_runs{0};
  std::atomic<int> quick_runs{0};
  auto o = memory_queue("timeout_hang");
  o.concurrent_num = 3;
  o.function_timeout = 0.3;
  o.max_retries = 1;
  o.is_using_rpc_mode = true;
  auto b = rt.boost(
    [&, h = hang.s](int x) {
      if (x < 0) {
        ++hung_runs;
        std::unique_lock lock{h->mtx};
        h->cv.wait(lock, [&] { return h->released; }); // blind to stop_requested()
        return 0;
      }
      ++quick_runs;
      return x * 2;
    },
    o);
  b.consume();
  auto hung = b.push(-1);
  std::vector<funboost::async_result<int>> quick;
  for (int i = 1; i <= 40; ++i)
    quick.push_back(b.push(i));
  for (int i = 1; i <= 40; ++i)
    CHECK(quick[static_cast<std::size_t>(i - 1)].get(30s) == 2 * i);
  auto text = failure_of(hung, "funboost::function_timeout");
  CHECK(text.find("function_timeout of 0.3 s") != std::string::npos);
  CHECK(text.find("timeout_hang") != std::string::npos);
  CHECK(hung_runs == 2); // max_retries 1: two attempts, both abandoned, both still blocked
  CHECK(quick_runs == 40);
  // A waiter hears of a result before the dispatcher counts it: wait for the count.
  CHECK(wait_until([&] { return stats_of(rt, o.queue_name).done == 40; }));
  auto s = stats_of(rt, o.queue_name);
  CHECK(s.timed_out == 2);
  CHECK(s.retried == 1);
  CHECK(s.failed == 1);
  CHECK(s.done == 40);
  // Two threads are stuck, yet the pool still has its three workers.
  std::vector<funboost::async_result<int>> more;
  for (int i = 0; i < 6; ++i)
    more.push_back(b.push(100 + i));
  for (int i = 0; i < 6; ++i)
    CHECK(more[static_cast<std::size_t>(i)].get(30s) == 2 * (100 + i));
}

TEST_CASE("a function that polls funboost::stop_requested() sees it when its time is up, and "
          "its late outcome does not count") {
  funboost::runtime rt;
  std::atomic<bool> saw_stop{false};
  std::atomic<bool> token_possible{false};
  std::atomic<int> returned_after_stop{0};
  auto o = memory_queue("timeout_poll");
  o.concurrent_num = 2;
  o.function_timeout = 0.2;
  o.max_retries = 0;
  o.is_using_rpc_mode = true;
  auto b = rt.boost(
    [&](int x) {
      token_possible = funboost::current_stop_token().stop_possible();
      if (x == 0)
        return funboost::stop_requested() ? -1 : 7; // quick: never asked
      while (!funboost::stop_requested())
        std::this_thread::sleep_for(1ms);
      saw_stop = true;
      ++returned_after_stop;
      return 42; // too late: the task failed already
    },
    o);
  CHECK_FALSE(funboost::stop_requested()); // outside a task function
  CHECK_FALSE(funboost::current_stop_token().stop_possible());
  b.consume();
  CHECK(b.push(0).get(30s) == 7);
  CHECK(token_possible);
  auto polling = b.push(1);
  failure_of(polling, "funboost::function_timeout");
  CHECK(wait_until([&] { return saw_stop.load(); }));
  CHECK(wait_until([&] { return stats_of(rt, o.queue_name).timed_out == 1; }));
  CHECK(wait_until([&] { return stats_of(rt, o.queue_name).done == 1; }));
  auto s = stats_of(rt, o.queue_name);
  CHECK(s.done == 1); // the late 42 is not a success
  CHECK(s.failed == 1);
  CHECK(b.push(0).get(30s) == 7); // the replacement worker runs the next task
}

TEST_CASE("task_options::function_timeout limits one task on a booster without a limit, also "
          "amid fast tasks that are batched to workers") {
  funboost::runtime rt;
  auto o = memory_queue("timeout_per_task");
  o.max_retries = 0;
  o.concurrent_num = 2;
  auto b = rt.boost(
    [](int x) {
      while (x == 1 && !funboost::stop_requested())
        std::this_thread::sleep_for(1ms);
      return x;
    },
    o);
  for (int i = 0; i < 500; ++i)
    b.push(2);
  auto r = b.publish(R"({"arg0":1})", {.function_timeout = 0.2, .is_using_rpc_mode = true});
  for (int i = 0; i < 500; ++i)
    b.push(2);
  b.consume();
  auto text = failure_of(r, "funboost::function_timeout");
  CHECK(text.find("function_timeout of 0.2 s") != std::string::npos);
  CHECK(wait_until([&] { return stats_of(rt, o.queue_name).done == 1000; }));
  CHECK(stats_of(rt, o.queue_name).timed_out == 1);
  CHECK_THROWS_AS(b.publish(R"({"arg0":1})", {.function_timeout = -1}), std::invalid_argument);
}

TEST_CASE("booster_options::function_timeout must be 0 or positive seconds") {
  funboost::runtime rt;
  for (double bad : {-1.0, std::nan(""), HUGE_VAL}) {
    auto o = memory_queue("timeout_bad_option");
    o.function_timeout = bad;
    CHECK_THROWS_AS(rt.boost([](int) {}, o), std::invalid_argument);
  }
}

// -- process isolation ---------------------------------------------------------------------------

TEST_CASE("process isolation: results come back through the child's pipe (int, string, a "
          "struct), and so do exceptions") {
  funboost::runtime rt;
  auto options = [](const std::string& name) {
    auto o = memory_queue(name);
    o.process_isolation = true;
    o.is_using_rpc_mode = true;
    o.max_retries = 0;
    return o;
  };
  auto ints = rt.boost([](int x, int y) { return x + y; }, options("isolation_int"));
  auto texts = rt.boost([](std::string s) { return s + " from pid " + std::to_string(getpid()); },
                        options("isolation_string"));
  auto readings = rt.boost(
    [](std::string sensor, int n) {
      reading r{sensor, 0.5 * n, {}};
      for (int i = 0; i < n; ++i)
        r.samples.push_back(i * i);
      return r;
    },
    options("isolation_struct"));
  auto throws = rt.boost(
    [](int v) -> int { throw std::invalid_argument("bad " + std::to_string(v)); },
    options("isolation_throw"));
  ints.consume();
  texts.consume();
  readings.consume();
  throws.consume();

  CHECK(ints.push(20, 22).get(30s) == 42);
  auto text = texts.push("hello").get(30s);
  CHECK(text.rfind("hello from pid ", 0) == 0);
  CHECK(text != "hello from pid " + std::to_string(getpid())); // ran in another process
  auto r = readings.push("t1", 4).get(30s);
  CHECK(r.sensor == "t1");
  CHECK(r.value == 2.0);
  CHECK(r.samples == std::vector<int>{0, 1, 4, 9});
  CHECK(failure_of(throws.push(7), "std::invalid_argument") == "bad 7");
}

TEST_CASE("process isolation: what the function writes to memory stays in its child") {
  funboost::runtime rt;
  static std::atomic<int> runs{0};
  auto o = memory_queue("isolation_memory");
  o.process_isolation = true;
  o.is_using_rpc_mode = true;
  auto b = rt.boost([](int) { return ++runs; }, o);
  b.consume();
  CHECK(b.push(1).get(30s) == 1);
  CHECK(b.push(2).get(30s) == 1); // each child starts from the parent's memory
  CHECK(runs == 0);
}

TEST_CASE("process isolation: a segfault or an abort fails only its task (funboost::crashed, "
          "retried by max_retries); the consumer and the other tasks go on") {
  funboost::runtime rt;
  auto o = memory_queue("isolation_crash");
  o.process_isolation = true;
  o.is_using_rpc_mode = true;
  o.concurrent_num = 2;
  o.max_retries = 1;
  auto b = rt.boost(
    [](int x) {
      if (x == -11)
        std::raise(SIGSEGV);
      if (x == -6)
        std::abort();
      return x * 10;
    },
    o);
  b.consume();
  auto segv = b.push(-11);
  auto abrt = b.push(-6);
  std::vector<funboost::async_result<int>> others;
  for (int i = 1; i <= 10; ++i)
    others.push_back(b.push(i));
  auto segv_text = failure_of(segv, "funboost::crashed");
  CHECK(segv_text.find("SIGSEGV (signal 11)") != std::string::npos);
  CHECK(segv_text.find("isolation_crash") != std::string::npos);
  CHECK(failure_of(abrt, "funboost::crashed").find("SIGABRT") != std::string::npos);
  for (int i = 1; i <= 10; ++i)
    CHECK(others[static_cast<std::size_t>(i - 1)].get(30s) == i * 10);
  CHECK(wait_until([&] {
    auto s = stats_of(rt, o.queue_name);
    return s.done == 10 && s.failed == 2;
  }));
  auto s = stats_of(rt, o.queue_name);
  CHECK(s.retried == 2); // each crash retried once (max_retries 1), then failed
  CHECK(s.failed == 2);
  CHECK(s.done == 10);
}

TEST_CASE("process isolation: a function that never returns is killed at its function_timeout") {
  funboost::runtime rt;
  int pids[2];
  REQUIRE(pipe(pids) == 0); // the child tells the test which process it is
  auto o = memory_queue("isolation_timeout");
  o.process_isolation = true;
  o.is_using_rpc_mode = true;
  o.function_timeout = 0.3;
  o.max_retries = 0;
  auto b = rt.boost(
    [out = pids[1]](int x) {
      if (x == 0)
        return 5;
      pid_t me = getpid();
      (void) !write(out, &me, sizeof me);
      for (;;)
        pause(); // no stop token can reach this; only the kill does
      return 0;
    },
    o);
  b.consume();
  auto hung = b.push(1);
  auto text = failure_of(hung, "funboost::function_timeout");
  CHECK(text.find("killed (SIGKILL)") != std::string::npos);
  pid_t child = 0;
  REQUIRE(read(pids[0], &child, sizeof child) == static_cast<ssize_t>(sizeof child));
  CHECK(child != getpid());
  errno = 0;
  CHECK(kill(child, 0) == -1); // killed and reaped: no such process any more
  CHECK(errno == ESRCH);
  CHECK(b.push(0).get(30s) == 5); // the same worker goes on
  CHECK(wait_until([&] { return stats_of(rt, o.queue_name).timed_out == 1; }));
  close(pids[0]);
  close(pids[1]);
}
