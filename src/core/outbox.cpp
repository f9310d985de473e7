#include "core/outbox.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <system_error>
#include <utility>

namespace funboost::detail {

namespace {

namespace fs = std::filesystem;

std::string error_text(int err) {
  return std::generic_category().message(err);
}

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

/// Closes a descriptor, and so releases its flock, when it goes out of scope.
class fd_guard {
public:
  explicit fd_guard(int fd) : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int release() { return std::exchange(fd_, -1); }

private:
  int fd_;
};

/// Waits for the exclusive lock (appends hold it for one write and one sync).
bool lock_exclusive(int fd) {
  while (::flock(fd, LOCK_EX) != 0)
    if (errno != EINTR)
      return false;
  return true;
}

/// Takes the exclusive lock if nobody holds it; false when somebody does (errno EWOULDBLOCK).
bool try_lock_exclusive(int fd) {
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0)
    if (errno != EINTR)
      return false;
  return true;
}

/// True while `fd` is still the file named `path`: a replay may have renamed it away between
/// our open() and our lock.
bool is_at(int fd, const std::string& path) {
  struct stat opened{}, named{};
  return ::fstat(fd, &opened) == 0 && ::stat(path.c_str(), &named) == 0
         && opened.st_dev == named.st_dev && opened.st_ino == named.st_ino;
}

std::string joined_lines(std::vector<std::string>::const_iterator first,
                         std::vector<std::string>::const_iterator last) {
  std::size_t size = 0;
  for (auto it = first; it != last; ++it)
    size += it->size() + 1;
  std::string text;
  text.reserve(size);
  for (auto it = first; it != last; ++it) {
    text += *it; // our JSON has no raw newlines: one message per line
    text += '\n';
  }
  return text;
}

/// One write() in the normal case; loops only on a short write (signal, nearly full disk).
std::string write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return error_text(errno);
    done += static_cast<std::size_t>(n);
  }
  return {};
}

std::vector<std::string> read_lines(int fd, const std::string& path) {
  std::string data;
  char buffer[1 << 16];
  for (off_t offset = 0;;) {
    auto n = ::pread(fd, buffer, sizeof buffer, offset);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      throw_errno("reading the outbox '" + path + "'");
    if (n == 0)
      break;
    data.append(buffer, static_cast<std::size_t>(n));
    offset += n;
  }
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < data.size()) {
    auto end = data.find('\n', start);
    if (end == std::string::npos)
      end = data.size();
    if (end > start)
      lines.emplace_back(data, start, end - start);
    start = end + 1;
  }
  return lines;
}

/// A new file's name must survive a crash as well as its contents.
void sync_directory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return;
  ::fsync(fd);
  ::close(fd);
}

/// {outbox}.replaying-{ns since the epoch, zero-padded}-{pid}: names sort oldest first.
std::string claim_name(const std::string& outbox_path) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count();
  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "%020lld", static_cast<long long>(ns));
  return outbox_path + ".replaying-" + stamp + "-" + std::to_string(::getpid());
}

} // namespace

// -- outbox_claim --------------------------------------------------------------------------------

outbox_claim::outbox_claim(int fd, std::string path, std::vector<std::string> lines)
  : fd_(fd), path_(std::move(path)), lines_(std::move(lines)) {}

outbox_claim::outbox_claim(outbox_claim&& other) noexcept
  : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)),
    lines_(std::move(other.lines_)) {}

outbox_claim::~outbox_claim() {
  if (fd_ >= 0)
    ::close(fd_); // releases the lock: the claim is free for the next replay, if it still exists
}

std::string outbox_claim::finish(std::size_t published) {
  // Unlinked while we hold the lock: a replay that opened it meanwhile sees st_nlink == 0.
  if (published >= lines_.size()) {
    if (::unlink(path_.c_str()) != 0 && errno != ENOENT)
      return "cannot delete the delivered outbox claim '" + path_ + "': " + error_text(errno)
             + "; its messages will be delivered again";
    return {};
  }
  if (published == 0)
    return {}; // the claim already holds exactly what is left
  auto tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return "cannot write '" + tmp + "': " + error_text(errno);
  fd_guard guard{fd};
  auto failure = write_all(fd, joined_lines(lines_.begin() + static_cast<long>(published),
                                            lines_.end()));
  if (failure.empty() && ::fdatasync(fd) != 0)
    failure = error_text(errno);
  if (failure.empty() && ::rename(tmp.c_str(), path_.c_str()) != 0)
    failure = error_text(errno);
  if (!failure.empty()) {
    ::unlink(tmp.c_str());
    return "cannot rewrite the outbox claim '" + path_ + "' (" + failure
           + "); the messages already delivered from it will be delivered again";
  }
  return {};
}

// -- outbox --------------------------------------------------------------------------------------

