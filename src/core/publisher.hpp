// publisher: how a booster's messages reach the broker. Concurrent pushes coalesce into one
// broker call (group commit: while one batch is on the wire, the next gathers). A failed publish
// reconnects and retries publish_retries times, publish_retry_interval apart (the seed's
// contract); after that the messages go to a per-queue outbox file and a replay thread delivers
// them once the broker is back, also after a process restart. Nothing pushed is lost.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/queue_context.hpp"

namespace funboost::detail {

class outbox;

class publisher {
public:
  explicit publisher(queue_context_ptr ctx);
  ~publisher();

  /// Publishes `bodies` in order; returns "" once the broker holds them, else the failure text
  /// (the messages are then in the outbox). Thread-safe; blocks through the retries.
  std::string publish(std::vector<std::string> bodies);

  /// Runs `f` on the publisher's connection, with one retry on a fresh connection.
  void with_connection(const std::function<void(broker_connection&)>& f);

private:
  struct batch {
    std::vector<std::string> bodies;
    std::string failure;
    bool done = false;
  };

  std::string publish_with_retries(std::vector<std::string>& bodies);
  void call_connection(const std::function<void(broker_connection&)>& f);

  queue_context_ptr ctx_;
  std::mutex connection_mutex_;
  std::unique_ptr<broker_connection> connection_;

  std::mutex gather_mutex_;
  std::condition_variable gathered_;
  std::deque<std::shared_ptr<batch>> waiting_;
  bool flushing_ = false;

  std::unique_ptr<outbox> outbox_;
};

} // namespace funboost::detail
