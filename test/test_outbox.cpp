// The seed's push contract: a failed push reconnects and retries; what still fails is kept in a
// per-queue outbox file and delivered when the broker is back, even by a later process.
#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include <funboost/funboost.hpp>

#include "support/faulty_broker.hpp"
#include "support/fixtures.hpp"

using namespace std::chrono_literals;
using test_support::faults;
using test_support::memory_queue;
using test_support::wait_until;

namespace {

funboost::booster_options outbox_queue(const std::string& name, const std::string& dir) {
  auto o = test_support::faulty_queue(memory_queue(name));
  o.publish_retries = 2;
  o.publish_retry_interval = 100ms;
  o.broker.outbox_dir = dir;
  o.arg_names = {"x"};
  return o;
}

std::string scratch_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("funboost_outbox_test_" + name);
  std::filesystem::remove_all(dir);
  return dir.string();
}

std::size_t lines_in(const std::string& path) {
  std::ifstream in{path};
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);)
    ++n;
  return n;
}

} // namespace

TEST_CASE("a push while the broker is down is delivered if it returns within the retries") {
  faults::instance().reset();
  funboost::runtime rt;
  std::atomic<int> got{0};
  auto o = outbox_queue("outbox_within_retries", scratch_dir("within"));
  auto b = rt.boost([&](int x) { got += x; }, o);
  b.consume();
  faults::instance().publish_down = true;
  std::thread healer([] {
    std::this_thread::sleep_for(150ms); // after the first retry, before the last
    faults::instance().publish_down = false;
  });
  auto r = b.push(7);
  healer.join();
  CHECK(r.published());
  CHECK(faults::instance().publish_failures >= 2);
  CHECK(wait_until([&] { return got == 7; }));
  CHECK_FALSE(std::filesystem::exists(o.broker.outbox_dir + "/outbox_within_retries.outbox"));
}

TEST_CASE("a push that fails every retry is kept in the outbox and delivered when the broker returns") {
  faults::instance().reset();
  funboost::runtime rt;
  std::atomic<int> got{0};
  auto o = outbox_queue("outbox_replay", scratch_dir("replay"));
  auto b = rt.boost([&](int x) { got += x; }, o);
  b.consume();
  faults::instance().publish_down = true;
  auto t0 = std::chrono::steady_clock::now();
  auto r1 = b.push(1);
  CHECK(std::chrono::steady_clock::now() - t0 >= 200ms); // tried 3 times, 100 ms apart
  auto r2 = b.push(2);
  CHECK_FALSE(r1.published());
  CHECK_FALSE(r2.published());
  // 2 pushes x (1 + 2 retries), plus whatever the outbox replay tried meanwhile.
  CHECK(faults::instance().publish_failures >= 6);
  auto file = o.broker.outbox_dir + "/outbox_replay.outbox";
  CHECK(lines_in(file) == 2);
  CHECK_THROWS_WITH_AS(r1.get(), doctest::Contains("kept in the outbox"), funboost::publish_error);
  faults::instance().publish_down = false;
  CHECK(wait_until([&] { return got == 3; }, 5s)); // replayed within a retry interval or two
  CHECK(wait_until([&] { return !std::filesystem::exists(file); }));
}

TEST_CASE("an outbox left by an earlier process is delivered by the next booster of the queue") {
  faults::instance().reset();
  auto dir = scratch_dir("restart");
  auto o = outbox_queue("outbox_restart", dir);
  {
    funboost::runtime first;
    auto b = first.boost([](int) {}, o); // a producer only
    faults::instance().publish_down = true;
    CHECK_FALSE(b.push(40).published());
    CHECK_FALSE(b.push(2).published());
  } // the producer "process" ends with the broker still down
  CHECK(lines_in(dir + "/outbox_restart.outbox") == 2);
  faults::instance().publish_down = false;
  funboost::runtime second;
  std::atomic<int> got{0};
  auto b = second.boost([&](int x) { got += x; }, o);
  b.consume();
  CHECK(wait_until([&] { return got == 42; }, 5s));
}

TEST_CASE("concurrent pushes coalesce and push_many sends a backlog in few broker calls") {
  faults::instance().reset();
  funboost::runtime rt;
  std::atomic<int> got{0};
  auto o = outbox_queue("outbox_push_many", scratch_dir("many"));
  auto b = rt.boost([&](int x) { got += x; }, o);
  std::vector<std::tuple<int>> calls;
  for (int i = 1; i <= 2500; ++i)
    calls.emplace_back(i);
  auto before = faults::instance().connects;
  auto results = b.push_many(calls);
  REQUIRE(results.size() == 2500);
  for (auto& r : results)
    REQUIRE(r.published());
  CHECK(b.message_count() == 2500);
  CHECK(faults::instance().connects - before <= 1); // one connection, reused
  std::vector<std::thread> pushers;
  for (int t = 0; t < 8; ++t)
    pushers.emplace_back([&] {
      for (int i = 0; i < 100; ++i)
        b.push(1);
    });
  for (auto& t : pushers)
    t.join();
  CHECK(b.message_count() == 3300);
  b.consume();
  CHECK(wait_until([&] { return got == 2500 * 2501 / 2 + 800; }, 10s));
}
