// Where a Redis broker lives and how to talk to it: parsed from booster_options::broker.
//
//   redis://[:password@]host[:port][/db]      (also redis://user:password@host...)
//   unix:///path/to/redis.sock[?db=N]
//
// transport_options may add or override: db, password, username, key_prefix,
// connect_timeout_ms (default 2000), command_timeout_ms (default 5000).
// An empty URL means redis://127.0.0.1:6379/7 (funboost keeps queues in db 7).
#pragma once

#include <chrono>
#include <string>

#include <funboost/options.hpp>

namespace funboost::brokers::redis {

struct redis_address {
  bool is_unix = false;
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string socket_path;          // is_unix
  std::string username;             // Redis 6 ACL user; empty = default user
  std::string password;             // empty = no AUTH
  int db = 7;
  std::string key_prefix;           // prepended to every key this broker touches
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds command_timeout{5000};

  /// The address for messages: the URL without the password, escaped for one log line.
  std::string display() const;
};

/// Parses the URL and transport options; throws funboost::broker_error (naming the broker kind,
/// the queue and the URL, and the accepted forms) when they are malformed.
redis_address parse_redis_address(const booster_options& options);

/// A transport option as an integer / string, or `fallback` when absent. Throws broker_error
/// when present with the wrong type.
long long transport_int(const booster_options& options, const std::string& name,
                        long long fallback);
std::string transport_string(const booster_options& options, const std::string& name,
                             const std::string& fallback);

} // namespace funboost::brokers::redis
