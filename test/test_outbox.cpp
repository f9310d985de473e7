// The seed's push contract: a failed push reconnects and retries; what still fails is kept in a
// per-queue outbox file and delivered when the broker is back, even by a later process. A push
// the outbox cannot keep fails at once and says so; boosters sharing the file send it once.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <caf/scoped_actor.hpp>

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

/// What the process writes to stderr (where the console log goes) while `f` runs.
template <class F>
std::string stderr_of(F&& f) {
  auto file = std::filesystem::temp_directory_path() / "funboost_outbox_test_stderr.txt";
  std::fflush(stderr);
  int saved = ::dup(2);
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ::dup2(fd, 2);
  ::close(fd);
  f();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::ifstream in{file};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
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
  // The first push's try and its 2 retries, each with a reconnect; the second push went to
  // the outbox at once (the broker was known to be down); plus the outbox replay's probes.
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

TEST_CASE("an outbox directory that cannot be made warns at creation, and a refused push fails "
          "at once saying it was not kept") {
  faults::instance().reset();
  auto base = scratch_dir("unusable");
  std::filesystem::create_directories(base);
  std::ofstream{base + "/file.txt"} << "a file, not a directory\n";
  // Under a regular file: no one can create it, root included (chmod would not stop root).
  auto o = outbox_queue("outbox_unusable", base + "/file.txt/sub");
  o.publish_retry_interval = 30s; // waiting for the retries would take a minute
  o.logging.level = funboost::log_level::warn;
  funboost::runtime rt;
  std::optional<funboost::booster<void(int)>> b;
  auto warned = stderr_of([&] { b.emplace(rt.boost([](int) {}, o)); });
  CHECK(contains(warned, "file.txt/sub")); // the booster is made, and the user is told why
  CHECK(contains(warned, "outbox_dir"));   // and what to set
  faults::instance().publish_down = true;

  auto started = std::chrono::steady_clock::now();
  std::string error;
  try {
    b->push(1);
  } catch (const funboost::publish_error& e) {
    error = e.what();
  }
  CHECK(std::chrono::steady_clock::now() - started < 30s); // before the first retry was due
  CHECK(contains(error, "queue 'outbox_unusable'"));
  CHECK(contains(error, "could NOT be kept"));
  CHECK(contains(error, o.broker.outbox_dir));
  CHECK(contains(error, "outbox_dir")); // the fix
  CHECK_FALSE(contains(error, "kept in the outbox '"));

  // A push by message says the same in its receipt: an error status, not kept_in_outbox.
  caf::scoped_actor self{rt.system()};
  std::optional<funboost::push_receipt> receipt;
  self->request(rt.node(), 10s, funboost::push_atom_v, std::string{"outbox_unusable"},
                std::string{R"({"x":2})"}, funboost::task_options{})
    .receive([&](funboost::push_receipt& r) { receipt = std::move(r); },
             [&](caf::error& err) { FAIL("no receipt: " << rt.system().render(err)); });
  REQUIRE(receipt);
  CHECK(receipt->status == funboost::ec::broker_unreachable);
  CHECK(contains(receipt->detail, "could NOT be kept"));
  CHECK(contains(receipt->detail, o.broker.outbox_dir));
  CHECK(std::chrono::steady_clock::now() - started < 30s);
}

TEST_CASE("two boosters of one queue in one process share its outbox and send it once") {
  faults::instance().reset();
  auto o = outbox_queue("outbox_two_boosters", scratch_dir("two_boosters"));
  o.publish_retries = 0;
  o.publish_retry_interval = 20ms; // both replay timers fire often, and together
  funboost::runtime rt;
  auto consumer_side = rt.boost([](int) {}, o); // not consuming: the queue keeps the count
  auto publisher_side = rt.publisher(o);
  faults::instance().publish_down = true;
  constexpr int each = 300;
  for (int i = 0; i < each; ++i) {
    REQUIRE_FALSE(consumer_side.push(i).published());
    REQUIRE_FALSE(publisher_side.publish(R"({"x":)" + std::to_string(i) + "}").published());
  }
  faults::instance().publish_down = false;
  auto outbox_empty = [&] {
    std::error_code ec;
    return std::filesystem::is_empty(o.broker.outbox_dir, ec) || ec;
  };
  REQUIRE(wait_until(outbox_empty, 30s));
  // Both publishers are up once a push of each reaches the broker: their replays are over.
  int markers = 0;
  REQUIRE(wait_until([&] { return ++markers, consumer_side.push(-1).published(); }, 30s));
  REQUIRE(wait_until([&] { return ++markers, publisher_side.publish(R"({"x":-1})").published(); },
                     30s));
  REQUIRE(wait_until(outbox_empty, 30s)); // markers kept before that are delivered too
  CHECK(consumer_side.message_count() == 2 * each + markers);
}
