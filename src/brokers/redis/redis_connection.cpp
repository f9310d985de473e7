#include "brokers/redis/redis_connection.hpp"

#include <cstdio>

#include <poll.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>

#include <funboost/broker.hpp>

#include "brokers/redis/redis_consumer_id.hpp"
#include "core/log_text.hpp"

namespace funboost::brokers::redis {

namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

/// hiredis 0.14 reports a socket timeout as an I/O error with errno's text: EAGAIN from a
/// read or write past SO_RCVTIMEO/SO_SNDTIMEO, ETIMEDOUT from a connect. (1.x has its own code.)
bool timed_out(const redisContext* c) {
#ifdef REDIS_ERR_TIMEOUT
  if (c->err == REDIS_ERR_TIMEOUT)
    return true;
#endif
  return c->err == REDIS_ERR_IO
         && (std::strcmp(c->errstr, std::strerror(EAGAIN)) == 0
             || std::strcmp(c->errstr, std::strerror(ETIMEDOUT)) == 0);
}

constexpr const char* timeout_advice
  = "the server is up but does not answer in time: it is overloaded or blocked (a slow command "
    "or Lua script, a paused process) or the network drops packets; raise connect_timeout_ms / "
    "command_timeout_ms if it is only slow. Consuming resumes by itself once it answers";

/// What a failure means and what to do about it, from its text (hiredis' error or the
/// server's error reply).
struct diagnosis {
  std::string advice;
  bool configuration = false; // the server refuses our configuration: retrying cannot help
};

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

diagnosis diagnose(const std::string& what) {
  if (contains(what, "timed out"))
    return {timeout_advice};
  if (contains(what, "NOAUTH"))
    return {"the server needs a password: set it in the broker URL "
            "(redis://:password@host:port/db) or transport_options.password",
            true};
  if (contains(what, "WRONGPASS") || contains(what, "invalid password")
      || contains(what, "invalid username-password"))
    return {"wrong password (or user name): set the right one in the broker URL "
            "(redis://:password@host:port/db) or transport_options.password",
            true};
  if (contains(what, "without any password configured"))
    return {"the server has no password: remove it from the broker URL, or set requirepass "
            "on the server",
            true};
  if (contains(what, "DB index"))
    return {"the server has no such database: use a db number below the server's "
            "'databases' setting (redis.conf; 16 by default) in the broker URL or "
            "transport_options.db",
            true};
  if (contains(what, "NOPERM"))
    return {"the Redis user may not run this command or use this key: grant it with ACL SETUSER, "
            "or use another user in the broker URL",
            true};
  if (contains(what, "WRONGTYPE"))
    return {"another program uses this key with a different type; pick another queue name or "
            "broker kind"};
  return {"check that redis-server is running and reachable at this address; consuming "
          "resumes by itself once it is"};
}

std::string first_words(const command& words) {
  std::string out;
  // AUTH's arguments are secrets: name the command only.
  std::size_t shown = !words.empty() && (words[0] == "AUTH" || words[0] == "auth") ? 1 : 2;
  for (std::size_t i = 0; i < words.size() && i < shown; ++i) {
    if (i)
      out.push_back(' ');
    out.append(words[i], 0, 60);
  }
  return out;
}

} // namespace

std::string reply_text(const redisReply* r) {
  if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS
            || r->type == REDIS_REPLY_ERROR))
    return std::string{r->str, r->len};
  return {};
}

bool is_error(const redisReply* r, std::string_view prefix) {
  return r && r->type == REDIS_REPLY_ERROR
         && std::string_view{r->str, r->len}.substr(0, prefix.size()) == prefix;
}

long long reply_int(const redisReply* r, long long fallback) {
  if (!r)
    return fallback;
  if (r->type == REDIS_REPLY_INTEGER)
    return r->integer;
  if (r->type == REDIS_REPLY_STRING) {
    try {
      return std::stoll(std::string{r->str, r->len});
    } catch (...) {
      return fallback;
    }
  }
  return fallback;
}

redis_connection::redis_connection(redis_where where) : where_(std::move(where)) {
  const auto& a = where_.address;
  auto tv = to_timeval(a.connect_timeout);
  ctx_ = a.is_unix ? redisConnectUnixWithTimeout(a.socket_path.c_str(), tv)
                   : redisConnectWithTimeout(a.host.c_str(), a.port, tv);
  if (!ctx_)
    fail("cannot allocate a hiredis context");
  if (ctx_->err) {
    std::string what = timed_out(ctx_) ? "cannot connect: timed out, no answer within "
                                           + std::to_string(a.connect_timeout.count())
                                           + " ms (connect_timeout_ms)"
                                       : "cannot connect (" + std::string{ctx_->errstr} + ")";
    redisFree(ctx_);
    ctx_ = nullptr;
    fail(what);
  }
  set_timeout(a.command_timeout);
  if (!a.is_unix)
    redisEnableKeepAlive(ctx_);
  if (!a.password.empty()) {
    if (a.username.empty())
      run({"AUTH", a.password});
    else
      run({"AUTH", a.username, a.password});
  }
  if (a.db != 0)
    run({"SELECT", std::to_string(a.db)});
  // Names the process (redis_consumer_id.hpp) so other processes see when all its connections
  // are gone. A server that refuses CLIENT SETNAME (an ACL) only loses that fast path.
  run_allow_error({"CLIENT", "SETNAME", process_client_name()});
}

