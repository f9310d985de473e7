#include "core/direct_publisher.hpp"

namespace funboost::detail {

direct_publisher::direct_publisher(queue_context_ptr ctx) : ctx_(std::move(ctx)) {}

void direct_publisher::call_connection(const std::function<void(broker_connection&)>& f) {
  std::lock_guard guard{connection_mutex_};
  try {
    if (!connection_)
      connection_ = ctx_->broker->connect();
    f(*connection_);
  } catch (...) {
    connection_.reset(); // reconnect next time
    throw;
  }
}

void direct_publisher::with_connection(const std::function<void(broker_connection&)>& f) {
  try {
    call_connection(f);
  } catch (const std::exception&) {
    call_connection(f); // the broker may have restarted since we last used the connection
  }
}

std::string direct_publisher::publish_once(std::span<const std::string> bodies) {
  try {
    with_connection([&](broker_connection& c) { publish_in_batches(c, ctx_->queue(), bodies); });
    return {};
  } catch (const std::exception& e) {
    return e.what();
  }
}

std::string direct_publisher::publish(std::vector<std::string>& bodies) {
  {
    // Fast path, the common case of one pushing thread: nobody is on the wire, so go at once.
    std::unique_lock lock{gather_mutex_};
    if (!flushing_ && waiting_.empty()) {
      flushing_ = true;
      lock.unlock();
      auto failure = publish_once(bodies);
      lock.lock();
      flushing_ = false;
      if (!waiting_.empty())
        gathered_.notify_all(); // someone gathered meanwhile: one of them carries the next batch
      return failure;
    }
  }
  batch mine{&bodies, {}, false};
  std::unique_lock lock{gather_mutex_};
  waiting_.push_back(&mine);
  while (!mine.done) {
    if (flushing_) {
      gathered_.wait(lock);
      continue;
    }
    // This thread carries everything gathered so far in one broker call. The bodies are
    // copied, not moved: a refused batch goes back to each caller whole.
    flushing_ = true;
    std::vector<batch*> group;
    std::vector<std::string> all;
    while (!waiting_.empty()
           && (all.empty() || all.size() + waiting_.front()->bodies->size() <= max_publish_batch)) {
      auto* b = waiting_.front();
      waiting_.pop_front();
      all.insert(all.end(), b->bodies->begin(), b->bodies->end());
      group.push_back(b);
    }
    lock.unlock();
    auto failure = publish_once(all);
    lock.lock();
    for (auto* b : group) {
      b->failure = failure;
      b->done = true;
    }
    flushing_ = false;
    gathered_.notify_all();
  }
  return mine.failure;
}

} // namespace funboost::detail
