// outbox: messages a publisher could not deliver, kept in a file ({outbox_dir}/{queue}.outbox,
// one JSON message per line) until a publisher replays them. Several publishers may share the
// file (two processes, or a consumer booster and rt.publisher("q") in one process), so every
// access takes flock(2) on it:
//   - keep(): one write() of whole lines under the lock, then fdatasync, so a concurrent replay
//     never reads a torn line and "kept" means on disk.
//   - take(): under the lock, renames the file to a claim ({queue}.outbox.replaying-{ns}-{pid})
//     and keeps that claim locked while its lines are published. Appends made meanwhile go to a
//     new outbox file, so a replay never deletes what it did not read. A claim whose replay
//     failed or whose process died is replayed first next time (oldest first: order is kept).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace funboost::detail {

/// Lines taken from the outbox for one replay. Holds the claim file's lock until destroyed, so
/// no other replay takes the same lines.
class outbox_claim {
public:
  outbox_claim(int fd, std::string path, std::vector<std::string> lines);
  outbox_claim(outbox_claim&& other) noexcept;
  outbox_claim& operator=(outbox_claim&&) = delete;
  outbox_claim(const outbox_claim&) = delete;
  ~outbox_claim();

  const std::vector<std::string>& lines() const { return lines_; }

  /// The first `published` lines are on the broker. All of them: the claim is deleted. Fewer:
  /// the rest replace the claim's contents atomically (a new file renamed over it) and wait
  /// for the next replay, ahead of later appends. Returns "" or what went wrong.
  std::string finish(std::size_t published);

private:
  int fd_ = -1;
  std::string path_;
  std::vector<std::string> lines_;
};

class outbox {
public:
  outbox(std::string dir, const std::string& queue);

  /// Appends the messages, one per line, and syncs them to disk. Returns "" once they are
  /// kept, else why not (the file is left as it was: no partial line).
  std::string keep(const std::vector<std::string>& bodies) const;

  enum class take_status {
    nothing, // nothing waits
    busy,    // another replay holds the oldest lines (or an append holds the file): later
    claimed, // `claim` holds the oldest waiting lines
  };
  /// Takes the oldest waiting lines for a replay. Throws std::system_error on I/O errors.
  take_status take(std::optional<outbox_claim>& claim) const;

  /// True when no outbox file and no claim is left in the directory.
  bool empty() const;

  /// Why the outbox could not be written, checked without creating anything (the nearest
  /// existing ancestor of the directory must be a directory we may write into); "" when fine.
  std::string problem() const;

  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_; }

private:
  std::vector<std::string> claims() const; // claim files, oldest first

  std::string dir_;
  std::string file_name_; // {queue}.outbox
  std::string path_;
};

} // namespace funboost::detail
