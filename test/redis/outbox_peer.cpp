// The program the outbox suite runs several of at once on one outbox directory:
//   outbox_peer replay PORT QUEUE DIR GOFILE
//       Waits for GOFILE (so peers start together), then makes a publisher of QUEUE on the
//       redis-server at PORT, which replays the outbox it finds; exits 0 once the directory
//       holds nothing of QUEUE's outbox.
//   outbox_peer append PORT QUEUE DIR READYFILE STOPFILE COUNTFILE
//       PORT has no server, so every push is kept in the outbox. Pushes until STOPFILE exists
//       (creating READYFILE after the first one), then writes how many it pushed to COUNTFILE.
// Exit codes other than 0 say what went wrong (see the returns).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include <funboost/funboost.hpp>

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

funboost::booster_options peer_options(const std::string& port, const std::string& queue,
                                       const std::string& dir) {
  funboost::booster_options o;
  o.queue_name = queue;
  o.broker_kind = funboost::broker_kind::redis;
  o.broker.url = "redis://127.0.0.1:" + port + "/7";
  o.broker.outbox_dir = dir;
  o.publish_retries = 0;
  o.publish_retry_interval = 50ms; // also how often the outbox is replayed
  o.logging.level = funboost::log_level::off;
  o.logging.file_dir = "";
  return o;
}

/// Nothing of the queue's outbox is left: no outbox file, no claim of a replay.
bool outbox_empty(const std::string& dir, const std::string& queue) {
  std::error_code ec;
  for (fs::directory_iterator it{dir, ec}, end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().starts_with(queue + ".outbox"))
      return false;
  return true;
}

bool wait_for(const std::function<bool()>& done, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

int replay(char** argv) {
  std::string port = argv[2], queue = argv[3], dir = argv[4], go = argv[5];
  funboost::runtime rt;
  if (!wait_for([&] { return fs::exists(go); }, 60s))
    return 3;
  auto publisher = rt.publisher(peer_options(port, queue, dir));
  return wait_for([&] { return outbox_empty(dir, queue); }, 60s) ? 0 : 4;
}

int append(char** argv) {
  std::string port = argv[2], queue = argv[3], dir = argv[4], ready = argv[5], stop = argv[6],
              count_file = argv[7];
  funboost::runtime rt;
  auto publisher = rt.publisher(peer_options(port, queue, dir));
  long pushed = 0;
  while (!fs::exists(stop)) {
    try {
      auto r = publisher.publish(R"({"x":)" + std::to_string(pushed) + R"(,"from":"appender"})");
      if (r.published())
        return 5; // nothing listens on PORT: it cannot have been published
    } catch (const std::exception& e) {
      std::fprintf(stderr, "outbox_peer append: %s\n", e.what());
      return 6; // not kept
    }
    if (++pushed == 1)
      std::ofstream{ready} << "1\n";
  }
  std::ofstream{count_file} << pushed << "\n";
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "replay" && argc == 6)
    return replay(argv);
  if (mode == "append" && argc == 8)
    return append(argv);
  std::fprintf(stderr, "usage: %s replay PORT QUEUE DIR GOFILE\n"
                       "       %s append PORT QUEUE DIR READYFILE STOPFILE COUNTFILE\n",
               argv[0], argv[0]);
  return 2;
}
