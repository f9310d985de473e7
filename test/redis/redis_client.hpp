// A raw hiredis client for tests: writes messages byte-for-byte as other producers do and reads
// back what the brokers wrote.
#pragma once

#include "support/fixtures.hpp"

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <hiredis/hiredis.h>

namespace funboost::test {

struct reply_free {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using reply = std::unique_ptr<redisReply, reply_free>;

class redis_client {
public:
  explicit redis_client(int port, int db = 7) {
    timeval tv{5, 0};
    ctx_ = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (!ctx_ || ctx_->err)
      throw std::runtime_error("test client cannot connect to redis on port "
                               + std::to_string(port));
    redisSetTimeout(ctx_, tv);
    run({"SELECT", std::to_string(db)});
  }
  ~redis_client() {
    if (ctx_)
      redisFree(ctx_);
  }
  redis_client(const redis_client&) = delete;
  redis_client& operator=(const redis_client&) = delete;

  reply run(const std::vector<std::string>& words) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& w : words) {
      argv.push_back(w.data());
      lens.push_back(w.size());
    }
    auto* r = static_cast<redisReply*>(
      redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (!r)
      throw std::runtime_error("test client: command failed: " + std::string{ctx_->errstr});
    if (r->type == REDIS_REPLY_ERROR) {
      std::string text{r->str, r->len};
      freeReplyObject(r);
      throw std::runtime_error("test client: " + words[0] + ": " + text);
    }
    return reply{r};
  }

  long long integer(const std::vector<std::string>& words) {
    auto r = run(words);
    if (r->type == REDIS_REPLY_INTEGER)
      return r->integer;
    if (r->type == REDIS_REPLY_STRING)
      return std::stoll(std::string{r->str, r->len});
    return 0;
  }

  std::string string(const std::vector<std::string>& words) {
    auto r = run(words);
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
      return {r->str, r->len};
    return {};
  }

  std::vector<std::string> strings(const std::vector<std::string>& words) {
    auto r = run(words);
    std::vector<std::string> out;
    if (r->type == REDIS_REPLY_ARRAY)
      for (std::size_t i = 0; i < r->elements; ++i)
        if (r->element[i]->type == REDIS_REPLY_STRING)
          out.emplace_back(r->element[i]->str, r->element[i]->len);
    return out;
  }

  /// The field values of every entry of a stream (XRANGE key - +), in order.
  std::vector<std::string> stream_values(const std::string& key) {
    auto r = run({"XRANGE", key, "-", "+"});
    std::vector<std::string> out;
    for (std::size_t i = 0; i < r->elements; ++i) {
      auto* fields = r->element[i]->element[1];
      if (fields->elements >= 2)
        out.emplace_back(fields->element[1]->str, fields->element[1]->len);
    }
    return out;
  }

  /// The next reply the server sends unasked (after MONITOR): a MONITOR line. Throws after
  /// the client's 5 s timeout with nothing.
  std::string next_pushed() {
    void* r = nullptr;
    if (redisGetReply(ctx_, &r) != REDIS_OK || !r)
      throw std::runtime_error("test client: nothing pushed: " + std::string{ctx_->errstr});
    reply owned{static_cast<redisReply*>(r)};
    return owned->str ? std::string{owned->str, owned->len} : std::string{};
  }

private:
  redisContext* ctx_ = nullptr;
};

using test_support::wait_until;

} // namespace funboost::test
