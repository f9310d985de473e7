// Delayed tasks on a REAL redis-server, both Redis kinds: kept in the sorted set
// funboost_delayed_tasks:{queue} until due, then each run exactly once by one of several
// consumer processes, never before its time; kept tasks survive a SIGKILL of every consumer;
// a Python producer's delayed message is honoured; a fire later than misfire_grace_time drops
// the task. "Exactly once" is checked when nothing is left anywhere (queue, delayed set, unacked
// or pending), so no duplicate can still come. How late fires are is printed here and measured
// by bench/delay_bench (delay.fire_error_ms_p99), not asserted.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <sstream>

#include <funboost/funboost.hpp>

#include "core/delay_controls.hpp"
#include "redis_client.hpp"
#include "redis_server.hpp"
#include "redis_test_support.hpp"
#include "support/child_process.hpp"

using namespace std::chrono_literals;
using funboost::detail::unix_now;
using funboost::test::redis_client;
using funboost::test::redis_server;
using funboost::test::wait_until;

namespace {

pid_t start_consumer(int port, const std::string& kind, const std::string& queue) {
  const char* program = std::getenv("FUNBOOST_REDIS_DELAY_CONSUMER");
  REQUIRE_MESSAGE(program, "FUNBOOST_REDIS_DELAY_CONSUMER is not set; run through meson test");
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::string p = std::to_string(port);
    ::execl(program, program, p.c_str(), kind.c_str(), queue.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

std::string delayed_key(const std::string& queue) {
  return "funboost_delayed_tasks:" + queue;
}

/// Messages still anywhere: waiting, delayed, or fetched and not acked.
long long left_anywhere(redis_client& c, const std::string& kind, const std::string& queue) {
  long long n = c.integer({"ZCARD", delayed_key(queue)});
  if (kind == funboost::broker_kind::redis) {
    n += c.integer({"LLEN", queue});
    for (const auto& key : c.strings({"SMEMBERS", "funboost_unack_registry:" + queue}))
      n += c.integer({"ZCARD", key});
    return n;
  }
  n += c.integer({"XLEN", queue}); // acked entries are XDELed
  return n;
}

/// The runs the consumer programs recorded: task -> latenesses (seconds after due).
std::map<int, std::vector<double>> runs_of(redis_client& c, const std::string& queue) {
  std::map<int, std::vector<double>> runs;
  for (const auto& line : c.strings({"LRANGE", "ran:" + queue, "0", "-1"})) {
    std::istringstream in{line};
    int i;
    double late;
    in >> i >> late;
    runs[i].push_back(late);
  }
  return runs;
}

/// Publishes `n` tasks (i, due) with countdowns from `first` in steps of `step`, cycling every
/// 20 tasks. `due` is taken before publish_time, so a run at or after the real due time has
/// lateness >= -0.0001 (publish_time is rounded to 0.1 ms).
void publish_delayed(const funboost::queue_publisher& p, int n, double first, double step) {
  for (int i = 0; i < n; ++i) {
    funboost::task_options o;
    o.countdown = first + (i % 20) * step;
    char kwargs[96];
    std::snprintf(kwargs, sizeof kwargs, R"({"i":%d,"due":%.6f})", i, unix_now() + o.countdown);
    p.publish(kwargs, o);
  }
}

void check_each_ran_once_never_early(const std::map<int, std::vector<double>>& runs, int n) {
  CHECK(runs.size() == static_cast<std::size_t>(n));
  std::vector<double> lateness;
  for (const auto& [i, late] : runs) {
    CHECK_MESSAGE(late.size() == 1, "task " << i << " ran " << late.size() << " times");
    for (double l : late) {
      CHECK_MESSAGE(l >= -0.0002, "task " << i << " ran " << -l << " s before its time");
      lateness.push_back(l);
    }
  }
  std::sort(lateness.begin(), lateness.end());
  if (!lateness.empty())
    MESSAGE("lateness p50 " << lateness[lateness.size() / 2] * 1000 << " ms, p99 "
                            << lateness[lateness.size() * 99 / 100] * 1000 << " ms");
}

funboost::booster_options producer_options(const redis_server& server, const std::string& kind,
                                           const std::string& queue) {
  auto o = funboost::test::redis_options(server, kind, queue, {"i", "due"});
  o.is_using_rpc_mode = false;
  return o;
}

} // namespace

TEST_CASE("countdown tasks run exactly once each, never before their time, with three consumer "
          "processes, on both Redis kinds") {
  redis_server server;
  for (std::string kind : {funboost::broker_kind::redis, funboost::broker_kind::redis_stream}) {
    CAPTURE(kind);
    auto queue = "delay_three_" + kind;
    redis_client c{server.port()};
    std::vector<pid_t> consumers;
    for (int k = 0; k < 3; ++k)
      consumers.push_back(start_consumer(server.port(), kind, queue));
    funboost::runtime rt;
    auto p = rt.publisher(producer_options(server, kind, queue));
    constexpr int n = 300;
    publish_delayed(p, n, 0.5, 0.05); // due over 0.5 .. 1.45 s
    REQUIRE(wait_until([&] { return c.integer({"LLEN", "ran:" + queue}) >= n; }, 30s));
    REQUIRE(wait_until([&] { return left_anywhere(c, kind, queue) == 0; }, 30s));
    check_each_ran_once_never_early(runs_of(c, queue), n);
    for (auto pid : consumers)
      funboost::test::kill_and_reap(pid);
  }
}

TEST_CASE("delayed tasks survive a SIGKILL of every consumer process: a new one runs each once "
          "when due") {
  redis_server server;
  const std::string kind = funboost::broker_kind::redis;
  const std::string queue = "delay_restart";
  redis_client c{server.port()};
  std::vector<pid_t> consumers{start_consumer(server.port(), kind, queue),
                               start_consumer(server.port(), kind, queue)};
  funboost::runtime rt;
  auto p = rt.publisher(producer_options(server, kind, queue));
  constexpr int n = 100;
  publish_delayed(p, n, 4, 0.05);
  // Every one kept in Redis and its original acked: nothing but the delayed set holds them.
  REQUIRE(wait_until([&] { return c.integer({"ZCARD", delayed_key(queue)}) == n; }));
  REQUIRE(wait_until([&] { return left_anywhere(c, kind, queue) == n; }));
  for (auto pid : consumers)
    funboost::test::kill_and_reap(pid);
  CHECK(c.integer({"LLEN", "ran:" + queue}) == 0);
  auto fresh = start_consumer(server.port(), kind, queue);
  REQUIRE(wait_until([&] { return c.integer({"LLEN", "ran:" + queue}) >= n; }, 30s));
  REQUIRE(wait_until([&] { return left_anywhere(c, kind, queue) == 0; }));
  check_each_ran_once_never_early(runs_of(c, queue), n);
  funboost::test::kill_and_reap(fresh);
}

TEST_CASE("a Python producer's countdown message waits in Redis, then runs; a kept task fired "
          "later than its misfire_grace_time is dropped by the fire") {
  redis_server server;
  redis_client c{server.port()};
  auto o = funboost::test::redis_options(server, funboost::broker_kind::redis, "delay_python",
                                         {"x"});
  o.is_using_rpc_mode = false;
  funboost::runtime rt;
  std::mutex m;
  std::vector<int> ran;
  auto b = rt.boost(
    [&](int x) {
      std::lock_guard guard{m};
      ran.push_back(x);
    },
    o);
  char published[32];
  std::snprintf(published, sizeof published, "%.4f", unix_now());
  c.run({"RPUSH", "delay_python",
         std::string{R"({"x":1,"extra":{"countdown":2,"task_id":"py-1","publish_time":)"}
           + published + R"(,"publish_time_format":"2026-11-25 08:00:00"}})"});
  // Kept before a long outage of every consumer: one may be a minute late, one may not.
  auto long_ago = std::to_string(unix_now() - 60);
  c.run({"ZADD", delayed_key("delay_python"), long_ago,
         R"({"x":2,"extra":{"misfire_grace_time":10,"task_id":"strict"}})", long_ago,
         R"({"x":4,"extra":{"task_id":"any-time"}})"});
  b.consume();
  REQUIRE(wait_until([&] {
    std::lock_guard guard{m};
    return ran.size() == 1;
  }));
  {
    std::lock_guard guard{m};
    CHECK(ran == std::vector<int>{4});
  }
  // The Python message, not due yet, is kept without its countdown.
  REQUIRE(wait_until([&] { return c.integer({"ZCARD", delayed_key("delay_python")}) == 1; }));
  auto kept = c.strings({"ZRANGE", delayed_key("delay_python"), "0", "-1"});
  REQUIRE(kept.size() == 1);
  CHECK(kept[0].starts_with(R"({"x":1,"extra":{"task_id":"py-1","publish_time":)"));
  REQUIRE(wait_until([&] {
    std::lock_guard guard{m};
    return ran.size() == 2;
  }));
  std::lock_guard guard{m};
  CHECK(ran == std::vector<int>{4, 1});
  CHECK(c.integer({"ZCARD", delayed_key("delay_python")}) == 0);
}
