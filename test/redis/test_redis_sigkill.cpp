// A consumer process killed with SIGKILL while about 100 tasks are in flight: every task is
// later completed by another consumer (distinct task completions counted in Redis).
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include <funboost/funboost.hpp>

#include "redis_client.hpp"
#include "redis_server.hpp"
#include "redis_test_support.hpp"
#include "sigkill_task.hpp"

using namespace std::chrono_literals;
using funboost::test::redis_client;
using funboost::test::redis_server;
using funboost::test::wait_until;

namespace {

pid_t start_consumer(int port, const std::string& kind, const std::string& queue,
                     const std::string& timing) {
  const char* program = std::getenv("FUNBOOST_REDIS_SIGKILL_CONSUMER");
  REQUIRE_MESSAGE(program, "FUNBOOST_REDIS_SIGKILL_CONSUMER is not set; run through meson test");
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::string p = std::to_string(port);
    ::execl(program, program, p.c_str(), kind.c_str(), queue.c_str(), timing.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

/// Messages fetched and not acked, across every consumer of the queue.
long long in_flight(redis_client& c, const std::string& kind, const std::string& queue) {
  if (kind == funboost::broker_kind::redis) {
    long long sum = 0;
    for (const auto& key : c.strings({"SMEMBERS", "funboost_unack_registry:" + queue}))
      sum += c.integer({"ZCARD", key});
    return sum;
  }
  try {
    auto r = c.run({"XPENDING", queue, "funboost_group"});
    return r->element[0]->integer;
  } catch (const std::exception&) {
    return 0; // no group yet
  }
}

enum class timing { quick, funboost_default, slow_heartbeat };

const char* timing_name(timing t) {
  return t == timing::quick ? "quick" : t == timing::slow_heartbeat ? "slow_heartbeat" : "default";
}

void sigkill(const std::string& kind, timing t) {
  bool quick = t == timing::quick;
  redis_server server;
  redis_client client{server.port()};
  std::string queue = "sigkill_" + kind + "_" + timing_name(t);
  funboost::test::sigkill_port = server.port();
  funboost::test::sigkill_queue = queue;
  constexpr int n = 300;
  const std::string done_key = "done:" + queue;

  funboost::runtime rt;
  auto opts = funboost::test::redis_options(server, kind, queue, {"i"});
  opts.concurrent_num = 50;
  opts.is_using_rpc_mode = false;
  if (quick)
    funboost::test::quick_recovery(opts);
  if (t == timing::slow_heartbeat)
    funboost::test::slow_heartbeat(opts);
  auto b = rt.boost(funboost::test::sigkill_task, opts);
  for (int i = 0; i < n; ++i)
    REQUIRE(b.push(i).published());

  pid_t child = start_consumer(server.port(), kind, queue, timing_name(t));
  bool busy = wait_until([&] { return in_flight(client, kind, queue) >= 90; }, 30s);
  std::string dead_unack_key;
  if (kind == funboost::broker_kind::redis) {
    auto keys = client.strings({"SMEMBERS", "funboost_unack_registry:" + queue});
    if (keys.size() == 1)
      dead_unack_key = keys[0];
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  auto killed_at = std::chrono::steady_clock::now();
  REQUIRE(busy);
  auto stranded = in_flight(client, kind, queue);
  auto done_at_kill = client.integer({"SCARD", done_key});
  CAPTURE(stranded);
  CAPTURE(done_at_kill);
  CHECK(WIFSIGNALED(status));
  CHECK(stranded >= 90);
  CHECK(done_at_kill < n);

  b.consume(); // another consumer takes over
  if (!dead_unack_key.empty() && !quick) {
    // With funboost's defaults (10 s heartbeats, 25 s expiry) plus our 5 s checks it is at most
    // 30 s; the connection check finds the dead process in about 1 s. With heartbeats that
    // expire in 10 minutes only the connection check can have done it.
    CHECK(wait_until(
      [&] {
        return client.integer({"SISMEMBER", "funboost_unack_registry:" + queue, dead_unack_key})
               == 0;
      },
      40s));
    auto recovery = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at);
    MESSAGE("recovery of the killed consumer's messages took " << recovery.count() << " s");
    CHECK(recovery.count() <= 30.5);
  }
  if (t == timing::slow_heartbeat && kind == funboost::broker_kind::redis_stream) {
    CHECK(wait_until([&] { return in_flight(client, kind, queue) < stranded; }, 40s));
    auto recovery = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at);
    MESSAGE("recovery of the killed consumer's entries took " << recovery.count() << " s");
  }
  CHECK(wait_until([&] { return client.integer({"SCARD", done_key}) == n; }, 90s));
  CHECK(client.integer({"SCARD", done_key}) == n);
  b.stop();
  CHECK(in_flight(client, kind, queue) == 0);
  CHECK(b.message_count() == 0);
}

} // namespace

TEST_CASE("redis: a consumer killed with SIGKILL while ~100 tasks are in flight loses none") {
  sigkill(funboost::broker_kind::redis, timing::quick);
}

TEST_CASE("redis_stream: a consumer killed with SIGKILL while ~100 tasks are in flight loses "
          "none") {
  sigkill(funboost::broker_kind::redis_stream, timing::quick);
}

TEST_CASE("redis: with default timing a SIGKILLed consumer's messages are back within 30 s") {
  sigkill(funboost::broker_kind::redis, timing::funboost_default);
}

TEST_CASE("redis and redis_stream: a SIGKILLed consumer's tasks come back because its "
          "connections are gone, with heartbeats that would take 10 minutes to expire") {
  sigkill(funboost::broker_kind::redis, timing::slow_heartbeat);
  sigkill(funboost::broker_kind::redis_stream, timing::slow_heartbeat);
}

TEST_CASE("redis: a consumer paused by SIGSTOP keeps its connections, so its tasks stay with it "
          "through 30 connection checks, and it finishes them when it resumes") {
  redis_server server;
  redis_client client{server.port()};
  std::string queue = "sigstop_redis";
  funboost::test::sigkill_port = server.port();
  funboost::test::sigkill_queue = queue;
  constexpr int n = 300;
  const std::string done_key = "done:" + queue;
  funboost::runtime rt;
  auto opts = funboost::test::redis_options(server, funboost::broker_kind::redis, queue, {"i"});
  opts.concurrent_num = 50;
  opts.is_using_rpc_mode = false;
  funboost::test::slow_heartbeat(opts);
  opts.broker.transport_options["liveness_check_interval_ms"] = 300LL;
  auto b = rt.boost(funboost::test::sigkill_task, opts);
  for (int i = 0; i < n; ++i)
    REQUIRE(b.push(i).published());
  pid_t child = start_consumer(server.port(), funboost::broker_kind::redis, queue,
                               "slow_heartbeat");
  REQUIRE(wait_until([&] { return in_flight(client, funboost::broker_kind::redis, queue) >= 90; },
                     30s));
  // Redis has been up for liveness_grace (5 s), so the checks below really judge.
  REQUIRE(wait_until([&] {
    auto info = client.string({"INFO", "server"});
    auto at = info.find("uptime_in_seconds:");
    return at != std::string::npos && std::atoll(info.c_str() + at + 18) >= 6;
  }, 30s));
  ::kill(child, SIGSTOP);
  auto keys = client.strings({"SMEMBERS", "funboost_unack_registry:" + queue});
  REQUIRE(keys.size() == 1);
  auto held = client.strings({"ZRANGE", keys[0], "0", "-1"});
  CAPTURE(held.size());
  redis_client monitor{server.port()};
  monitor.run({"MONITOR"});
  b.consume(); // a live consumer whose keeper looks for dead processes every 300 ms
  // Each check takes the queue's liveness turn (SET ... NX PX) and then lists the clients
  // (MONITOR does not show CLIENT LIST itself).
  std::string turn = "\"SET\" \"funboost_cpp_liveness_lock:" + queue + "\"";
  int checks = 0;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (checks < 30 && std::chrono::steady_clock::now() < deadline)
    if (monitor.next_pushed().find(turn) != std::string::npos)
      ++checks;
  REQUIRE(checks == 30);
  // Paused is not dead: every task the paused consumer holds is still its own.
  CHECK(client.strings({"ZRANGE", keys[0], "0", "-1"}) == held);
  CHECK(client.integer({"SISMEMBER", "funboost_unack_registry:" + queue, keys[0]}) == 1);
  ::kill(child, SIGCONT);
  CHECK(wait_until([&] { return client.integer({"SCARD", done_key}) == n; }, 90s));
  CHECK(wait_until([&] { return client.integer({"ZCARD", keys[0]}) == 0; }, 30s));
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  b.stop();
}
