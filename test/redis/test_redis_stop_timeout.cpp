// A consumer process whose task never returns, stopped by signals, on a REAL redis-server:
// SIGTERM stops it within stop_timeout (plus a margin) and the hung task is back in the Redis
// queue; a second SIGINT while it stops ends it at once (exit code 130), again with every task
// it had fetched back in the queue. Time limits here are only generous hang guards.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include <funboost/funboost.hpp>

#include "redis_client.hpp"
#include "redis_server.hpp"
#include "redis_test_support.hpp"

using namespace std::chrono_literals;
using funboost::test::redis_client;
using funboost::test::redis_server;
using funboost::test::wait_until;

namespace {

/// The consumer program (test/redis/redis_hung_consumer.cpp), ended by SIGKILL if the test
/// leaves it running.
class hung_consumer {
public:
  hung_consumer(int port, const std::string& queue, std::chrono::milliseconds stop_timeout) {
    const char* program = std::getenv("FUNBOOST_REDIS_HUNG_CONSUMER");
    REQUIRE_MESSAGE(program, "FUNBOOST_REDIS_HUNG_CONSUMER is not set; run through meson test");
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      auto p = std::to_string(port);
      auto t = std::to_string(stop_timeout.count());
      ::execl(program, program, p.c_str(), queue.c_str(), t.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }

  ~hung_consumer() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  void signal(int sig) { ::kill(pid_, sig); }

  /// Waits for the process to end, at most `limit`; its wait status, or nothing.
  std::optional<int> wait_exit(std::chrono::seconds limit) {
    int status = 0;
    exited_ = wait_until([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, limit);
    if (!exited_)
      return std::nullopt;
    return status;
  }

private:
  pid_t pid_ = -1;
  bool exited_ = false;
};

/// Messages fetched and not acked, across every consumer of the queue (their unack zsets).
long long unacked(redis_client& c, const std::string& queue) {
  long long sum = 0;
  for (const auto& key : c.strings({"SMEMBERS", "funboost_unack_registry:" + queue}))
    sum += c.integer({"ZCARD", key});
  return sum;
}

/// The "i" argument of every message waiting in the queue, sorted.
std::vector<int> waiting_args(redis_client& c, const std::string& queue) {
  std::vector<int> out;
  for (const auto& body : c.strings({"LRANGE", queue, "0", "-1"})) {
    auto at = body.find("\"i\":");
    REQUIRE(at != std::string::npos);
    out.push_back(std::stoi(body.substr(at + 4)));
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// Pushes tasks 0, 1, 2 (producer side only, in this process).
void push_three(const redis_server& server, const std::string& queue) {
  funboost::runtime rt;
  auto o = funboost::test::redis_options(server, funboost::broker_kind::redis, queue, {"i"});
  o.is_using_rpc_mode = false;
  auto b = rt.boost([](int) {}, o);
  b.clear();
  for (int i = 0; i < 3; ++i)
    REQUIRE(b.push(i).published());
}

/// Waits until the consumer runs one task (it hangs) and holds one more prefetched.
void wait_until_one_runs(redis_client& client, const std::string& queue) {
  REQUIRE(wait_until(
    [&] {
      return client.integer({"LLEN", "started:" + queue}) == 1
             && client.integer({"LLEN", queue}) == 1 && unacked(client, queue) == 2;
    },
    60s));
}

} // namespace

TEST_CASE("redis: SIGTERM stops a consumer whose task never returns after stop_timeout, and the "
          "task is back in the queue") {
  redis_server server;
  redis_client client{server.port()};
  const std::string queue = "stop_timeout_sigterm";
  push_three(server, queue);
  hung_consumer consumer{server.port(), queue, 1000ms};
  wait_until_one_runs(client, queue);

  consumer.signal(SIGTERM);
  auto status = consumer.wait_exit(60s); // stop_timeout is 1 s; the rest is margin
  REQUIRE_MESSAGE(status.has_value(), "the consumer did not exit after SIGTERM");
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0); // a graceful stop: main returned
  CHECK(waiting_args(client, queue) == std::vector<int>{0, 1, 2});
  CHECK(unacked(client, queue) == 0);
  CHECK(client.integer({"LLEN", "started:" + queue}) == 1); // it ran once, and will again
}

TEST_CASE("redis: a second SIGINT while stopping ends the consumer at once with code 130, its "
          "running and prefetched tasks back in the queue") {
  redis_server server;
  redis_client client{server.port()};
  const std::string queue = "stop_timeout_sigint_twice";
  push_three(server, queue);
  hung_consumer consumer{server.port(), queue, 600'000ms}; // the deadline can't be what ends it
  wait_until_one_runs(client, queue);

  consumer.signal(SIGINT);
  // The stop has begun when the prefetched task is back; the running one is waited for.
  REQUIRE(wait_until([&] { return client.integer({"LLEN", queue}) == 2; }, 60s));
  consumer.signal(SIGINT);
  auto status = consumer.wait_exit(60s);
  REQUIRE_MESSAGE(status.has_value(), "the consumer did not exit after a second SIGINT");
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 128 + SIGINT);
  CHECK(waiting_args(client, queue) == std::vector<int>{0, 1, 2});
  CHECK(unacked(client, queue) == 0);
}
