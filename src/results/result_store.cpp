#include "results/result_store.hpp"

#include <mutex>
#include <unordered_map>

namespace funboost::detail {

namespace {

struct factories {
  std::mutex mutex;
  std::unordered_map<std::string, result_store_factory> by_scheme;

  static factories& instance() {
    static factories f;
    return f;
  }
};

} // namespace

void register_result_store(const std::string& scheme, result_store_factory factory) {
  auto& f = factories::instance();
  std::lock_guard guard{f.mutex};
  f.by_scheme[scheme] = std::move(factory);
}

result_store_factory find_result_store(const std::string& scheme) {
  auto& f = factories::instance();
  std::lock_guard guard{f.mutex};
  auto i = f.by_scheme.find(scheme);
  return i == f.by_scheme.end() ? nullptr : i->second;
}

} // namespace funboost::detail
