#include "core/isolated_call.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <utility>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>


namespace funboost::detail {

namespace {

// The child's report: kind, what the function asked for, then three length-prefixed texts
// (result JSON, exception type, exception message). Both ends are this build of this program.
enum class kind : uint8_t { ok = 1, failed, decode_error, escaped };
constexpr char magic[2] = {'F', 'B'};

void put_text(std::string& out, const std::string& text) {
  auto n = static_cast<uint32_t>(text.size());
  out.append(reinterpret_cast<const char*>(&n), sizeof n);
  out.append(text);
}

std::string frame(kind k, const call_outcome& o) {
  std::string out{magic, sizeof magic};
  out.push_back(static_cast<char>(k));
  out.push_back(static_cast<char>(o.asked));
  put_text(out, o.result_json);
  put_text(out, o.exception_type);
  put_text(out, o.exception_message);
  return out;
}

bool take_text(std::string_view& in, std::string& out) {
  uint32_t n;
  if (in.size() < sizeof n)
    return false;
  std::memcpy(&n, in.data(), sizeof n);
  in.remove_prefix(sizeof n);
  if (in.size() < n)
    return false;
  out.assign(in.substr(0, n));
  in.remove_prefix(n);
  return true;
}

/// Reads a complete report into `k` and `o`; false when the child died before writing it all.
bool read_frame(std::string_view in, kind& k, call_outcome& o) {
  if (in.size() < sizeof magic + 2 || in.substr(0, sizeof magic) != std::string_view{magic, 2})
    return false;
  in.remove_prefix(sizeof magic);
  k = static_cast<kind>(in[0]);
  o.asked = static_cast<call_outcome::request>(in[1]);
  in.remove_prefix(2);
  return take_text(in, o.result_json) && take_text(in, o.exception_type)
         && take_text(in, o.exception_message) && in.empty();
}

void write_all(int fd, const std::string& data) {
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    auto n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return; // the parent is gone or killed us: nobody reads
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

/// The child: it only runs the function (the other threads of the process are not here;
/// whatever they held at the fork stays held), reports, and _exit()s without running any
/// destructor or atexit handler of the parent's objects.
[[noreturn]] void run_child(int out_fd, pid_t parent, const task_function& fn,
                            simdjson::dom::object message) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL); // dies with the worker's thread, i.e. with the process
  if (::getppid() != parent)
    ::_exit(3); // the parent died before prctl: nobody waits for this outcome
  // A crash must end the child with its signal, for the parent to report: funboost's crash
  // report would blame the wrong process, and a handler of the application (a test framework's,
  // a backtrace printer that goes on) would run the parent's code in the child.
  struct sigaction fallback{};
  fallback.sa_handler = SIG_DFL;
  sigemptyset(&fallback.sa_mask);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT})
    ::sigaction(sig, &fallback, nullptr);
  // Stopping is the parent's decision (a graceful stop waits, then kills): a Ctrl-C to the
  // terminal's process group must not fail the task under it.
  struct sigaction ignore{};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  ::sigaction(SIGINT, &ignore, nullptr);
  ::sigaction(SIGTERM, &ignore, nullptr);
  std::string report;
  try {
    auto outcome = fn(message);
    report = frame(outcome.ok ? kind::ok : kind::failed, outcome);
  } catch (const decode_error& e) {
    call_outcome bad;
    bad.exception_message = e.what();
    report = frame(kind::decode_error, bad);
  } catch (...) {
    call_outcome escaped;
    describe_current_exception(escaped);
    report = frame(kind::escaped, escaped);
  }
  write_all(out_fd, report);
  ::_exit(0);
}

/// Closes a descriptor when the scope ends.
struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0)
      ::close(fd);
  }
};

/// Waits for the child's end (EINTR retried). False if it could not be waited for (another
/// part of the program reaped it, or SIGCHLD is ignored).
bool wait_child(pid_t pid, int& status) {
  for (;;) {
    if (::waitpid(pid, &status, 0) == pid)
      return true;
    if (errno != EINTR)
      return false;
  }
}

} // namespace

std::string signal_text(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return (abbrev ? "SIG" + std::string{abbrev} : std::string{"signal"}) + " (signal "
         + std::to_string(sig) + ")";
}

isolated_outcome run_isolated(const task_function& fn, simdjson::dom::object message,
                              double timeout_seconds, std::stop_token stop) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string{"process_isolation: pipe2 failed: "}
                             + std::strerror(errno));
  fd_guard from_child{pipe_fds[0]};
  fd_guard to_parent{pipe_fds[1]};
  fd_guard wake{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  if (wake.fd < 0)
    throw std::runtime_error(std::string{"process_isolation: eventfd failed: "}
                             + std::strerror(errno));
  auto parent = ::getpid();
  auto started = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid < 0)
    throw std::runtime_error(std::string{"process_isolation: fork failed: "}
                             + std::strerror(errno) + " (too many processes, or no memory)");
  if (pid == 0)
    run_child(to_parent.fd, parent, fn, message);
  ::close(std::exchange(to_parent.fd, -1)); // EOF on our end once the child is gone

  // Runs at once if the stop was requested already.
  std::stop_callback on_stop{stop, [fd = wake.fd] {
                               uint64_t one = 1;
                               (void) !::write(fd, &one, sizeof one);
                             }};
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (timeout_seconds > 0)
    deadline = started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                           std::chrono::duration<double>(std::min(timeout_seconds, 1e8)));
  std::string report;
  isolated_outcome out;
  bool killed = false;
  char buf[65536];
  for (;;) {
    int wait_ms = -1;
    if (deadline) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(
        *deadline - std::chrono::steady_clock::now());
      wait_ms = static_cast<int>(std::clamp<int64_t>(left.count(), 0, 1 << 30));
    }
    pollfd fds[2] = {{from_child.fd, POLLIN, 0}, {wake.fd, POLLIN, 0}};
    int ready = ::poll(fds, 2, wait_ms);
    if (ready < 0 && errno == EINTR)
      continue;
    if (ready == 0 || fds[1].revents != 0) {
      out.how = ready == 0 ? isolated_outcome::end::timed_out : isolated_outcome::end::stopped;
      ::kill(pid, SIGKILL);
      killed = true;
      break;
    }
    auto n = ::read(from_child.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break; // EOF: the child is gone (or going)
    report.append(buf, static_cast<std::size_t>(n));
  }
  int status = 0;
  bool waited = wait_child(pid, status);

  kind k;
  if (read_frame(report, k, out.outcome)) { // it finished, even if a kill raced its exit
    switch (k) {
      case kind::ok:
      case kind::failed:
        out.how = isolated_outcome::end::returned;
        out.outcome.ok = k == kind::ok;
        return out;
      case kind::decode_error:
        out.how = isolated_outcome::end::decode_error;
        out.detail = out.outcome.exception_message;
        return out;
      case kind::escaped:
        throw std::runtime_error("in the task's child process: " + out.outcome.exception_type
                                 + ": " + out.outcome.exception_message);
    }
  }
  out.outcome = call_outcome{};
  if (killed)
    return out;
  out.how = isolated_outcome::end::crashed;
  if (!waited)
    out.detail = "the task's process ended without reporting an outcome";
  else if (WIFSIGNALED(status))
    out.detail = "the task's process died of " + signal_text(WTERMSIG(status));
  else
    out.detail = "the task's process exited with code " + std::to_string(WEXITSTATUS(status))
                 + " without reporting an outcome (did the function call exit()?)";
  return out;
}

} // namespace funboost::detail
