// Consumers that die, as real processes: one frozen past its heartbeat expiry (SIGSTOP) and then
// killed loses no task, and one poison task that aborts every process running it ends up in the
// dead-letter queue after max_crash_deliveries deaths while every healthy task completes.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <funboost/funboost.hpp>

#include "support/child_process.hpp"

#include "redis_client.hpp"
#include "redis_server.hpp"
#include "redis_test_support.hpp"
#include "sigkill_task.hpp"

using namespace std::chrono_literals;
using funboost::test::kill_and_reap;
using funboost::test::redis_client;
using funboost::test::redis_server;
using funboost::test::wait_until;

namespace {

pid_t start_consumer(int port, const std::string& queue, bool poison,
                     const std::string& stderr_path = "",
                     const std::string& kind = funboost::broker_kind::redis) {
  const char* program = std::getenv("FUNBOOST_REDIS_SIGKILL_CONSUMER");
  REQUIRE_MESSAGE(program, "FUNBOOST_REDIS_SIGKILL_CONSUMER is not set; run through meson test");
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (!stderr_path.empty()) {
      int fd = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, STDERR_FILENO);
    }
    std::string p = std::to_string(port);
    ::execl(program, program, p.c_str(), kind.c_str(), queue.c_str(), "quick",
            poison ? "poison" : "plain", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

/// A producer in this process that pushes to `queue` and never consumes.
funboost::booster_options producer_options(const redis_server& server, const std::string& queue,
                                           const std::string& kind = funboost::broker_kind::redis) {
  auto o = funboost::test::redis_options(server, kind, queue, {"i"});
  o.is_using_rpc_mode = false;
  funboost::test::quick_recovery(o);
  return o;
}

} // namespace

TEST_CASE("redis: a consumer frozen past its heartbeat expiry registers again before fetching, "
          "so a crash after it resumes loses nothing") {
  redis_server server;
  redis_client client{server.port()};
  const std::string queue = "frozen_then_killed";
  const std::string registry = "funboost_unack_registry:" + queue;
  const std::string done_key = "done:" + queue;
  constexpr int n = 300;
  funboost::runtime rt;
  auto producer = rt.boost(funboost::test::sigkill_task, producer_options(server, queue));
  for (int i = 0; i < n; ++i)
    REQUIRE(producer.push(i).published());

  pid_t frozen = start_consumer(server.port(), queue, false);
  REQUIRE(wait_until([&] { return client.strings({"SMEMBERS", registry}).size() == 1; }, 30s));
  auto frozen_key = client.strings({"SMEMBERS", registry}).front();
  REQUIRE(wait_until([&] { return client.integer({"ZCARD", frozen_key}) >= 40; }, 30s));
  ::kill(frozen, SIGSTOP);

  // A second consumer declares the frozen one dead (no heartbeat for 2 s) and takes its tasks.
  pid_t peer = start_consumer(server.port(), queue, false);
  CHECK(wait_until([&] { return client.integer({"SISMEMBER", registry, frozen_key}) == 0; },
                   30s));
  CHECK(client.integer({"EXISTS", frozen_key}) == 0);

  // Resumed, the frozen consumer fetches again: into a key that recovery can see.
  ::kill(frozen, SIGCONT);
  bool fetched_again = wait_until([&] { return client.integer({"ZCARD", frozen_key}) > 0; }, 30s);
  REQUIRE_MESSAGE(fetched_again, "the resumed consumer fetched nothing more; the test needs it to");
  CHECK(client.integer({"SISMEMBER", registry, frozen_key}) == 1);
  kill_and_reap(frozen); // with tasks in its key

  // The peer recovers them too: every task completes.
  CHECK(wait_until([&] { return client.integer({"SCARD", done_key}) == n; }, 90s));
  CHECK(client.integer({"SCARD", done_key}) == n);
  kill_and_reap(peer);
}

namespace {

/// Messages waiting in a queue of either kind (a list, or a stream's entries).
long long length(redis_client& c, const std::string& kind, const std::string& key) {
  return c.integer({kind == funboost::broker_kind::redis ? "LLEN" : "XLEN", key});
}

void poison(const std::string& kind) {
  redis_server server;
  redis_client client{server.port()};
  const std::string queue = "poisoned";
  const std::string done_key = "done:" + queue;
  constexpr int healthy = 100;
  funboost::runtime rt;
  auto producer = rt.boost(funboost::test::poison_task, producer_options(server, queue, kind));
  auto poison = producer.push(-1); // first, so it is fetched with healthy ones
  REQUIRE(poison.published());
  for (int i = 0; i < healthy; ++i)
    REQUIRE(producer.push(i).published());

  // An operator's supervisor (systemd, Kubernetes) restarts a consumer that died.
  const std::string log_path = "poison_consumers.stderr";
  std::remove(log_path.c_str());
  funboost::test::restarted_child consumer{
    [&] { return start_consumer(server.port(), queue, true, log_path, kind); }, 12};
  bool finished = wait_until(
    [&] {
      consumer.poll();
      return client.integer({"SCARD", done_key}) == healthy
             && length(client, kind, queue + "_dlx") == 1;
    },
    120s);
  // At-least-once: a copy of a healthy task given back after a death may still be waiting or
  // running; the live consumer finishes it and clears its count before anything is checked.
  CHECK(wait_until([&] {
    return length(client, kind, queue) == 0
           && client.integer({"HLEN", "funboost_crash_deliveries:" + queue}) == 0;
  }, 60s));
  CHECK(consumer.exits() == 0); // every death was the poison's abort

  CHECK(finished);
  CHECK(client.integer({"SCARD", done_key}) == healthy);
  // Blamed once per death it caused, never the healthy tasks: exactly max_crash_deliveries.
  CHECK(consumer.deaths() == 3);
  REQUIRE(length(client, kind, queue + "_dlx") == 1);
  auto dead = kind == funboost::broker_kind::redis
                ? client.strings({"LRANGE", queue + "_dlx", "0", "0"}).front()
                : client.stream_values(queue + "_dlx").front();
  CAPTURE(dead);
  CHECK(dead.find("\"i\":-1") != std::string::npos);
  CHECK(dead.find("\"dead_letter_reason\":\"a consumer process died while running it 3 times")
        != std::string::npos);
  // Each dying process named the task it died of.
  CHECK(funboost::test::occurrences_in_file(log_path, "dies of SIGABRT while running task "
                                                        + poison.task_id() + " of queue 'poisoned'")
        == 3);
  // Nothing left behind: no crash count of a finished task, no task still queued.
  CHECK(client.integer({"HLEN", "funboost_crash_deliveries:" + queue}) == 0);
  CHECK(length(client, kind, queue) == 0);
}

} // namespace

TEST_CASE("redis: a poison task that aborts its process goes to the dead-letter queue after "
          "max_crash_deliveries deaths, and the healthy tasks fetched with it all complete") {
  poison(funboost::broker_kind::redis);
}

TEST_CASE("redis_stream: a poison task that aborts its process goes to the dead-letter queue "
          "after max_crash_deliveries deaths, and the healthy tasks fetched with it all "
          "complete") {
  poison(funboost::broker_kind::redis_stream);
}

namespace {
std::atomic<int> held_runs{0};
int held_task(int i) {
  ++held_runs;
  return i;
}
} // namespace

TEST_CASE("redis: a death with no task marked running never takes a held task to "
          "max_crash_deliveries: only a death while it ran alone does") {
  redis_server server;
  const std::string queue = "poison_cap";
  redis_client client{server.port()};
  // A consumer that died (no heartbeat) holding a healthy task that two earlier deaths of
  // consumers holding it already counted, with nothing marked running: it was prefetched, or
  // waited as a suspect to run alone.
  std::string body = R"({"i":7,"extra":{"task_id":"held-7","publish_time":1.5,)"
                     R"("publish_time_format":"2026-11-24 10:00:00"}})";
  std::string dead_key = queue + "__unack_id_dead-consumer";
  client.run({"ZADD", dead_key, "1", body});
  client.run({"SADD", "funboost_unack_registry:" + queue, dead_key});
  client.run({"HSET", "funboost_crash_deliveries:" + queue, body, "2"});

  funboost::runtime rt;
  auto o = funboost::test::redis_options(server, funboost::broker_kind::redis, queue, {"i"});
  o.max_crash_deliveries = 3;
  o.is_using_rpc_mode = false;
  o.broker.transport_options["recover_interval_ms"] = 200LL;
  auto b = rt.boost(held_task, o);
  b.consume();
  // Recovery gives it back: a third count would send it to the dead-letter queue unrun.
  REQUIRE(wait_until([] { return held_runs.load() == 1; }, 30s));
  CHECK(client.integer({"LLEN", queue + "_dlx"}) == 0);
  CHECK(wait_until(
    [&] { return client.integer({"HLEN", "funboost_crash_deliveries:" + queue}) == 0; }, 10s));
  b.stop();
}
