// The consumer program of the delayed-task suite, started several times and killed by it:
//   redis_delay_consumer PORT KIND QUEUE
// Task (i, due): records RPUSH ran:{QUEUE} "i lateness" (lateness = now - due, seconds), so the
// test counts runs per task across processes and sees that none ran before its time.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include <funboost/funboost.hpp>

#include "redis_client.hpp"

namespace {

int port = 0;
std::string queue;

void record_run(int i, double due) {
  auto now =
    std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  thread_local std::unique_ptr<funboost::test::redis_client> client;
  if (!client)
    client = std::make_unique<funboost::test::redis_client>(port, 7);
  char text[64];
  std::snprintf(text, sizeof text, "%d %.6f", i, now - due);
  client->run({"RPUSH", "ran:" + queue, text});
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s PORT KIND QUEUE\n", argv[0]);
    return 2;
  }
  port = std::stoi(argv[1]);
  queue = argv[3];
  funboost::booster_options o;
  o.queue_name = queue;
  o.broker_kind = argv[2];
  o.concurrent_num = 8;
  o.arg_names = {"i", "due"};
  o.broker.url = "redis://127.0.0.1:" + std::string{argv[1]} + "/7";
  o.logging.level = funboost::log_level::error;
  o.logging.file_dir = "";
  funboost::runtime rt;
  auto b = rt.boost(record_run, o);
  b.consume();
  rt.wait();
}
