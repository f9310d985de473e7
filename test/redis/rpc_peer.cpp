// The other process of the cross-process RPC suite:
//   rpc_peer PORT consume QUEUE          consumes QUEUE (add in RPC mode) until SIGTERM
//   rpc_peer PORT produce QUEUE N        pushes N add(i, i) tasks in RPC mode, waits for each
//                                        result and prints "ok N" when all were right
#include <cstdio>
#include <string>

#include <funboost/funboost.hpp>

namespace {

int add(int x, int y) {
  return x + y;
}

funboost::booster_options options(const std::string& port, const std::string& queue) {
  funboost::booster_options o;
  o.queue_name = queue;
  o.broker_kind = funboost::broker_kind::redis;
  o.concurrent_num = 16;
  o.is_using_rpc_mode = true;
  o.arg_names = {"x", "y"};
  o.function_name = "add";
  o.broker.url = "redis://127.0.0.1:" + port + "/7";
  o.logging.level = funboost::log_level::error;
  o.logging.file_dir = "";
  return o;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s PORT consume|produce QUEUE [N]\n", argv[0]);
    return 2;
  }
  std::string mode = argv[2];
  funboost::runtime rt;
  auto b = rt.boost(add, options(argv[1], argv[3]));
  if (mode == "consume") {
    b.consume();
    std::printf("consuming\n");
    std::fflush(stdout);
    rt.wait();
    return 0;
  }
  int n = argc > 4 ? std::stoi(argv[4]) : 10;
  std::vector<funboost::async_result<int>> results;
  for (int i = 0; i < n; ++i)
    results.push_back(b.push(i, i));
  int right = 0;
  for (int i = 0; i < n; ++i)
    if (results[static_cast<std::size_t>(i)].get(std::chrono::seconds(60)) == 2 * i)
      ++right;
  std::printf("ok %d\n", right);
  return right == n ? 0 : 1;
}
