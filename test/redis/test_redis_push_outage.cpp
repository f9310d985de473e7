// Pushing while redis-server is down: a push whose broker returns within the retry window is
// delivered; one that outlasts every retry is kept in the outbox and delivered when it returns;
// once one push has failed through its retries, the next ones go to the outbox at once.
#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include <funboost/funboost.hpp>

#include "redis_client.hpp"
#include "redis_server.hpp"
#include "support/fixtures.hpp"
#include "redis_test_support.hpp"

using namespace std::chrono_literals;
using funboost::test::redis_client;
using funboost::test::redis_options;
using funboost::test::redis_server;

using test_support::wait_until;

TEST_CASE("a push during a short redis outage is delivered by the retries") {
  redis_server server;
  funboost::runtime rt;
  auto o = redis_options(server, funboost::broker_kind::redis, "push_outage_short", {"x"});
  o.publish_retries = 3;
  o.publish_retry_interval = 500ms;
  o.broker.outbox_dir = server.dir() + "/outbox";
  std::atomic<int> got{0};
  auto b = rt.boost([&](int x) { got += x; }, o);
  b.consume();
  server.stop(SIGKILL);
  std::thread restarter([&] {
    std::this_thread::sleep_for(700ms); // back after the first retry
    server.start();
  });
  auto r = b.push(5);
  restarter.join();
  CHECK(r.published());
  CHECK(wait_until([&] { return got == 5; }, 30s));
  CHECK_FALSE(std::filesystem::exists(o.broker.outbox_dir + "/push_outage_short.outbox"));
}

TEST_CASE("a push that outlasts the retries is kept in the outbox and delivered later") {
  redis_server server;
  funboost::runtime rt;
  auto o = redis_options(server, funboost::broker_kind::redis, "push_outage_long", {"x"});
  o.publish_retries = 2;
  o.publish_retry_interval = 200ms;
  o.broker.outbox_dir = server.dir() + "/outbox";
  std::atomic<int> got{0};
  auto b = rt.boost([&](int x) { got += x; }, o);
  b.consume();
  server.stop(SIGKILL);
  auto r1 = b.push(40);
  auto r2 = b.push(2);
  CHECK_FALSE(r1.published());
  CHECK_FALSE(r2.published());
  CHECK(std::filesystem::exists(o.broker.outbox_dir + "/push_outage_long.outbox"));
  server.start();
  CHECK(wait_until([&] { return got == 42; }, 30s));
  CHECK(wait_until(
    [&] { return !std::filesystem::exists(o.broker.outbox_dir + "/push_outage_long.outbox"); },
    10s));
}

TEST_CASE("during a redis outage only the first push waits for the retries; all arrive once, "
          "in order, when it is back") {
  redis_server server;
  funboost::runtime rt;
  const std::string queue = "push_outage_circuit";
  auto o = redis_options(server, funboost::broker_kind::redis, queue, {"x"});
  o.is_using_rpc_mode = false;
  o.publish_retries = 3;
  o.publish_retry_interval = 1s; // the first push waits 3 s; the old code made each one wait
  o.broker.outbox_dir = server.dir() + "/outbox";
  auto b = rt.boost([](int) {}, o); // a producer: the queue keeps what arrives
  server.stop(SIGKILL);

  std::vector<std::string> ids;
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 50; ++i) {
    auto r = b.push(i);
    CHECK_FALSE(r.published());
    ids.push_back(r.task_id());
  }
  CHECK(std::chrono::steady_clock::now() - started < 10s); // a generous bound: 50 x 3 s before

  server.start();
  redis_client client{server.port()};
  auto outbox_empty = [&] {
    std::error_code ec;
    return std::filesystem::is_empty(o.broker.outbox_dir, ec) || ec;
  };
  CHECK(wait_until([&] { return outbox_empty() && client.integer({"LLEN", queue}) == 50; },
                   30s));
  auto bodies = client.strings({"LRANGE", queue, "0", "-1"});
  REQUIRE(bodies.size() == 50);
  for (std::size_t i = 0; i < bodies.size(); ++i)
    CHECK(bodies[i].find(ids[i]) != std::string::npos); // push order, each once
}