redis_connection::~redis_connection() {
  if (ctx_)
    redisFree(ctx_);
}

std::string redis_connection::describe() const {
  return "redis broker '" + where_.kind + "' for queue '" + where_.queue + "' at "
         + where_.address.display();
}

void redis_connection::fail(const std::string& what) const {
  auto d = diagnose(what);
  // Escaped whole: the address comes from the URL and reply texts from the server.
  auto text = detail::escape_for_log(describe() + ": " + what + "; " + d.advice);
  if (d.configuration)
    throw broker_config_error(text);
  throw broker_error(text);
}

void redis_connection::set_timeout(std::chrono::milliseconds timeout) {
  if (ctx_ && ctx_->err == 0 && redisSetTimeout(ctx_, to_timeval(timeout)) == REDIS_OK)
    timeout_ = timeout;
}

reply_ptr redis_connection::read_reply() {
  void* raw = nullptr;
  if (redisGetReply(ctx_, &raw) == REDIS_OK && raw)
    return reply_ptr{static_cast<redisReply*>(raw)};
  // A timeout is no lost connection: the server is there but slow, blocked or paused. Both
  // leave this connection unusable (a late reply would answer the wrong command).
  if (timed_out(ctx_))
    fail("timed out: no reply within " + std::to_string(timeout_.count())
         + " ms (command_timeout_ms)");
  fail(std::string{"connection lost ("} + (ctx_->errstr[0] ? ctx_->errstr : "no reply") + ")");
}

std::vector<reply_ptr> redis_connection::read_pushed(std::chrono::milliseconds wait) {
  if (!usable())
    fail("the connection failed earlier (lost or timed out) and cannot be used again");
  std::vector<reply_ptr> out;
  pollfd p{ctx_->fd, POLLIN, 0};
  int ready = ::poll(&p, 1, static_cast<int>(wait.count()));
  if (ready < 0 && errno != EINTR)
    fail(std::string{"poll failed ("} + std::strerror(errno) + ")");
  if (ready <= 0)
    return out;
  out.push_back(read_reply()); // one read from the socket...
  void* raw = nullptr;
  while (redisGetReplyFromReader(ctx_, &raw) == REDIS_OK && raw) { // ...and all it completed
    out.emplace_back(static_cast<redisReply*>(raw));
    raw = nullptr;
  }
  if (ctx_->err)
    fail("unreadable reply (" + std::string{ctx_->errstr} + ")");
  return out;
}

void redis_connection::throw_if_error_reply(const reply_ptr& reply,
                                            const command& words) const {
  if (reply->type == REDIS_REPLY_ERROR)
    fail("'" + first_words(words) + "' failed: " + reply_text(reply.get()));
}

reply_ptr redis_connection::run_allow_error(const command& words) {
  if (!usable())
    fail("the connection failed earlier (lost or timed out) and cannot be used again");
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(words.size());
  lens.reserve(words.size());
  for (const auto& w : words) {
    argv.push_back(w.data());
    lens.push_back(w.size());
  }
  if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data())
      != REDIS_OK)
    fail(std::string{"cannot send a command ("} + ctx_->errstr + ")");
  return read_reply();
}

reply_ptr redis_connection::run(const command& words) {
  auto reply = run_allow_error(words);
  throw_if_error_reply(reply, words);
  return reply;
}

template <class Words>
std::vector<reply_ptr> redis_connection::send_all(const std::vector<Words>& commands) {
  if (!usable())
    fail("the connection failed earlier (lost or timed out) and cannot be used again");
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& words : commands) {
    argv.clear();
    lens.clear();
    for (const auto& w : words) {
      argv.push_back(w.data());
      lens.push_back(w.size());
    }
    if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data())
        != REDIS_OK)
      fail(std::string{"cannot send a command ("} + ctx_->errstr + ")");
  }
  std::vector<reply_ptr> replies;
  replies.reserve(commands.size());
  for (std::size_t i = 0; i < commands.size(); ++i)
    replies.push_back(read_reply());
  return replies;
}

std::vector<reply_ptr> redis_connection::pipeline(const std::vector<command>& commands) {
  return send_all(commands);
}

std::vector<reply_ptr> redis_connection::pipeline_views(const std::vector<command_view>& commands) {
  return send_all(commands);
}

reply_ptr redis_connection::eval(std::string_view script, const std::vector<std::string>& keys,
                                 const std::vector<std::string>& args) {
  std::string text{script};
  auto& sha = script_shas_[text];
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (sha.empty()) {
      auto loaded = run({"SCRIPT", "LOAD", text});
      sha = reply_text(loaded.get());
    }
    command words{"EVALSHA", sha, std::to_string(keys.size())};
    words.insert(words.end(), keys.begin(), keys.end());
    words.insert(words.end(), args.begin(), args.end());
    auto reply = run_allow_error(words);
    if (is_error(reply.get(), "NOSCRIPT")) { // the server restarted or flushed its scripts
      sha.clear();
      continue;
    }
    throw_if_error_reply(reply, {"EVAL", "(funboost script)"});
    return reply;
  }
  fail("the server keeps forgetting a Lua script (NOSCRIPT)");
}

std::string score_text(double value) {
  char buf[32];
  auto n = std::snprintf(buf, sizeof buf, "%.17g", value);
  return {buf, static_cast<std::size_t>(n)};
}

} // namespace funboost::brokers::redis
