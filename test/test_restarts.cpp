// Failures are restarts, not loops: a fetcher whose broker throws is restarted with a doubling
// backoff and consuming goes on; a worker that crashes is replaced and its task retried.
#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <stdexcept>

#include <funboost/funboost.hpp>

#include "support/faulty_broker.hpp"
#include "support/fixtures.hpp"

using namespace std::chrono_literals;
using test_support::memory_queue;
using test_support::wait_until;

using test_support::faults;

TEST_CASE("a fetcher whose broker throws is restarted on a new connection; nothing stops") {
  faults::instance().reset();
  {
    std::lock_guard g{faults::instance().mutex};
    faults::instance().fetch_failures_left = 4;
  }
  funboost::runtime rt;
  std::atomic<int> done{0};
  auto o = test_support::faulty_queue(memory_queue("restarts_fetcher"));
  o.conn_num = 1;
  o.restart_backoff = 40ms;
  o.restart_backoff_max = 200ms;
  auto b = rt.boost([&](int) { ++done; }, o);
  for (int i = 0; i < 50; ++i)
    b.push(i);
  b.consume();
  REQUIRE(wait_until([&] { return done == 50; }, 10s));
  std::lock_guard g{faults::instance().mutex};
  REQUIRE(faults::instance().fetch_failed_at.size() == 4);
  // Each failure ended a fetcher; each restart made a new connection. (The backoff's timing,
  // doubling, cap and reset are proven on virtual time in test/actors/.)
  CHECK(faults::instance().connects >= 5);
}

TEST_CASE("a crashed worker is replaced and its task retried") {
  // A task_function that throws something other than decode_error is, by contract, a crash of
  // the worker running it (e.g. a result that cannot be encoded). The first call crashes.
  funboost::runtime rt;
  std::atomic<int> calls{0};
  std::atomic<int> running{0};
  std::atomic<int> peak{0};
  funboost::task_function crashing_once = [&](simdjson::dom::object) {
    int n = ++calls;
    if (n == 1)
      throw std::runtime_error("worker bug");
    int now = ++running;
    int seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(100ms);
    --running;
    return funboost::call_outcome{true, std::to_string(n), "", ""};
  };
  auto o = memory_queue("restarts_worker_crash");
  o.concurrent_num = 4;
  o.is_using_rpc_mode = true;
  o.arg_names = {};
  auto core = funboost::detail::make_booster_core(rt, o, crashing_once, 0);
  funboost::booster<int()> b{core, [] { return 0; }};
  b.consume();
  CHECK(b.push().get(10s) == 2); // the retry ran on a live worker
  // The pool is whole again: 4 tasks run at the same time.
  std::vector<funboost::async_result<int>> rs;
  for (int i = 0; i < 4; ++i)
    rs.push_back(b.push());
  for (auto& r : rs)
    r.get(10s);
  CHECK(peak == 4);
}
