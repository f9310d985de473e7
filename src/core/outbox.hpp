// outbox: messages a publisher could not deliver through all its retries, kept in a file
// ({outbox_dir}/{queue}.outbox, one JSON message per line) until the publisher actor replays
// them on its timer. A new booster for the same queue replays what an earlier process left.
// Only the publisher actor of the queue touches the file, so it needs no lock.
#pragma once

#include <string>
#include <vector>

#include "core/queue_context.hpp"

namespace funboost::detail {

class outbox {
public:
  explicit outbox(queue_context_ptr ctx);

  /// Appends the messages to the file. Returns the file's path.
  std::string keep(const std::vector<std::string>& bodies);

  /// Every message in the file, oldest first.
  std::vector<std::string> read_all() const;

  /// Empties the file once its messages are delivered.
  void remove();

  bool empty() const;
  const std::string& path() const { return path_; }

private:
  queue_context_ptr ctx_;
  std::string path_;
};

} // namespace funboost::detail
