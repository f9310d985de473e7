// One hiredis connection: RAII, AUTH and SELECT on connect, and command helpers that throw
// funboost::broker_error (naming the broker kind, the queue and the address, and what to do)
// on a refused or lost connection or an error reply. After an I/O error the connection is
// broken for good: the owner drops it and makes a new one (the fetcher does that by dying).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <hiredis/hiredis.h>

#include "brokers/redis/redis_url.hpp"

namespace funboost::brokers::redis {

struct reply_deleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

/// A command: its words, binary-safe.
using command = std::vector<std::string>;
/// A command whose words live elsewhere (no copy of large values, e.g. message bodies).
using command_view = std::vector<std::string_view>;

/// What an error message says about where it happened.
struct redis_where {
  std::string kind;   // "redis" or "redis_stream"
  std::string queue;
  redis_address address;
};

class redis_connection {
public:
  /// Connects, authenticates and selects the db; throws broker_error on failure.
  explicit redis_connection(redis_where where);
  ~redis_connection();
  redis_connection(const redis_connection&) = delete;
  redis_connection& operator=(const redis_connection&) = delete;

  /// Runs one command; throws broker_error on I/O errors and error replies.
  reply_ptr run(const command& words);
  /// As run(), but an error reply is returned (type REDIS_REPLY_ERROR) instead of thrown.
  reply_ptr run_allow_error(const command& words);
  /// Sends all commands in one round trip; returns their replies in order. Error replies are
  /// returned, not thrown; I/O errors throw.
  std::vector<reply_ptr> pipeline(const std::vector<command>& commands);
  std::vector<reply_ptr> pipeline_views(const std::vector<command_view>& commands);

  /// For a connection that has subscribed: waits at most `wait` for pushed messages and returns
  /// every reply one read brought (none when nothing came in time). Throws on I/O errors.
  std::vector<reply_ptr> read_pushed(std::chrono::milliseconds wait);

  /// EVALSHA with a fallback to EVAL when the server does not know the script yet.
  reply_ptr eval(std::string_view script, const std::vector<std::string>& keys,
                 const std::vector<std::string>& args);

  /// The socket timeout for the next commands (blocking reads need more than the default).
  void set_timeout(std::chrono::milliseconds timeout);
  std::chrono::milliseconds default_timeout() const { return where_.address.command_timeout; }

  /// False once an I/O error happened: every further call would fail.
  bool usable() const { return ctx_ && ctx_->err == 0; }

  const redis_where& where() const { return where_; }

  /// "redis broker 'redis' for queue 'q' at redis://host:port/db" (no password).
  std::string describe() const;

  /// Throws broker_error: "<describe()>: <what>; <advice>"; broker_config_error when `what`
  /// is the server refusing our configuration (NOAUTH, WRONGPASS, a DB index it lacks, NOPERM).
  [[noreturn]] void fail(const std::string& what) const;

private:
  reply_ptr read_reply();
  /// Appends every command, then reads their replies in order.
  template <class Words>
  std::vector<reply_ptr> send_all(const std::vector<Words>& commands);
  void throw_if_error_reply(const reply_ptr& reply, const command& words) const;

  redis_where where_;
  redisContext* ctx_ = nullptr;
  std::chrono::milliseconds timeout_{0}; // the socket timeout in effect, for error texts
  std::unordered_map<std::string, std::string> script_shas_; // script text -> SHA1
};

/// The text of a string/status/error reply ("" for others).
/// A zset score as text Redis reads back exactly (%.17g round-trips a double).
std::string score_text(double value);
std::string reply_text(const redisReply* r);
/// True if `r` is an error reply whose text starts with `prefix` (e.g. "BUSYGROUP").
bool is_error(const redisReply* r, std::string_view prefix = {});
/// The integer of an integer reply (or a numeric string), else `fallback`.
long long reply_int(const redisReply* r, long long fallback = 0);

} // namespace funboost::brokers::redis
