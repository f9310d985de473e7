// outbox: messages a publisher could not deliver through all its retries, kept in a file
// ({outbox_dir}/{queue}.outbox, one JSON message per line) and replayed by a thread every
// publish_retry_interval until the broker takes them. A new booster for the same queue replays
// what an earlier process left behind.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/queue_context.hpp"

namespace funboost::detail {

class outbox {
public:
  /// `deliver` publishes a batch or throws.
  using deliver_fn = std::function<void(std::vector<std::string>&)>;

  outbox(queue_context_ptr ctx, deliver_fn deliver);
  ~outbox();

  /// Appends the messages to the file and wakes the replay thread. Returns the file's path.
  std::string keep(const std::vector<std::string>& bodies);

  /// Messages waiting in the file.
  std::size_t size();

private:
  void replay_loop();
  bool replay_once(); // true when the file is empty afterwards

  queue_context_ptr ctx_;
  deliver_fn deliver_;
  std::string path_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace funboost::detail
