#include "core/publisher.hpp"

#include <thread>

#include "core/outbox.hpp"

namespace funboost::detail {

namespace {

/// Most messages one broker call carries (funboost batches RPUSH by 1000 too).
constexpr std::size_t max_batch = 1000;

} // namespace

publisher::publisher(queue_context_ptr ctx) : ctx_(std::move(ctx)) {
  outbox_ = std::make_unique<outbox>(ctx_, [this](std::vector<std::string>& bodies) {
    for (std::size_t i = 0; i < bodies.size(); i += max_batch) {
      auto n = std::min(max_batch, bodies.size() - i);
      with_connection([&](broker_connection& c) {
        c.publish(ctx_->queue(), std::span{bodies.data() + i, n});
      });
    }
  });
}

publisher::~publisher() = default;

void publisher::call_connection(const std::function<void(broker_connection&)>& f) {
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

void publisher::with_connection(const std::function<void(broker_connection&)>& f) {
  try {
    call_connection(f);
  } catch (const std::exception&) {
    call_connection(f); // the broker may have restarted since we last used the connection
  }
}

std::string publisher::publish(std::vector<std::string> bodies) {
  {
    // Fast path, the common case of one pushing thread: nobody is on the wire, so go at once.
    std::unique_lock lock{gather_mutex_};
    if (!flushing_ && waiting_.empty()) {
      flushing_ = true;
      lock.unlock();
      auto failure = publish_with_retries(bodies);
      lock.lock();
      flushing_ = false;
      if (!waiting_.empty())
        gathered_.notify_all(); // someone gathered meanwhile: one of them carries the next batch
      return failure;
    }
  }
  auto mine = std::make_shared<batch>();
  mine->bodies = std::move(bodies);
  std::unique_lock lock{gather_mutex_};
  waiting_.push_back(mine);
  while (!mine->done) {
    if (flushing_) {
      gathered_.wait(lock);
      continue;
    }
    // This thread carries everything gathered so far in one broker call.
    flushing_ = true;
    std::vector<std::shared_ptr<batch>> group;
    std::vector<std::string> all;
    while (!waiting_.empty() && (all.empty() || all.size() + waiting_.front()->bodies.size() <= max_batch)) {
      auto b = std::move(waiting_.front());
      waiting_.pop_front();
      for (auto& body : b->bodies)
        all.push_back(std::move(body));
      group.push_back(std::move(b));
    }
    lock.unlock();
    auto failure = publish_with_retries(all);
    lock.lock();
    for (auto& b : group) {
      b->failure = failure;
      b->done = true;
    }
    flushing_ = false;
    gathered_.notify_all();
  }
  return mine->failure;
}

std::string publisher::publish_with_retries(std::vector<std::string>& bodies) {
  const auto& o = ctx_->options;
  std::string last_error;
  for (int attempt = 0; attempt <= o.publish_retries; ++attempt) {
    if (attempt > 0)
      std::this_thread::sleep_for(o.publish_retry_interval);
    try {
      for (std::size_t i = 0; i < bodies.size(); i += max_batch) {
        auto n = std::min(max_batch, bodies.size() - i);
        call_connection([&](broker_connection& c) {
          c.publish(o.queue_name, std::span{bodies.data() + i, n});
        });
      }
      return {};
    } catch (const std::exception& e) {
      last_error = e.what();
      if (attempt < o.publish_retries)
        ctx_->log->warn("queue '{}': push of {} message(s) failed ({}); reconnecting, retry {} "
                        "of {} in {} ms",
                        o.queue_name, bodies.size(), last_error, attempt + 1, o.publish_retries,
                        o.publish_retry_interval.count());
    }
  }
  auto file = outbox_->keep(bodies);
  auto text = "queue '" + o.queue_name + "': push failed after "
              + std::to_string(o.publish_retries + 1) + " attempts on broker '" + o.broker_kind
              + "' (" + o.broker.url + "): " + last_error + "; " + std::to_string(bodies.size())
              + " message(s) kept in the outbox '" + file
              + "' and delivered when the broker is reachable again";
  ctx_->log->error("{}", text);
  return text;
}

} // namespace funboost::detail
