// The delay store of brokers that keep no delayed messages themselves (memory, rabbitmq): this
// process's memory, by queue name, so every booster of a queue in the process shares it and a
// restarted queue finds what its previous actors kept.
#include <funboost/broker.hpp>
#include <funboost/delay_store.hpp>

#include <map>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

namespace funboost {

namespace {

struct kept_queue {
  std::multimap<double, delayed_message> by_due;
  std::unordered_set<std::string> bodies; // adding a kept body again changes nothing
};

class process_delays {
public:
  static process_delays& instance() {
    static process_delays delays;
    return delays;
  }

  void add(const std::string& queue, std::span<const delayed_message> messages) {
    std::lock_guard guard{mutex_};
    auto& q = queues_[queue];
    for (const auto& m : messages)
      if (q.bodies.insert(m.body).second)
        q.by_due.emplace(m.due, m);
  }

  /// Takes up to `max` due messages: the ones to fire into `fire`, the misfired ones into
  /// `result.missed`.
  void take_due(const std::string& queue, double now, std::size_t max,
                std::vector<delayed_message>& fire, fire_result& result) {
    std::lock_guard guard{mutex_};
    auto& q = queues_[queue];
    auto it = q.by_due.begin();
    for (; it != q.by_due.end() && it->first <= now && fire.size() + result.missed.size() < max;
         ++it) {
      q.bodies.erase(it->second.body);
      auto& m = it->second;
      if (m.misfire_grace > 0 && now - m.due > m.misfire_grace)
        result.missed.push_back(std::move(m.body));
      else
        fire.push_back(std::move(m));
    }
    q.by_due.erase(q.by_due.begin(), it);
    if (!q.by_due.empty())
      result.next_due = q.by_due.begin()->first;
  }

private:
  std::mutex mutex_;
  std::unordered_map<std::string, kept_queue> queues_;
};

class process_delay_store final : public delay_store {
public:
  explicit process_delay_store(broker& b) : broker_(b) {}

  void add(const std::string& queue, std::span<const delayed_message> messages) override {
    process_delays::instance().add(queue, messages);
  }

  fire_result fire(const std::string& queue, double now, std::size_t max) override {
    fire_result result;
    std::vector<delayed_message> due;
    process_delays::instance().take_due(queue, now, max, due, result);
    if (due.empty())
      return result;
    std::vector<std::string> bodies;
    bodies.reserve(due.size());
    for (const auto& m : due)
      bodies.push_back(m.body);
    try {
      if (!connection_)
        connection_ = broker_.connect();
      connection_->publish(queue, bodies);
    } catch (...) {
      connection_.reset();
      process_delays::instance().add(queue, due); // kept for the next try, nothing lost
      throw;
    }
    result.fired = due.size();
    return result;
  }

private:
  broker& broker_;
  std::unique_ptr<broker_connection> connection_;
};

} // namespace

std::unique_ptr<delay_store> make_process_delay_store(broker& b) {
  return std::make_unique<process_delay_store>(b);
}

} // namespace funboost
