// redis-server killed (SIGKILL) during consumption and started again on the same port:
// consumption resumes by itself and no task is lost.
#include <doctest/doctest.h>

#include <mutex>
#include <set>
#include <thread>

#include <funboost/funboost.hpp>

#include "redis_client.hpp"
#include "redis_server.hpp"
#include "redis_test_support.hpp"

using namespace std::chrono_literals;
using funboost::test::redis_options;
using funboost::test::redis_server;
using funboost::test::wait_until;

namespace {

std::mutex done_mutex;
std::set<int> done;
std::size_t runs = 0;

std::size_t done_count() {
  std::lock_guard guard{done_mutex};
  return done.size();
}

int slow_record(int x, int y) {
  std::this_thread::sleep_for(20ms);
  std::lock_guard guard{done_mutex};
  done.insert(x);
  ++runs;
  return x + y;
}

void outage(const char* kind, std::chrono::seconds down_for) {
  {
    std::lock_guard guard{done_mutex};
    done.clear();
    runs = 0;
  }
  redis_server server{{.persistent = true}}; // AOF, fsync always: the data survives SIGKILL
  constexpr int n = 300;
  std::string queue = std::string{"outage_"} + kind;
  funboost::runtime rt;
  auto opts = redis_options(server, kind, queue);
  opts.concurrent_num = 4;
  opts.logging.level = funboost::log_level::off; // the outage logs errors on purpose
  auto b = rt.boost(slow_record, opts);
  std::vector<funboost::async_result<int>> results;
  for (int i = 0; i < n; ++i)
    results.push_back(b.push(i, 1));
  b.consume();
  REQUIRE(wait_until([] { return done_count() >= 40; }, 30s));
  server.stop(SIGKILL);
  auto done_at_kill = done_count();
  CAPTURE(done_at_kill);
  CHECK(done_at_kill < static_cast<std::size_t>(n)); // the outage really hit consumption
  std::this_thread::sleep_for(down_for);
  server.start();
  CHECK(wait_until([] { return done_count() == static_cast<std::size_t>(n); }, 120s));
  for (int i = 0; i < n; ++i)
    CHECK(results[static_cast<std::size_t>(i)].get(30s) == i + 1);
  // Copies of tasks whose ack died with the connection come back once more; let them run.
  CHECK(wait_until([&] { return b.message_count() == 0; }, 30s));
  b.stop();
  MESSAGE(std::string{kind} << ": " << n << " tasks, " << runs << " runs (re-runs are tasks whose ack was "
               << "lost with the connection), " << done_at_kill << " done before the outage");
}

} // namespace

TEST_CASE("redis: redis-server killed for 10 s during consumption; consumption resumes by itself "
          "and no task is lost") {
  outage(funboost::broker_kind::redis, 10s);
}

TEST_CASE("redis_stream: redis-server killed for 3 s during consumption; consumption resumes by "
          "itself and no task is lost") {
  outage(funboost::broker_kind::redis_stream, 3s);
}
