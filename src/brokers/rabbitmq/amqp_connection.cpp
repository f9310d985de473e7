#include "brokers/rabbitmq/amqp_connection.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include <amqp_tcp_socket.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <funboost/broker.hpp>

#include "core/log_text.hpp"

namespace funboost::brokers::rabbitmq {

namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

std::string to_string(amqp_bytes_t bytes) {
  return {static_cast<const char*>(bytes.bytes), bytes.len};
}

constexpr const char* timeout_advice =
  "rabbitmq-server does not answer in time: it is overloaded, blocked (a resource alarm) or "
  "paused, or the network drops packets; check its logs and `rabbitmqctl status`, or raise "
  "connect_timeout_ms / rpc_timeout_ms if it is only slow. Consumers reconnect by themselves";

constexpr const char* lost_advice =
  "the connection to rabbitmq-server is gone; consumers reconnect by themselves with backoff "
  "and pushes are retried (publish_retries), so check that rabbitmq-server is running and "
  "reachable";

/// A connected, non-blocking TCP socket (what rabbitmq-c's own open leaves), or -1 with `why`
/// set: rabbitmq-c reports every connect failure as one "socket error", we want the reason.
int connect_tcp(const std::string& host, int port, std::chrono::milliseconds timeout,
                std::string& why, bool& unresolved, bool& timed_out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  auto service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list); rc != 0) {
    why = ::gai_strerror(rc);
    unresolved = true;
    return -1;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int fd = -1;
  why = "no address to connect to";
  for (auto* a = list; a; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    int err = ::connect(fd, a->ai_addr, a->ai_addrlen) == 0 ? 0 : errno;
    if (err == EINPROGRESS) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
      pollfd p{fd, POLLOUT, 0};
      int ready = ::poll(&p, 1, static_cast<int>(std::max<long long>(left.count(), 0)));
      if (ready == 0) {
        err = ETIMEDOUT;
      } else {
        socklen_t len = sizeof err;
        if (ready < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
          err = errno;
      }
    }
    if (err == 0) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      // The kernel notices a dead peer even while the connection idles (a fetcher without
      // credit, a publisher between pushes): about 30 s idle + 3 probes 10 s apart.
      int idle = 30, interval = 10, probes = 3;
      ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes);
      break;
    }
    timed_out = err == ETIMEDOUT;
    why = err == ECONNREFUSED ? "connection refused"
          : err == ETIMEDOUT  ? "timed out: no answer within " + std::to_string(timeout.count())
                                 + " ms (connect_timeout_ms)"
                              : std::string{std::strerror(err)};
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(list);
  return fd;
}

} // namespace

std::string describe(const connection_settings& s) {
  return "rabbitmq broker for queue '" + s.queue + "' at amqp://"
         + funboost::detail::escape_for_log(s.url.user) + "@" + s.url.address();
}

std::string amqp_connection::who() const { return describe(settings_); }

amqp_connection::amqp_connection(const connection_settings& settings) : settings_(settings) {
  state_ = amqp_new_connection();
  if (!state_)
    throw broker_error(who() + ": cannot create a rabbitmq-c connection (out of memory)");
  try {
    open();
  } catch (...) {
    amqp_destroy_connection(state_);
    state_ = nullptr;
    throw;
  }
}

amqp_connection::~amqp_connection() {
  if (!state_)
    return;
  if (!broken_ && logged_in_) {
    // A polite close: the server requeues what we did not ack and logs no warning. Bounded,
    // so a stuck server cannot hold a stopping consumer.
    auto tv = to_timeval(std::chrono::milliseconds{2000});
    amqp_set_rpc_timeout(state_, &tv);
    auto reply = amqp_channel_close(state_, channel, AMQP_REPLY_SUCCESS);
    if (reply.reply_type == AMQP_RESPONSE_NORMAL)
      amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
  }
  amqp_destroy_connection(state_);
}

