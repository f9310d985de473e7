// The consumer program the SIGKILL and poison suites start and kill:
//   redis_sigkill_consumer PORT KIND QUEUE quick|default|slow_heartbeat [poison]
// It consumes QUEUE with 50 workers (so about 100 tasks are fetched and in flight) until killed.
// With "poison": 20 workers, 100 ms tasks, and task -1 aborts the process (a poison task).
#include <cstdio>
#include <string>

#include <funboost/funboost.hpp>

#include "redis_server.hpp"
#include "redis_test_support.hpp"
#include "sigkill_task.hpp"

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    std::fprintf(stderr, "usage: %s PORT KIND QUEUE quick|default|slow_heartbeat [poison]\n",
                 argv[0]);
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
  if (std::string{argv[4]} == "slow_heartbeat")
    funboost::test::slow_heartbeat(o);
  bool poison = argc == 6 && std::string{argv[5]} == "poison";
  if (poison) {
    o.concurrent_num = 20;
    funboost::test::sigkill_task_time = std::chrono::milliseconds{100};
  }
  funboost::runtime rt;
  auto b = rt.boost(poison ? funboost::test::poison_task : funboost::test::sigkill_task, o);
  b.consume();
  rt.wait();
}
