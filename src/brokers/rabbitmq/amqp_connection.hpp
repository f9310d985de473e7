// One rabbitmq-c connection with one channel, RAII. Every reply is checked; every failure is
// thrown as funboost::broker_error naming the broker kind, the queue and the address, and
// saying what to do. After a failure the connection is broken: drop it and make a new one.
#pragma once

#include <chrono>
#include <string>

#include <sys/time.h>

#include <amqp.h>

#include "brokers/rabbitmq/amqp_url.hpp"

namespace funboost::brokers::rabbitmq {

struct connection_settings {
  amqp_url url;
  std::string queue;                              // the booster's queue, for error messages
  std::chrono::milliseconds connect_timeout{5000}; // TCP connect and AMQP handshake
  std::chrono::milliseconds rpc_timeout{30000};    // any synchronous AMQP method
  int heartbeat_seconds = 0; // AMQP heartbeats; off: see rabbitmq_broker.hpp
};

class amqp_connection {
public:
  /// Connects, logs in and opens channel 1. Throws broker_error.
  explicit amqp_connection(const connection_settings& settings);
  ~amqp_connection();

  amqp_connection(const amqp_connection&) = delete;
  amqp_connection& operator=(const amqp_connection&) = delete;

  amqp_connection_state_t state() const { return state_; }
  static constexpr amqp_channel_t channel = 1;

  /// Throws broker_error unless `reply` is normal; `doing` says what was attempted
  /// ("declaring queue 'q'").
  void check(const amqp_rpc_reply_t& reply, const std::string& doing);
  /// The same for the last RPC reply (after calls that return a pointer, null on error).
  void check_last_rpc(const std::string& doing) { check(amqp_get_rpc_reply(state_), doing); }
  /// Throws broker_error unless `status` (a rabbitmq-c status code) is AMQP_STATUS_OK.
  void check_status(int status, const std::string& doing);

  /// Handles a method frame the server sent on its own (channel.close, connection.close,
  /// basic.cancel): answers it as the protocol asks and throws broker_error.
  [[noreturn]] void fail_server_method(const amqp_method_t& method, const std::string& doing);

  /// Marks the connection broken and throws broker_error: "<who>: <doing>: <detail>; <advice>"
  /// (broker_config_error when `configuration`: the server refuses credentials, permissions or
  /// the vhost, which waiting will not change).
  [[noreturn]] void fail(const std::string& doing, const std::string& detail,
                         const std::string& advice, bool configuration = false);

  bool broken() const { return broken_; }

  /// "rabbitmq broker for queue 'q' at amqp://user@host:port/vhost"
  std::string who() const;

private:
  void open();
  std::string server_exception(const amqp_rpc_reply_t& reply, std::string& advice);
  [[noreturn]] void fail_status(int status, const std::string& doing);

  connection_settings settings_;
  amqp_connection_state_t state_ = nullptr;
  bool broken_ = false;
  bool logged_in_ = false;
};

/// "rabbitmq broker for queue 'q' at amqp://user@host:port/vhost", without a live connection.
std::string describe(const connection_settings& settings);

} // namespace funboost::brokers::rabbitmq
