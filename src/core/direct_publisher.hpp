// direct_publisher: the fast path of push() on the caller's own thread. Concurrent pushes
// coalesce into one broker call (group commit: while one batch is on the wire, the next
// gathers). It tries once (reconnecting once if the connection went stale); a batch the broker
// refuses is handed back to the caller, who gives it to the publisher actor for the timed
// retries and the outbox. While the publisher knows the broker is down
// (queue_context::publisher_down) booster_core skips this path, so no caller waits on a
// broker call that will fail. Never used from inside an actor.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "core/queue_context.hpp"

namespace funboost::detail {

/// Most messages one broker call carries (funboost batches RPUSH by 1000 too).
inline constexpr std::size_t max_publish_batch = 1000;

/// Publishes `bodies` in calls of at most max_publish_batch; throws what the broker throws.
inline void publish_in_batches(broker_connection& c, const std::string& queue,
                               std::span<const std::string> bodies) {
  for (std::size_t i = 0; i < bodies.size(); i += max_publish_batch)
    c.publish(queue, bodies.subspan(i, std::min(max_publish_batch, bodies.size() - i)));
}

class direct_publisher {
public:
  explicit direct_publisher(queue_context_ptr ctx);

  /// Publishes `bodies` in order; returns "" once the broker holds them, else the failure text
  /// (then `bodies` still holds every message). Thread-safe.
  std::string publish(std::vector<std::string>& bodies);

  /// Runs `f` on the connection, with one retry on a fresh connection.
  void with_connection(const std::function<void(broker_connection&)>& f);

private:
  struct batch {
    std::vector<std::string>* bodies;
    std::string failure;
    bool done = false;
  };

  std::string publish_once(std::span<const std::string> bodies);
  void call_connection(const std::function<void(broker_connection&)>& f);

  queue_context_ptr ctx_;
  std::mutex connection_mutex_;
  std::unique_ptr<broker_connection> connection_;

  std::mutex gather_mutex_;
  std::condition_variable gathered_;
  std::deque<batch*> waiting_;
  bool flushing_ = false;
};

} // namespace funboost::detail