void amqp_connection::open() {
  const auto& u = settings_.url;
  auto* socket = amqp_tcp_socket_new(state_);
  if (!socket)
    fail("connecting", "cannot create a TCP socket", "check the process's limits (open files)");
  auto connect_tv = to_timeval(settings_.connect_timeout);
  auto rpc_tv = to_timeval(settings_.rpc_timeout);
  amqp_set_handshake_timeout(state_, &connect_tv);
  amqp_set_rpc_timeout(state_, &rpc_tv);

  std::string where = (u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host) + ":"
                      + std::to_string(u.port);
  std::string why;
  bool unresolved = false;
  bool timed_out = false;
  int fd = connect_tcp(u.host, u.port, settings_.connect_timeout, why, unresolved, timed_out);
  if (fd < 0 && unresolved)
    fail("connecting to " + where, "cannot resolve the host name '" + u.host + "' (" + why + ")",
         "fix the host in broker.url");
  if (fd < 0 && timed_out)
    fail("connecting to " + where, why,
         "nothing answers at " + where + ": is the host up, or does a firewall drop the packets? "
           "Fix broker.url, or raise connect_timeout_ms if the network is only slow");
  if (fd < 0)
    fail("connecting to " + where, why,
         "is rabbitmq-server running and listening on " + where
           + "? Start it (e.g. `systemctl start rabbitmq-server`) or fix broker.url");
  amqp_tcp_socket_set_sockfd(socket, fd); // rabbitmq-c owns and closes it from here

  // Name the connection for the management UI, and ask to be told when the server cancels
  // our consumer (queue deleted) or blocks publishers (resource alarm).
  std::string name = "funboost-cpp " + settings_.queue + " pid " + std::to_string(::getpid());
  amqp_table_entry_t capabilities[2]{};
  capabilities[0].key = amqp_cstring_bytes("consumer_cancel_notify");
  capabilities[0].value.kind = AMQP_FIELD_KIND_BOOLEAN;
  capabilities[0].value.value.boolean = 1;
  capabilities[1].key = amqp_cstring_bytes("connection.blocked");
  capabilities[1].value.kind = AMQP_FIELD_KIND_BOOLEAN;
  capabilities[1].value.value.boolean = 1;
  amqp_table_entry_t entries[2]{};
  entries[0].key = amqp_cstring_bytes("connection_name");
  entries[0].value.kind = AMQP_FIELD_KIND_UTF8;
  entries[0].value.value.bytes = amqp_cstring_bytes(name.c_str());
  entries[1].key = amqp_cstring_bytes("capabilities");
  entries[1].value.kind = AMQP_FIELD_KIND_TABLE;
  entries[1].value.value.table = amqp_table_t{2, capabilities};
  amqp_table_t properties{2, entries};

  auto reply = amqp_login_with_properties(state_, u.vhost.c_str(), 0, 131072,
                                          settings_.heartbeat_seconds, &properties,
                                          AMQP_SASL_METHOD_PLAIN, u.user.c_str(),
                                          u.password.c_str());
  if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
      && reply.library_error == AMQP_STATUS_TIMEOUT)
    fail("logging in as '" + u.user + "'",
         "timed out: the TCP connection is open but no AMQP handshake came within "
           + std::to_string(settings_.connect_timeout.count()) + " ms (connect_timeout_ms)",
         timeout_advice);
  if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
      && (reply.library_error == AMQP_STATUS_CONNECTION_CLOSED
          || reply.library_error == AMQP_STATUS_SOCKET_CLOSED)) {
    fail("logging in as '" + u.user + "'", "the server closed the connection during login",
         "this usually means a wrong user name or password (ACCESS_REFUSED); fix broker.url. "
         "RabbitMQ lets 'guest' log in only from localhost");
  }
  check(reply, "logging in as '" + u.user + "' to vhost '" + u.vhost + "'");
  logged_in_ = true;

  amqp_channel_open(state_, channel);
  check_last_rpc("opening a channel");
}

void amqp_connection::check(const amqp_rpc_reply_t& reply, const std::string& doing) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return;
    case AMQP_RESPONSE_NONE:
      fail(doing, "no reply from the server (protocol error)", lost_advice);
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      fail_status(reply.library_error, doing);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      fail_server_method(reply.reply, doing);
  }
  fail(doing, "unknown rabbitmq-c reply", lost_advice);
}

