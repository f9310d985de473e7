#include "brokers/memory/memory_broker.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

namespace funboost::brokers {

namespace {

struct memory_queue {
  std::mutex mutex;
  std::condition_variable not_empty;
  std::deque<std::string> messages;
};

/// Every queue of the process, by name. Queues live as long as the process.
class memory_queues {
public:
  static memory_queues& instance() {
    static memory_queues queues;
    return queues;
  }

  memory_queue& get(const std::string& name) {
    std::lock_guard guard{mutex_};
    auto& q = queues_[name];
    if (!q)
      q = std::make_unique<memory_queue>();
    return *q;
  }

private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::unique_ptr<memory_queue>> queues_;
};

/// Like a RabbitMQ channel: what it fetched stays its own until acked, and what it never acked
/// goes back to the head of the queue when it closes (a fetcher killed mid-batch loses nothing).
class memory_connection final : public broker_connection {
public:
  ~memory_connection() override {
    std::vector<fetched_message> back;
    for (auto& m : unacked_)
      if (m.delivery_tag != 0)
        back.push_back(std::move(m));
    if (!back.empty() && fetched_from_)
      give_back(*fetched_from_, back);
  }

  void publish(const std::string& queue, std::span<const std::string> bodies) override {
    auto& q = lookup(queue);
    {
      std::lock_guard guard{q.mutex};
      q.messages.insert(q.messages.end(), bodies.begin(), bodies.end());
    }
    q.not_empty.notify_all();
  }

  std::size_t fetch(const std::string& queue, std::size_t max, std::chrono::milliseconds wait,
                    std::vector<fetched_message>& out) override {
    auto& q = lookup(queue);
    std::size_t first = out.size();
    {
      std::unique_lock lock{q.mutex};
      if (!q.not_empty.wait_for(lock, wait, [&] { return !q.messages.empty(); }))
        return 0;
      std::size_t n = std::min(max, q.messages.size());
      for (std::size_t i = 0; i < n; ++i) {
        out.push_back({std::move(q.messages.front()), 0});
        q.messages.pop_front();
      }
    }
    // Outside the lock (pushers wait on it): keep a copy of each until it is acked.
    fetched_from_ = &q;
    for (std::size_t i = first; i < out.size(); ++i) {
      out[i].delivery_tag = first_tag_ + unacked_.size();
      unacked_.push_back(out[i]);
    }
    return out.size() - first;
  }

  void ack(const std::string&, std::span<const uint64_t> delivery_tags) override {
    for (auto tag : delivery_tags)
      settle(tag);
  }

  void requeue(const std::string& queue, std::span<const fetched_message> messages) override {
    for (const auto& m : messages)
      settle(m.delivery_tag);
    give_back(lookup(queue), messages);
  }

  std::size_t count(const std::string& queue) override {
    auto& q = lookup(queue);
    std::lock_guard guard{q.mutex};
    return q.messages.size();
  }

  void clear(const std::string& queue) override {
    auto& q = lookup(queue);
    std::lock_guard guard{q.mutex};
    q.messages.clear();
  }

private:
  /// Back at the head, in their original order: they were fetched first.
  static void give_back(memory_queue& q, std::span<const fetched_message> messages) {
    {
      std::lock_guard guard{q.mutex};
      for (auto i = messages.rbegin(); i != messages.rend(); ++i)
        q.messages.push_front(i->body);
    }
    q.not_empty.notify_all();
  }

  /// Forgets an unacked message (tag 0 marks a settled slot; settled ones leave from the front).
  void settle(uint64_t tag) {
    if (tag < first_tag_ || tag >= first_tag_ + unacked_.size())
      return;
    auto& m = unacked_[tag - first_tag_];
    m.delivery_tag = 0;
    m.body = std::string{};
    while (!unacked_.empty() && unacked_.front().delivery_tag == 0) {
      unacked_.pop_front();
      ++first_tag_;
    }
  }

  /// Caches the last queue looked up: a connection nearly always serves one queue.
  memory_queue& lookup(const std::string& queue) {
    if (!last_ || queue != last_name_) {
      last_ = &memory_queues::instance().get(queue);
      last_name_ = queue;
    }
    return *last_;
  }

  memory_queue* last_ = nullptr;
  std::string last_name_;
  std::deque<fetched_message> unacked_; // by tag - first_tag_; tags start at 1
  uint64_t first_tag_ = 1;
  memory_queue* fetched_from_ = nullptr; // a connection fetches from one queue only
};

class memory_broker final : public broker {
public:
  std::unique_ptr<broker_connection> connect() override {
    return std::make_unique<memory_connection>();
  }
  std::string address() const override { return "in-process memory"; }
};

} // namespace

std::shared_ptr<broker> make_memory_broker(const booster_options&) {
  return std::make_shared<memory_broker>();
}

} // namespace funboost::brokers
