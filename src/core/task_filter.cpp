#include "core/task_filter.hpp"

#include <chrono>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace funboost::detail {

std::string task_filter_key(std::string_view queue, double expire_seconds) {
  std::string key{expire_seconds > 0 ? "filter_zset:" : "filter_set:"};
  key.append(queue);
  return key;
}

namespace {

/// How often remember() drops expired values of a queue: funboost's cleanup period.
constexpr double cleanup_period_seconds = 60;

/// The process-wide store: per funboost key, each value with the time it was remembered.
struct memory_store {
  struct entries {
    std::unordered_map<std::string, double> remembered_at;
    double last_cleanup = 0;
  };
  std::mutex mutex;
  std::unordered_map<std::string, entries> by_key;

  static memory_store& instance() {
    // Never destroyed: filters may still be used by threads that outlive static destruction.
    static auto* store = new memory_store;
    return *store;
  }
};

class memory_task_filter final : public task_filter {
public:
  memory_task_filter(double expire_seconds, unix_clock clock)
    : expire_(expire_seconds > 0 ? expire_seconds : 0),
      clock_(clock ? std::move(clock) : unix_clock{unix_now}) {}

  bool seen(const std::string& queue, const std::string& value) override {
    auto now = clock_();
    auto& store = memory_store::instance();
    std::lock_guard lock{store.mutex};
    auto key = store.by_key.find(task_filter_key(queue, expire_));
    if (key == store.by_key.end())
      return false;
    auto it = key->second.remembered_at.find(value);
    return it != key->second.remembered_at.end() && fresh(it->second, now);
  }

  void remember(const std::string& queue, const std::string& value) override {
    auto now = clock_();
    auto& store = memory_store::instance();
    std::lock_guard lock{store.mutex};
    auto& entries = store.by_key[task_filter_key(queue, expire_)];
    entries.remembered_at[value] = now;
    if (expire_ > 0 && now - entries.last_cleanup >= cleanup_period_seconds)
      drop_expired(entries, now);
  }

  std::size_t remove_expired(const std::string& queue) override {
    if (expire_ <= 0)
      return 0;
    auto now = clock_();
    auto& store = memory_store::instance();
    std::lock_guard lock{store.mutex};
    auto key = store.by_key.find(task_filter_key(queue, expire_));
    return key == store.by_key.end() ? 0 : drop_expired(key->second, now);
  }

  void clear(const std::string& queue) override {
    auto& store = memory_store::instance();
    std::lock_guard lock{store.mutex};
    store.by_key.erase(task_filter_key(queue, expire_));
  }

  double expire_seconds() const override { return expire_; }

  std::string describe() const override { return "in-memory task filter"; }

private:
  /// Younger than the expiry. The cleanup drops the rest: at or before now - expire, as
  /// funboost's ZREMRANGEBYSCORE 0 (now - expire) does.
  bool fresh(double remembered_at, double now) const {
    return expire_ <= 0 || remembered_at > now - expire_;
  }

  std::size_t drop_expired(memory_store::entries& entries, double now) const {
    entries.last_cleanup = now;
    return std::erase_if(entries.remembered_at,
                         [&](const auto& entry) { return !fresh(entry.second, now); });
  }

  double expire_;
  unix_clock clock_;
};

} // namespace

std::shared_ptr<task_filter> make_memory_task_filter(double expire_seconds, unix_clock clock) {
  return std::make_shared<memory_task_filter>(expire_seconds, std::move(clock));
}

} // namespace funboost::detail
