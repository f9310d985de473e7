// The consumer program the rabbitmq poison suite starts and lets die:
//   rabbitmq_poison_consumer PORT QUEUE DONE_DIR
// It consumes QUEUE on the rabbitmq-server at 127.0.0.1:PORT with 20 workers and 100 ms tasks;
// task -1 aborts the process (a poison task), every other task i creates DONE_DIR/i when it
// completes, so the test counts completions across processes.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <funboost/funboost.hpp>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s PORT QUEUE DONE_DIR\n", argv[0]);
    return 2;
  }
  const std::string done_dir = argv[3];
  funboost::booster_options o;
  o.queue_name = argv[2];
  o.broker_kind = funboost::broker_kind::rabbitmq;
  o.broker.url = "amqp://guest:guest@127.0.0.1:" + std::string{argv[1]} + "/";
  o.concurrent_num = 20;
  o.arg_names = {"i"};
  o.logging.level = funboost::log_level::error;
  o.logging.file_dir = "";
  funboost::runtime rt;
  auto b = rt.boost(
    [done_dir](int i) {
      if (i < 0)
        std::abort();
      std::this_thread::sleep_for(std::chrono::milliseconds{100});
      int fd = ::open((done_dir + "/" + std::to_string(i)).c_str(), O_WRONLY | O_CREAT, 0644);
      if (fd >= 0)
        ::close(fd);
    },
    o);
  b.consume();
  rt.wait();
}