void amqp_connection::check_status(int status, const std::string& doing) {
  if (status != AMQP_STATUS_OK)
    fail_status(status, doing);
}

void amqp_connection::fail_status(int status, const std::string& doing) {
  std::string detail = amqp_error_string2(status);
  if (status == AMQP_STATUS_TIMEOUT) // the server is there but silent: not a lost connection
    fail(doing,
         "timed out: no answer within " + std::to_string(settings_.rpc_timeout.count())
           + " ms (rpc_timeout_ms)",
         timeout_advice);
  if (status == AMQP_STATUS_CONNECTION_CLOSED || status == AMQP_STATUS_SOCKET_CLOSED
      || status == AMQP_STATUS_SOCKET_ERROR)
    detail = "lost the connection (" + detail + ")";
  else if (status == AMQP_STATUS_HEARTBEAT_TIMEOUT)
    detail = "lost the connection (no heartbeat from the server for "
             + std::to_string(2 * settings_.heartbeat_seconds) + " s)";
  fail(doing, detail, lost_advice);
}

void amqp_connection::fail_server_method(const amqp_method_t& method, const std::string& doing) {
  std::string detail;
  std::string advice = lost_advice;
  int code = 0;
  if (method.id == AMQP_CONNECTION_CLOSE_METHOD) {
    auto* m = static_cast<amqp_connection_close_t*>(method.decoded);
    code = m->reply_code;
    detail = "the server closed the connection: " + to_string(m->reply_text);
    amqp_connection_close_ok_t ok{};
    amqp_send_method(state_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
  } else if (method.id == AMQP_CHANNEL_CLOSE_METHOD) {
    auto* m = static_cast<amqp_channel_close_t*>(method.decoded);
    code = m->reply_code;
    detail = "the server closed the channel: " + to_string(m->reply_text);
    amqp_channel_close_ok_t ok{};
    amqp_send_method(state_, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
  } else if (method.id == AMQP_BASIC_CANCEL_METHOD) {
    detail = "the server cancelled this consumer (was the queue deleted?)";
    advice = "the consumer reconnects and declares the queue again by itself";
  } else {
    char id[16];
    std::snprintf(id, sizeof id, "0x%08x", method.id);
    detail = std::string{"unexpected AMQP method "} + id;
  }
  // Refused credentials, permissions or vhost: the server's configuration or ours must change.
  bool configuration = code == AMQP_ACCESS_REFUSED || code == AMQP_NOT_ALLOWED;
  switch (code) {
    case AMQP_ACCESS_REFUSED:
      advice = "check the user name and password in broker.url and the user's permissions on "
               "vhost '" + settings_.url.vhost
               + "' (RabbitMQ lets 'guest' log in only from localhost)";
      break;
    case AMQP_NOT_ALLOWED:
      advice = "create the vhost with `rabbitmqctl add_vhost " + settings_.url.vhost
               + "` and `rabbitmqctl set_permissions -p " + settings_.url.vhost + " "
               + settings_.url.user + " '.*' '.*' '.*'`, or fix the vhost in broker.url";
      break;
    case AMQP_PRECONDITION_FAILED:
      advice = "a queue declared with other arguments (e.g. x-max-priority) already exists: "
               "make transport_options.max_priority match it, or delete the queue";
      break;
    case AMQP_CONNECTION_FORCED:
      advice = "rabbitmq-server is stopping or restarting; consumers reconnect by themselves";
      break;
    default:
      break;
  }
  fail(doing, detail, advice, configuration);
}

void amqp_connection::fail(const std::string& doing, const std::string& detail,
                           const std::string& advice, bool configuration) {
  broken_ = true;
  // Escaped whole: host, user and vhost come from the URL and reply texts from the server.
  auto text = funboost::detail::escape_for_log(who() + ": " + doing + ": " + detail + "; " + advice);
  if (configuration)
    throw broker_config_error(text);
  throw broker_error(text);
}

} // namespace funboost::brokers::rabbitmq
