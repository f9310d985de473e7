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

void sigkill(const std::string& kind, bool quick) {
  redis_server server;
  redis_client client{server.port()};
  std::string queue = "sigkill_" + kind + (quick ? "_quick" : "_default");
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
  auto b = rt.boost(funboost::test::sigkill_task, opts);
  for (int i = 0; i < n; ++i)
    REQUIRE(b.push(i).published());

  pid_t child = start_consumer(server.port(), kind, queue, quick ? "quick" : "default");
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
    // funboost's defaults (10 s heartbeats, 25 s expiry) plus our 5 s checks: at most 30 s.
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
  CHECK(wait_until([&] { return client.integer({"SCARD", done_key}) == n; }, 90s));
  CHECK(client.integer({"SCARD", done_key}) == n);
  b.stop();
  CHECK(in_flight(client, kind, queue) == 0);
  CHECK(b.message_count() == 0);
}

} // namespace

TEST_CASE("redis: a consumer killed with SIGKILL while ~100 tasks are in flight loses none") {
  sigkill(funboost::broker_kind::redis, true);
}

TEST_CASE("redis_stream: a consumer killed with SIGKILL while ~100 tasks are in flight loses "
          "none") {
  sigkill(funboost::broker_kind::redis_stream, true);
}

TEST_CASE("redis: with default timing a SIGKILLed consumer's messages are back within 30 s") {
  sigkill(funboost::broker_kind::redis, false);
}
