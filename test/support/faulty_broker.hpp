// A broker in front of the in-memory one that fails on demand, as a broker that is down would:
// the next N fetches throw, or every publish throws while `publish_down` is set (which it
// sets itself after `publishes_until_down` more publish calls, for an outage mid-way).
// Registered as its own kind ("faulty"), like any user broker: no core change needed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include <funboost/funboost.hpp>

namespace test_support {

struct faults {
  std::mutex mutex;
  int fetch_failures_left = 0;
  std::vector<std::chrono::steady_clock::time_point> fetch_failed_at;
  int connects = 0;
  std::atomic<bool> publish_down{false};
  std::atomic<int> publish_failures{0};
  std::atomic<int> publishes_until_down{0}; // > 0: the broker goes down after that many calls
  // A slow broker: publish calls wait while held (on the publisher's thread), and are counted.
  std::mutex gate_mutex;
  std::condition_variable gate_cv;
  bool publish_held = false;
  std::atomic<int> publish_calls{0};
  std::atomic<std::size_t> largest_publish{0};

  void hold_publishes(bool held) {
    {
      std::lock_guard g{gate_mutex};
      publish_held = held;
    }
    gate_cv.notify_all();
  }

  static faults& instance() {
    static faults f;
    return f;
  }
  void reset() {
    std::lock_guard g{mutex};
    fetch_failures_left = 0;
    fetch_failed_at.clear();
    connects = 0;
    publish_down = false;
    publish_failures = 0;
    publishes_until_down = 0;
    hold_publishes(false);
    publish_calls = 0;
    largest_publish = 0;
  }
};

class faulty_connection final : public funboost::broker_connection {
public:
  explicit faulty_connection(std::unique_ptr<funboost::broker_connection> inner)
    : inner_(std::move(inner)) {}
  void publish(const std::string& q, std::span<const std::string> b) override {
    auto& f = faults::instance();
    {
      std::unique_lock l{f.gate_mutex};
      f.gate_cv.wait(l, [&] { return !f.publish_held; });
    }
    ++f.publish_calls;
    if (b.size() > f.largest_publish)
      f.largest_publish = b.size();
    if (f.publish_down) {
      ++f.publish_failures;
      throw funboost::broker_error("faulty broker: down");
    }
    inner_->publish(q, b);
    if (f.publishes_until_down > 0 && --f.publishes_until_down == 0)
      f.publish_down = true;
  }
  std::size_t fetch(const std::string& q, std::size_t max, std::chrono::milliseconds wait,
                    std::vector<funboost::fetched_message>& out) override {
    {
      auto& f = faults::instance();
      std::lock_guard g{f.mutex};
      if (f.fetch_failures_left > 0) {
        --f.fetch_failures_left;
        f.fetch_failed_at.push_back(std::chrono::steady_clock::now());
        throw funboost::broker_error("faulty broker: connection lost");
      }
    }
    return inner_->fetch(q, max, wait, out);
  }
  void ack(const std::string& q, std::span<const uint64_t> t) override { inner_->ack(q, t); }
  void requeue(const std::string& q, std::span<const funboost::fetched_message> m) override {
    inner_->requeue(q, m);
  }
  std::size_t count(const std::string& q) override { return inner_->count(q); }
  void clear(const std::string& q) override { inner_->clear(q); }

private:
  std::unique_ptr<funboost::broker_connection> inner_;
};

class faulty_broker final : public funboost::broker {
public:
  explicit faulty_broker(std::shared_ptr<funboost::broker> inner) : inner_(std::move(inner)) {}
  std::unique_ptr<funboost::broker_connection> connect() override {
    {
      auto& f = faults::instance();
      std::lock_guard g{f.mutex};
      ++f.connects;
    }
    return std::make_unique<faulty_connection>(inner_->connect());
  }

private:
  std::shared_ptr<funboost::broker> inner_;
};

/// Registers the "faulty" kind (idempotent) and returns options for a queue on it.
inline funboost::booster_options faulty_queue(funboost::booster_options o) {
  funboost::register_broker("faulty", [](const funboost::booster_options& options) {
    auto inner = options;
    inner.broker_kind = funboost::broker_kind::memory;
    return std::make_shared<faulty_broker>(funboost::make_broker(inner));
  });
  o.broker_kind = "faulty";
  return o;
}

} // namespace test_support
