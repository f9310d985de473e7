// The consumer program the stop-timeout suite starts and signals:
//   redis_hung_consumer PORT QUEUE STOP_TIMEOUT_MS
// It consumes QUEUE (broker "redis", db 7) with one worker and prefetch 2, so one task runs and
// one waits, with a function that never returns: it records that it started (RPUSH
// started:{queue} i) and then waits on a condition nothing ever signals (no busy loop). It
// consumes only once runtime::wait() has installed its SIGINT/SIGTERM handlers, so a signal
// the test sends after a task started is never the default action's.
#include <signal.h>

#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <funboost/funboost.hpp>

#include "redis_client.hpp"

namespace {

int port = 0;
std::string queue;

void never_returns(int i) {
  thread_local std::unique_ptr<funboost::test::redis_client> client;
  if (!client)
    client = std::make_unique<funboost::test::redis_client>(port, 7);
  client->run({"RPUSH", "started:" + queue, std::to_string(i)});
  // On the heap and never freed: a static condition variable would be destroyed at exit while
  // this thread waits on it, and glibc's destructor then waits for the waiter (see README).
  static auto* mtx = new std::mutex;
  static auto* never_signalled = new std::condition_variable;
  std::unique_lock lock{*mtx};
  never_signalled->wait(lock, [] { return false; });
}

bool stop_handlers_installed() {
  struct sigaction current {};
  ::sigaction(SIGTERM, nullptr, &current); // runtime::wait() installs SIGINT, then SIGTERM
  return current.sa_handler != SIG_DFL;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s PORT QUEUE STOP_TIMEOUT_MS\n", argv[0]);
    return 2;
  }
  port = std::stoi(argv[1]);
  queue = argv[2];
  funboost::booster_options o;
  o.queue_name = queue;
  o.broker_kind = funboost::broker_kind::redis;
  o.broker.url = "redis://127.0.0.1:" + std::to_string(port) + "/7";
  o.concurrent_num = 1;
  o.prefetch_per_worker = 2;
  o.arg_names = {"i"};
  o.stop_timeout = std::chrono::milliseconds(std::stoll(argv[3]));
  o.logging.level = funboost::log_level::warn; // the stop's warnings show in the test's log
  o.logging.file_dir = "";
  o.logging.stats_interval = std::chrono::seconds(0);
  funboost::runtime rt;
  auto b = rt.boost(never_returns, o);
  std::thread starter([&] {
    while (!stop_handlers_installed())
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    b.consume();
  });
  rt.wait();
  starter.join();
  return 0;
}
