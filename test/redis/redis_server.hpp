// A REAL redis-server for tests: started on a free loopback port chosen at run time, with its
// own temporary directory, stopped (SIGTERM or SIGKILL) and started again on the same port for
// outage tests, and stopped by the destructor. No mocks.
#pragma once

#include "support/free_port.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <hiredis/hiredis.h>

namespace funboost::test {

/// The redis-server binary, or an exception naming scripts/setup.sh.
inline std::string find_redis_server() {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss{path};
    std::string dir;
    while (std::getline(ss, dir, ':'))
      dirs.push_back(dir);
  }
  dirs.insert(dirs.end(), {"/usr/bin", "/usr/sbin", "/usr/local/bin"});
  for (const auto& d : dirs) {
    auto candidate = d + "/redis-server";
    if (!d.empty() && ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  throw std::runtime_error("redis-server is not installed, so the Redis broker tests cannot run; "
                           "run scripts/setup.sh (it installs redis-server) and try again");
}

using test_support::free_port;

class redis_server {
public:
  struct config {
    bool persistent = false;            // AOF with fsync always: survives SIGKILL
    std::vector<std::string> extra{};   // more arguments, e.g. {"--requirepass", "secret"}
  };

  redis_server() : redis_server(config{}) {}
  explicit redis_server(config cfg) : cfg_(std::move(cfg)), binary_(find_redis_server()) {
    char tmpl[] = "/tmp/funboost-redis-XXXXXX";
    if (!::mkdtemp(tmpl))
      throw std::runtime_error("cannot create a temporary directory for redis-server");
    dir_ = tmpl;
    port_ = free_port();
    start();
  }

  ~redis_server() {
    stop(SIGKILL);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  std::string socket_path() const { return dir_ + "/redis.sock"; }
  std::string url(int db = 7) const {
    return "redis://127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
  }
  bool running() const { return pid_ > 0; }

  /// Starts redis-server (again, on the same port and directory) and waits for PING.
  void start() {
    if (pid_ > 0)
      return;
    std::vector<std::string> args{binary_,       "--port",      std::to_string(port_),
                                  "--bind",      "127.0.0.1",   "--save",
                                  "",            "--appendonly", cfg_.persistent ? "yes" : "no",
                                  "--dir",       dir_,          "--unixsocket",
                                  socket_path(), "--unixsocketperm", "700",
                                  "--daemonize", "no"};
    if (cfg_.persistent) {
      args.insert(args.end(), {"--appendfsync", "always"});
    }
    args.insert(args.end(), cfg_.extra.begin(), cfg_.extra.end());
    auto log = dir_ + "/redis.log";
    pid_t pid = ::fork();
    if (pid < 0)
      throw std::runtime_error("fork failed");
    if (pid == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      std::vector<char*> argv;
      for (auto& a : args)
        argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(binary_.c_str(), argv.data());
      ::_exit(127);
    }
    pid_ = pid;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("redis-server exited at start; its log " + log + ":\n"
                                 + read_file(log));
      }
      if (ping())
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    stop(SIGKILL);
    throw std::runtime_error("redis-server did not answer PING within 15 s; log:\n"
                             + read_file(log));
  }

  /// Freezes the server (SIGSTOP): connections stay open, nothing is answered, as with a
  /// server blocked by a slow script or paused by the OS. resume() (SIGCONT) undoes it.
  void pause() {
    if (pid_ > 0)
      ::kill(pid_, SIGSTOP);
  }
  void resume() {
    if (pid_ > 0)
      ::kill(pid_, SIGCONT);
  }

  /// Stops the server with `sig` (SIGTERM: a clean shutdown; SIGKILL: a crash) and reaps it.
  void stop(int sig = SIGTERM) {
    if (pid_ <= 0)
      return;
    ::kill(pid_, sig);
    ::kill(pid_, SIGCONT); // a paused server handles SIGTERM only once it runs again
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
  }

private:
  bool ping() const {
    timeval tv{1, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    bool ok = false;
    if (c && !c->err) {
      redisSetTimeout(c, tv);
      auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
      // A server loading its AOF answers -LOADING: not ready yet. -NOAUTH means it is up.
      ok = r
           && (r->type == REDIS_REPLY_STATUS
               || (r->type == REDIS_REPLY_ERROR && std::string{r->str, r->len}.starts_with("NOAUTH")));
      if (r)
        freeReplyObject(r);
    }
    if (c)
      redisFree(c);
    return ok;
  }

  static std::string read_file(const std::string& path) {
    std::ifstream in{path};
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  config cfg_;
  std::string binary_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

} // namespace funboost::test
