// The seed's example (section 6 of the gofunboost request), in C++ on the in-memory broker:
// two functions, two queues, conn_num fetchers, concurrent_num workers, qps and retries.
// Run: build/examples/seed_demo [--broker memory|redis|rabbitmq] [--url URL] [--seconds N]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include <funboost/funboost.hpp>

// An addition that takes a second, as in the seed.
int add(int x, int y) {
  int result = x + y;
  std::printf("计算 %d + %d = %d\n", x, y, result);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  return result;
}

void print_value(std::string a) {
  std::printf("打印值: %s\n", a.c_str());
}

int main(int argc, char** argv) {
  std::string broker = funboost::broker_kind::memory;
  std::string url;
  int seconds = 0; // 0: until Ctrl-C
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--broker"))
      broker = argv[i + 1];
    else if (!std::strcmp(argv[i], "--url"))
      url = argv[i + 1];
    else if (!std::strcmp(argv[i], "--seconds"))
      seconds = std::stoi(argv[i + 1]);
  }

  funboost::runtime rt;
  auto add_booster = rt.boost(add, {
    .queue_name = "queue_test2",
    .broker_kind = broker,
    .conn_num = 5,
    .concurrent_num = 50,
    .qps = 500,
    .max_retries = 3,
    .is_using_rpc_mode = true,
    .arg_names = {"x", "y"},
    .broker = {.url = url, .transport_options = {{"special1", 123LL}}},
  });
  auto print_booster = rt.boost(print_value, {
    .queue_name = "queue_test33",
    .broker_kind = broker,
    .conn_num = 5, // five connections fetch; never one per worker
    .concurrent_num = 20,
    .qps = 500,
    .max_retries = 3,
    .arg_names = {"a"},
    .broker = {.url = url,
               .transport_options = {{"special1", 123LL}, {"special2", std::string{"aaaa"}}}},
  });

  add_booster.consume();   // starts the queue's actors; returns at once
  print_booster.consume();

  auto r = add_booster.push(1, 2);
  print_booster.push("hello world");
  for (int i = 0; i < 100; ++i) {
    add_booster.push(i, i * 2);
    print_booster.push("message " + std::to_string(i));
  }
  std::printf("add(1, 2) through the queue = %d (RPC result)\n", r.get(std::chrono::seconds(30)));
  std::printf("add(1, 2) as a plain call   = %d\n", add_booster(1, 2));

  if (seconds > 0) {
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    rt.shutdown();
  }
  rt.wait(); // until Ctrl-C (or --seconds), then a graceful stop
  std::printf("stopped: %zu add and %zu print tasks left in their queues\n",
              add_booster.message_count(), print_booster.message_count());
}
