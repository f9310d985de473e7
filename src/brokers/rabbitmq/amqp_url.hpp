// amqp://user:pass@host:port/vhost, as RabbitMQ's URI spec describes it, percent-decoded.
#pragma once

#include <string>

namespace funboost::brokers::rabbitmq {

struct amqp_url {
  std::string user = "guest";
  std::string password = "guest";
  std::string host = "127.0.0.1";
  int port = 5672;
  std::string vhost = "/";

  /// host:port/vhost, without credentials and escaped: safe to put in logs and error messages.
  std::string address() const;
  /// amqp://user[:***]@host:port/vhost: the whole URL as used (defaults applied), escaped, for
  /// logs.
  std::string display() const;
};

/// Parses `url`. An empty string means amqp://guest:guest@127.0.0.1:5672/. A missing or empty
/// path means vhost "/" (write %2F for it explicitly, or a name for another vhost).
/// Throws std::invalid_argument saying what is wrong and what the form is.
amqp_url parse_amqp_url(const std::string& url);

} // namespace funboost::brokers::rabbitmq
