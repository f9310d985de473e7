// Builds against the INSTALLED library (pkg-config funboost), as another project would.
// Pushes a few tasks, consumes them with RPC results, exits 0 when every result is right.
#include <chrono>
#include <cstdio>

#include <funboost/funboost.hpp>

int square(int x) {
  return x * x;
}

int main() {
  funboost::runtime rt;
  auto b = rt.boost(square, {.queue_name = "installed_square",
                             .concurrent_num = 4,
                             .is_using_rpc_mode = true,
                             .arg_names = {"x"},
                             .logging = {.level = funboost::log_level::warn, .file_dir = ""}});
  b.consume();
  for (int i = 0; i < 10; ++i) {
    if (b.push(i).get(std::chrono::seconds(10)) != i * i) {
      std::fprintf(stderr, "wrong result for %d\n", i);
      return 1;
    }
  }
  std::puts("installed library: 10 of 10 results right");
  return 0;
}
