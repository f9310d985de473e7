// A scheduler process of the scheduled-push suite: knows QUEUE (a booster that does not
// consume) and runs a scheduler on the job store in PORT's db 7, until killed.
//   redis_scheduler_process PORT QUEUE
#include <cstdio>
#include <string>

#include <funboost/funboost.hpp>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s PORT QUEUE\n", argv[0]);
    return 2;
  }
  std::string url = "redis://127.0.0.1:" + std::string{argv[1]} + "/7";
  funboost::booster_options o;
  o.queue_name = argv[2];
  o.broker_kind = funboost::broker_kind::redis;
  o.broker.url = url;
  o.arg_names = {"x"};
  o.logging.level = funboost::log_level::error;
  o.logging.file_dir = "";
  funboost::runtime rt;
  auto b = rt.boost([](int) {}, o); // known here, consumed elsewhere
  rt.run_scheduler(url);
  rt.wait();
}