outbox::outbox(std::string dir, const std::string& queue)
  : dir_(std::move(dir)), file_name_(queue + ".outbox"),
    path_((fs::path{dir_} / file_name_).string()) {}

std::string outbox::keep(const std::vector<std::string>& bodies) const {
  if (bodies.empty())
    return {};
  auto text = joined_lines(bodies.begin(), bodies.end());
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec)
    return "cannot create the directory '" + dir_ + "': " + ec.message();
  for (;;) {
    int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      return "cannot open '" + path_ + "': " + error_text(errno);
    fd_guard guard{fd};
    if (!lock_exclusive(fd))
      return "cannot lock '" + path_ + "': " + error_text(errno);
    if (!is_at(fd, path_))
      continue; // a replay claimed that file: append to the new one
    struct stat before{};
    if (::fstat(fd, &before) != 0)
      return "cannot read the size of '" + path_ + "': " + error_text(errno);
    auto failure = write_all(fd, text);
    if (failure.empty() && ::fdatasync(fd) != 0)
      failure = error_text(errno);
    if (!failure.empty()) {
      // Under the lock: no replay saw the partial write, and it is gone before anyone can.
      if (::ftruncate(fd, before.st_size) != 0)
        failure += " (and the partial write could not be undone)";
      return "cannot write '" + path_ + "': " + failure;
    }
    if (before.st_size == 0)
      sync_directory(dir_);
    return {};
  }
}

outbox::take_status outbox::take(std::optional<outbox_claim>& claim) const {
  // Claims left by failed or dead replays hold the oldest messages: they go first.
  for (const auto& name : claims()) {
    int fd = ::open(name.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
      continue; // delivered meanwhile
    if (fd < 0)
      throw_errno("opening the outbox claim '" + name + "'");
    fd_guard guard{fd};
    if (!try_lock_exclusive(fd))
      return take_status::busy; // another replay is delivering it
    struct stat st{};
    if (::fstat(fd, &st) != 0)
      throw_errno("reading the outbox claim '" + name + "'");
    if (st.st_nlink == 0)
      return take_status::busy; // its replay finished with it just now; look again later
    // Only the claim's lock holder writes its ".tmp" (outbox_claim::finish): one there now was
    // left by a replay that died before renaming it, a copy of lines still in the claim.
    ::unlink((name + ".tmp").c_str());
    auto lines = read_lines(fd, name);
    if (lines.empty()) {
      ::unlink(name.c_str());
      continue;
    }
    claim.emplace(guard.release(), name, std::move(lines));
    return take_status::claimed;
  }
  int fd = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT)
    return take_status::nothing;
  if (fd < 0)
    throw_errno("opening the outbox '" + path_ + "'");
  fd_guard guard{fd};
  if (!try_lock_exclusive(fd) || !is_at(fd, path_))
    return take_status::busy; // an append holds it, or another replay just claimed it
  auto lines = read_lines(fd, path_);
  if (lines.empty()) {
    ::unlink(path_.c_str());
    return take_status::nothing;
  }
  auto name = claim_name(path_);
  // Under the lock, so appends after this point create a new outbox file.
  if (::rename(path_.c_str(), name.c_str()) != 0)
    throw_errno("claiming the outbox '" + path_ + "' as '" + name + "'");
  claim.emplace(guard.release(), std::move(name), std::move(lines));
  return take_status::claimed;
}

bool outbox::empty() const {
  struct stat st{};
  if (::stat(path_.c_str(), &st) == 0 && st.st_size > 0)
    return false;
  return claims().empty();
}

std::string outbox::problem() const {
  fs::path p = dir_.empty() ? fs::path{"."} : fs::path{dir_};
  for (;;) {
    struct stat st{};
    if (::stat(p.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode))
        return "not a directory: '" + p.string() + "'";
      if (::access(p.c_str(), W_OK | X_OK) != 0)
        return "cannot write into '" + p.string() + "': " + error_text(errno);
      return {}; // what is missing below it is created on the first keep()
    }
    if (errno != ENOENT) // ENOTDIR: a part of the path is a file
      return "cannot use '" + dir_ + "': " + error_text(errno);
    auto parent = p.parent_path();
    if (parent.empty())
      parent = ".";
    if (parent == p)
      return "cannot use '" + dir_ + "': no part of it exists";
    p = parent;
  }
}

std::vector<std::string> outbox::claims() const {
  std::vector<std::string> found;
  auto prefix = file_name_ + ".replaying-";
  std::error_code ec;
  for (fs::directory_iterator it{dir_, ec}, end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    if (name.starts_with(prefix) && !name.ends_with(".tmp"))
      found.push_back(it->path().string());
  }
  std::sort(found.begin(), found.end());
  return found;
}

} // namespace funboost::detail
