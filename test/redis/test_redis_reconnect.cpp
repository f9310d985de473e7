// Broker trouble that a consumer survives without running anything twice: its connections to a
// REAL redis-server are killed (CLIENT KILL), or the server is killed and started again with
// its data (AOF), while tasks run. The consumer id and its unack key outlive the connection,
// so the acks of the tasks that were running go through the slot's next connection; before
// that, every reconnect re-ran all in-flight tasks.
#include <doctest/doctest.h>

#include <map>
#include <mutex>
#include <thread>

#include <funboost/funboost.hpp>

#include "redis_client.hpp"
#include "redis_server.hpp"
#include "redis_test_support.hpp"

using namespace std::chrono_literals;
using funboost::test::redis_client;
using funboost::test::redis_options;
using funboost::test::redis_server;
using funboost::test::wait_until;

namespace {

std::mutex runs_mutex;
std::map<int, int> runs; // x -> how often it ran

std::size_t distinct_done() {
  std::lock_guard guard{runs_mutex};
  return runs.size();
}

int slow_record(int x, int y) {
  std::this_thread::sleep_for(150ms); // long enough that every fault hits running tasks
  std::lock_guard guard{runs_mutex};
  ++runs[x];
  return x + y;
}

/// Messages fetched and not acked, in every registered unack key of `queue`.
long long unacked(redis_client& client, const std::string& queue) {
  long long n = 0;
  for (const auto& key : client.strings({"SMEMBERS", "funboost_unack_registry:" + queue}))
    n += client.integer({"ZCARD", key});
  return n;
}

/// Runs `n` tasks on conn_num 2 x concurrent_num 10, calls `fault` once 20 have finished, and
/// waits until the queue and every unack key are empty (a run a lost ack causes happens before
/// that: the lost messages sit in an unack key until they are given back and run again).
void run_through(redis_server& server, const std::string& queue,
                 const std::function<void()>& fault) {
  {
    std::lock_guard guard{runs_mutex};
    runs.clear();
  }
  constexpr int n = 200;
  funboost::runtime rt;
  auto opts = redis_options(server, funboost::broker_kind::redis, queue);
  opts.conn_num = 2;
  opts.concurrent_num = 10;
  opts.is_using_rpc_mode = false;
  opts.logging.level = funboost::log_level::off; // the faults log errors on purpose
  auto b = rt.boost(slow_record, opts);
  for (int i = 0; i < n; ++i)
    b.push(i, 1);
  b.consume();
  REQUIRE(wait_until([] { return distinct_done() >= 20; }, 60s));
  fault();
  auto before = distinct_done();
  CHECK(before < static_cast<std::size_t>(n)); // the fault really hit consumption
  REQUIRE(wait_until([&] { return distinct_done() == static_cast<std::size_t>(n); }, 120s));
  redis_client client{server.port()};
  CHECK(wait_until(
    [&] { return client.integer({"LLEN", queue}) == 0 && unacked(client, queue) == 0; }, 60s));
  b.stop();
  std::lock_guard guard{runs_mutex};
  int twice = 0;
  for (const auto& [x, count] : runs)
    twice += count > 1 ? 1 : 0;
  CAPTURE(twice);
  CHECK(runs.size() == static_cast<std::size_t>(n));
  CHECK(twice == 0);
}

} // namespace

TEST_CASE("redis: the consumer's connections are killed (CLIENT KILL) while tasks run; they "
          "reconnect as the same consumer and no task runs twice") {
  redis_server server;
  run_through(server, "reconnect_kill", [&] {
    redis_client killer{server.port()};
    // Every normal client but this one: both fetchers', the publisher's, the keeper's.
    CHECK(killer.integer({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}) >= 2);
  });
}

TEST_CASE("redis: redis-server killed and started again with its data while tasks run; the "
          "consumer continues as itself and no task runs twice") {
  redis_server server{{.persistent = true}}; // AOF, fsync always: the unack keys survive
  run_through(server, "reconnect_restart", [&] {
    server.stop(SIGKILL);
    server.start();
  });
}
