// A real rabbitmq-server for tests: its own node on loopback ports chosen at run time, its own
// data, logs, config, cookie and epmd under a fresh temp dir, so it never meets a system broker
// and works as root. stop() kills it (SIGKILL: what a crash looks like); start() brings it back
// on the same ports with the same data, so durable queues and persistent messages survive.
#pragma once

#include "support/free_port.hpp"

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace rabbitmq_test {

using test_support::free_port;

/// True if something accepts TCP connections on 127.0.0.1:port.
inline bool port_open(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

/// True if guest can log in over AMQP on 127.0.0.1:port (the broker is really up).
inline bool amqp_login_works(int port) {
  auto state = amqp_new_connection();
  auto* socket = amqp_tcp_socket_new(state);
  timeval tv{1, 0};
  amqp_set_handshake_timeout(state, &tv);
  amqp_set_rpc_timeout(state, &tv);
  bool ok = false;
  if (socket && amqp_socket_open_noblock(socket, "127.0.0.1", port, &tv) == AMQP_STATUS_OK) {
    auto reply = amqp_login(state, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
    ok = reply.reply_type == AMQP_RESPONSE_NORMAL;
    if (ok)
      amqp_connection_close(state, AMQP_REPLY_SUCCESS);
  }
  amqp_destroy_connection(state);
  return ok;
}

/// Where a program lives: the first of `candidates` that is executable, else "".
inline std::string find_program(const std::vector<std::string>& candidates) {
  for (const auto& c : candidates)
    if (::access(c.c_str(), X_OK) == 0)
      return c;
  return {};
}

class rabbitmq_server {
public:
  rabbitmq_server() {
    // The Debian /usr/sbin/rabbitmq-server is a wrapper that switches to the rabbitmq user
    // when run as root; the real script runs as whoever calls it.
    const char* override_path = std::getenv("FUNBOOST_RABBITMQ_SERVER");
    script_ = find_program({override_path ? override_path : "",
                            "/usr/lib/rabbitmq/bin/rabbitmq-server",
                            "/usr/lib/rabbitmq/sbin/rabbitmq-server"});
    epmd_ = find_program({"/usr/bin/epmd", "/usr/local/bin/epmd"});
    if (script_.empty() || epmd_.empty())
      throw std::runtime_error(
        "rabbitmq-server (or Erlang's epmd) is not installed; run scripts/setup.sh (it installs "
        "rabbitmq-server), or set FUNBOOST_RABBITMQ_SERVER to the rabbitmq-server script");

    char tmpl[] = "/tmp/funboost_rabbitmq_XXXXXX";
    if (!::mkdtemp(tmpl))
      throw std::runtime_error("cannot create a temp dir for rabbitmq-server");
    dir_ = tmpl;
    port_ = free_port();
    do {
      dist_port_ = free_port();
      epmd_port_ = free_port();
    } while (dist_port_ == port_ || epmd_port_ == port_ || epmd_port_ == dist_port_);
    node_ = "funboost_test_" + std::to_string(::getpid()) + "@localhost";
    write_files();
    make_env();
    start_epmd();
    start();
  }

  ~rabbitmq_server() {
    stop();
    if (epmd_pid_ > 0) {
      ::kill(epmd_pid_, SIGKILL);
      ::waitpid(epmd_pid_, nullptr, 0);
    }
    if (!std::getenv("FUNBOOST_KEEP_TEST_DIRS")) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  rabbitmq_server(const rabbitmq_server&) = delete;
  rabbitmq_server& operator=(const rabbitmq_server&) = delete;

  /// Starts the broker (again) and waits until guest can log in; throws after `limit`.
  void start(std::chrono::seconds limit = std::chrono::seconds(60)) {
    if (pid_ > 0)
      return;
    auto began = std::chrono::steady_clock::now();
    auto out = dir_ + "/server.out";
    pid_t pid = ::fork();
    if (pid < 0)
      throw std::runtime_error("fork failed");
    if (pid == 0) {
      // Only async-signal-safe calls until exec: the test process has threads.
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGTERM); // if the test dies, the script stops the broker
      int null_fd = ::open("/dev/null", O_RDONLY);
      int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (null_fd >= 0)
        ::dup2(null_fd, 0);
      if (out_fd >= 0) {
        ::dup2(out_fd, 1);
        ::dup2(out_fd, 2);
      }
      const char* argv[] = {script_.c_str(), nullptr};
      ::execve(script_.c_str(), const_cast<char**>(argv), env_ptrs_.data());
      ::_exit(127);
    }
    ::setpgid(pid, pid); // also here: no race with kill(-pid)
    pid_ = pid;
    while (!amqp_login_works(port_)) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("rabbitmq-server exited during startup; its output:\n"
                                 + tail(out) + "\nlog dir: " + dir_ + "/log");
      }
      if (std::chrono::steady_clock::now() - began > limit) {
        stop();
        throw std::runtime_error("rabbitmq-server did not accept AMQP logins within "
                                 + std::to_string(limit.count()) + " s; its output:\n" + tail(out)
                                 + "\nlog dir: " + dir_ + "/log");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    last_start_ = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - began);
  }

  /// Kills the broker at once (SIGKILL to its whole process group), as a crash would.
  void stop() {
    if (pid_ <= 0)
      return;
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    // The listening socket goes with the process; wait until the port is really closed.
    for (int i = 0; i < 100 && port_open(port_); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  /// Freezes the broker (SIGSTOP to its process group): TCP connections are still accepted by
  /// the kernel, nothing is answered. resume() (SIGCONT) undoes it.
  /// Freezes the broker (SIGSTOP to its process group) and returns once every process of the
  /// group is stopped: kill() only queues the signal, and a busy machine may let the broker
  /// answer one more handshake before it takes effect.
  void pause() {
    if (pid_ <= 0)
      return;
    ::kill(-pid_, SIGSTOP);
    for (int i = 0; i < 5000 && !group_stopped(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  void resume() {
    if (pid_ > 0)
      ::kill(-pid_, SIGCONT);
  }

  bool running() const { return pid_ > 0; }
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  const std::string& node() const { return node_; }
  std::chrono::milliseconds last_start_duration() const { return last_start_; }

  /// amqp://guest:guest@127.0.0.1:<port>/ (guest may log in from loopback only).
  std::string url() const { return "amqp://guest:guest@127.0.0.1:" + std::to_string(port_) + "/"; }

private:
  /// Whether every process whose group is the broker's is stopped (state T in /proc/PID/stat).
  bool group_stopped() const {
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      auto name = entry.path().filename().string();
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos)
        continue;
      std::ifstream in{entry.path() / "stat"};
      std::string stat;
      std::getline(in, stat);
      auto close = stat.rfind(')'); // the command name may hold spaces and parentheses
      if (close == std::string::npos)
        continue;
      std::istringstream fields{stat.substr(close + 2)};
      std::string state;
      long ppid = 0, pgrp = 0;
      fields >> state >> ppid >> pgrp;
      if (pgrp == pid_ && state != "T" && state != "t" && state != "Z")
        return false;
    }
    return true;
  }

  void write_files() {
    std::filesystem::create_directories(dir_ + "/home");
    std::filesystem::create_directories(dir_ + "/mnesia");
    std::filesystem::create_directories(dir_ + "/log");
    auto cookie = dir_ + "/home/.erlang.cookie";
    std::ofstream(cookie) << "FUNBOOSTTESTCOOKIE";
    ::chmod(cookie.c_str(), 0400);
    std::ofstream(dir_ + "/enabled_plugins") << "[].\n";
    std::ofstream(dir_ + "/rabbitmq-env.conf") << "";
    // Containers often report little free disk or memory: never let an alarm block publishers.
    std::ofstream(dir_ + "/rabbitmq.conf") << "loopback_users.guest = true\n"
                                              "disk_free_limit.absolute = 1MB\n"
                                              "vm_memory_high_watermark.relative = 0.9\n"
                                              "log.console = false\n"
                                              "log.file.level = info\n";
  }

  void make_env() {
    std::vector<std::pair<std::string, std::string>> ours{
      {"HOME", dir_ + "/home"},
      {"RABBITMQ_NODENAME", node_},
      {"RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1"},
      {"RABBITMQ_NODE_PORT", std::to_string(port_)},
      {"RABBITMQ_DIST_PORT", std::to_string(dist_port_)},
      {"ERL_EPMD_PORT", std::to_string(epmd_port_)},
      {"ERL_EPMD_ADDRESS", "127.0.0.1"},
      {"RABBITMQ_MNESIA_BASE", dir_ + "/mnesia"},
      {"RABBITMQ_LOG_BASE", dir_ + "/log"},
      {"RABBITMQ_CONFIG_FILE", dir_ + "/rabbitmq.conf"},
      {"RABBITMQ_ADVANCED_CONFIG_FILE", dir_ + "/advanced.config"},
      {"RABBITMQ_CONF_ENV_FILE", dir_ + "/rabbitmq-env.conf"},
      {"RABBITMQ_ENABLED_PLUGINS_FILE", dir_ + "/enabled_plugins"},
      {"RABBITMQ_PID_FILE", dir_ + "/rabbitmq.pid"},
    };
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      auto name = kv.substr(0, kv.find('='));
      bool replaced = name.rfind("RABBITMQ_", 0) == 0 || name.rfind("ERL_", 0) == 0;
      for (const auto& [k, v] : ours)
        replaced = replaced || k == name;
      if (!replaced)
        env_.push_back(kv);
    }
    for (const auto& [k, v] : ours)
      env_.push_back(k + "=" + v);
    for (auto& s : env_)
      env_ptrs_.push_back(s.data());
    env_ptrs_.push_back(nullptr);
  }

  /// Our own epmd on our own port, so the node never touches a system epmd (and we can stop it).
  void start_epmd() {
    auto port = std::to_string(epmd_port_);
    pid_t pid = ::fork();
    if (pid < 0)
      throw std::runtime_error("fork failed");
    if (pid == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      int null_fd = ::open("/dev/null", O_RDWR);
      if (null_fd >= 0) {
        ::dup2(null_fd, 0);
        ::dup2(null_fd, 1);
        ::dup2(null_fd, 2);
      }
      const char* argv[] = {epmd_.c_str(), "-port", port.c_str(), "-address", "127.0.0.1",
                            nullptr};
      ::execve(epmd_.c_str(), const_cast<char**>(argv), env_ptrs_.data());
      ::_exit(127);
    }
    epmd_pid_ = pid;
    for (int i = 0; i < 100 && !port_open(epmd_port_); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!port_open(epmd_port_))
      throw std::runtime_error("epmd did not start on port " + port);
  }

  static std::string tail(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    auto s = ss.str();
    return s.size() > 4000 ? s.substr(s.size() - 4000) : s;
  }

  std::string script_, epmd_, dir_, node_;
  int port_ = 0, dist_port_ = 0, epmd_port_ = 0;
  pid_t pid_ = -1, epmd_pid_ = -1;
  std::vector<std::string> env_;
  std::vector<char*> env_ptrs_;
  std::chrono::milliseconds last_start_{0};
};

} // namespace rabbitmq_test
