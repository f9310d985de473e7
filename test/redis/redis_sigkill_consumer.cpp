// The consumer program the SIGKILL suite starts and kills:
//   redis_sigkill_consumer PORT KIND QUEUE quick|default
// It consumes QUEUE with 50 workers (so about 100 tasks are fetched and in flight) until killed.
#include <cstdio>
#include <string>

#include <funboost/funboost.hpp>

#include "redis_server.hpp"
#include "redis_test_support.hpp"
#include "sigkill_task.hpp"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s PORT KIND QUEUE quick|default\n", argv[0]);
    return 2;
  }
  funboost::test::sigkill_port = std::stoi(argv[1]);
  funboost::test::sigkill_queue = argv[3];
  funboost::booster_options o;
  o.queue_name = argv[3];
  o.broker_kind = argv[2];
  o.concurrent_num = 50;
  o.arg_names = {"i"};
  o.broker.url = "redis://127.0.0.1:" + std::string{argv[1]} + "/7";
  o.logging.level = funboost::log_level::error;
  o.logging.file_dir = "";
  if (std::string{argv[4]} == "quick")
    funboost::test::quick_recovery(o);
  funboost::runtime rt;
  auto b = rt.boost(funboost::test::sigkill_task, o);
  b.consume();
  rt.wait();
}
