// Child processes of fault tests and benches: killed the way a crash or an OOM killer ends them,
// and restarted the way an operator's supervisor (systemd, Kubernetes) restarts them.
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <cstddef>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

namespace funboost::test {

/// SIGKILLs `pid` and waits for it, so no zombie is left and its connections are closed.
inline void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

/// A child that is started again each time it dies, at most `max_restarts` times. poll() reaps
/// a death (and restarts); the child is SIGKILLed at the end.
class restarted_child {
public:
  restarted_child(std::function<pid_t()> start, int max_restarts)
    : start_(std::move(start)), max_restarts_(max_restarts), pid_(start_()) {}
  ~restarted_child() { kill_and_reap(pid_); }
  restarted_child(const restarted_child&) = delete;
  restarted_child& operator=(const restarted_child&) = delete;

  void poll() {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_)
      return;
    ++deaths_;
    if (!WIFSIGNALED(status))
      ++exits_;
    if (deaths_ <= max_restarts_)
      pid_ = start_();
  }

  int deaths() const { return deaths_; }
  /// Deaths that were an exit, not a signal.
  int exits() const { return exits_; }

private:
  std::function<pid_t()> start_;
  int max_restarts_;
  pid_t pid_;
  int deaths_ = 0;
  int exits_ = 0;
};

/// How often `text` occurs in the file at `path`.
inline std::size_t occurrences_in_file(const std::string& path, const std::string& text) {
  std::ifstream in{path};
  std::stringstream content;
  content << in.rdbuf();
  const auto all = content.str();
  std::size_t n = 0;
  for (auto at = all.find(text); at != std::string::npos; at = all.find(text, at + 1))
    ++n;
  return n;
}

} // namespace funboost::test
