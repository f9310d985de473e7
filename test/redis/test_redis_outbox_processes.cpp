// Several processes on one outbox directory and one REAL redis-server: two processes replaying
// the same outbox at once deliver every task exactly once, and what a third process appends
// while a replay runs is delivered too, never deleted with the replayed lines. The processes
// are test/redis/outbox_peer.cpp; the count is taken on the queue in Redis.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "redis_client.hpp"
#include "redis_server.hpp"

using namespace std::chrono_literals;
using funboost::test::redis_client;
using funboost::test::redis_server;
using funboost::test::wait_until;

namespace {

pid_t start_peer(std::vector<std::string> args) {
  const char* program = std::getenv("FUNBOOST_OUTBOX_PEER");
  REQUIRE_MESSAGE(program, "FUNBOOST_OUTBOX_PEER is not set; run through meson test");
  args.insert(args.begin(), program);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(program, argv.data());
    ::_exit(127);
  }
  return pid;
}

/// The peer's exit code, or -1 if it did not end within a minute (it is killed then).
int exit_code_of(pid_t pid) {
  int status = 0;
  if (!wait_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, 60s)) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// An outbox as an earlier process left it: `n` funboost messages, one per line.
void seed_outbox(const std::string& dir, const std::string& queue, int n) {
  std::filesystem::create_directories(dir);
  std::ofstream out{dir + "/" + queue + ".outbox"};
  for (int i = 0; i < n; ++i)
    out << R"({"x":)" << i << R"(,"extra":{"task_id":"seed-)" << i << R"("}})" << '\n';
}

/// A claim of a replay is in `dir`: `{queue}.outbox.replaying-...`.
bool has_claim(const std::string& dir, const std::string& queue) {
  std::error_code ec;
  for (std::filesystem::directory_iterator it{dir, ec}, end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().starts_with(queue + ".outbox.replaying-"))
      return true;
  return false;
}

std::size_t distinct(const std::vector<std::string>& bodies) {
  return std::set<std::string>(bodies.begin(), bodies.end()).size();
}

} // namespace

TEST_CASE("two processes replaying one outbox at once deliver every task exactly once") {
  redis_server server;
  redis_client client{server.port()};
  const std::string queue = "outbox_two_replayers";
  const auto dir = server.dir() + "/outbox";
  const auto go = server.dir() + "/go";
  constexpr int n = 50'000; // each replay takes long enough to overlap the other's
  seed_outbox(dir, queue, n);
  auto port = std::to_string(server.port());
  pid_t a = start_peer({"replay", port, queue, dir, go});
  pid_t b = start_peer({"replay", port, queue, dir, go});
  std::ofstream{go} << "go\n"; // both runtimes are up, or nearly: they start replaying together
  CHECK(exit_code_of(a) == 0);
  CHECK(exit_code_of(b) == 0);
  CHECK(client.integer({"LLEN", queue}) == n);
  CHECK(distinct(client.strings({"LRANGE", queue, "0", "-1"})) == n);
}

TEST_CASE("what a process appends while another replays the outbox is delivered too") {
  redis_server server;
  redis_client client{server.port()};
  const std::string queue = "outbox_append_during_replay";
  const auto dir = server.dir() + "/outbox";
  const auto ready = server.dir() + "/ready", stop = server.dir() + "/stop",
             count = server.dir() + "/count", go = server.dir() + "/go";
  constexpr int seeded = 50'000;
  seed_outbox(dir, queue, seeded);
  auto port = std::to_string(server.port());
  auto nobody = std::to_string(test_support::free_port()); // the appender's broker is down

  pid_t appender = start_peer({"append", nobody, queue, dir, ready, stop, count});
  REQUIRE(wait_until([&] { return std::filesystem::exists(ready); }, 60s));
  // The appender is down, so its replay leaves what it took (the seeded lines first) in a
  // claim. A replay takes every claim it lists before it looks at the outbox file, so the
  // replayer cannot end its replay without the seeded lines, as it could if the appender
  // renamed the seeded file between the replayer's listing and its look at the file.
  REQUIRE(wait_until([&] { return has_claim(dir, queue); }, 60s));
  std::ofstream{go} << "go\n";
  pid_t replayer = start_peer({"replay", port, queue, dir, go}); // while the appender appends
  CHECK(wait_until([&] { return client.integer({"LLEN", queue}) >= seeded; }, 60s));
  std::ofstream{stop} << "stop\n";
  CHECK(exit_code_of(appender) == 0);
  // The replayer's publisher is up: it replays when made and then looks at the outbox every
  // publish_retry_interval. The peer's exit waits for an empty outbox, which a poll can miss
  // between two appends; the last replayer starts now, before we wait for the first: both end
  // once nothing is left, whichever sent the rest. (Started only after the replayer had ended,
  // it could not help it: the replayer waited 60 s and ended with 4.)
  pid_t last = start_peer({"replay", port, queue, dir, go});
  CHECK(exit_code_of(replayer) == 0);
  CHECK(exit_code_of(last) == 0);
  long appended = 0;
  std::ifstream{count} >> appended;
  CHECK(appended > 0);

  auto bodies = client.strings({"LRANGE", queue, "0", "-1"});
  CHECK(bodies.size() == seeded + static_cast<std::size_t>(appended));
  CHECK(distinct(bodies) == bodies.size());
}
