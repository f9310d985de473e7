#include "results/redis_task_filter.hpp"

#include <charconv>
#include <mutex>
#include <utility>

#include <funboost/broker.hpp>

#include "brokers/redis/redis_connection.hpp"
#include "core/filter_key.hpp"

namespace funboost::detail {

namespace {

namespace rd = brokers::redis;

class redis_task_filter final : public task_filter {
public:
  redis_task_filter(rd::redis_address address, double expire_seconds, unix_clock clock)
    : where_{"redis task filter", "(results db)", std::move(address)},
      expire_(expire_seconds > 0 ? expire_seconds : 0),
      clock_(clock ? std::move(clock) : unix_clock{unix_now}) {}

  bool seen(const std::string& queue, const std::string& value) override {
    auto key = key_of(queue);
    if (expire_ <= 0)
      return rd::reply_int(run({"SISMEMBER", key, value}).get()) == 1;
    auto reply = run({"ZSCORE", key, value});
    double score = 0;
    if (!score_of(reply.get(), score))
      return false;
    // funboost only asks whether a score exists and leaves old ones to its cleanup thread;
    // here an entry as old as the expiry no longer counts, whether cleaned up yet or not.
    return score > clock_() - expire_;
  }

  void remember(const std::string& queue, const std::string& value) override {
    auto key = key_of(queue);
    if (expire_ <= 0) {
      run({"SADD", key, value});
      return;
    }
    // The score as redis-py sends time.time(): Python's repr of the float.
    auto score = python_float_repr(clock_());
    run({"ZADD", key, score, value});
  }

  std::size_t remove_expired(const std::string& queue) override {
    if (expire_ <= 0)
      return 0;
    auto key = key_of(queue);
    auto max = python_float_repr(clock_() - expire_);
    auto removed = rd::reply_int(run({"ZREMRANGEBYSCORE", key, "0", max}).get());
    return removed > 0 ? static_cast<std::size_t>(removed) : 0;
  }

  void clear(const std::string& queue) override {
    auto key = key_of(queue);
    run({"DEL", key});
  }

  double expire_seconds() const override { return expire_; }

  std::string describe() const override {
    return "redis task filter at " + where_.address.display();
  }

private:
  std::string key_of(const std::string& queue) const {
    return where_.address.key_prefix + task_filter_key(queue, expire_);
  }

  /// A ZSCORE reply's score; false for nil (no such member).
  static bool score_of(const redisReply* r, double& score) {
    if (r->type != REDIS_REPLY_STRING
#ifdef REDIS_REPLY_DOUBLE
        && r->type != REDIS_REPLY_DOUBLE // RESP3
#endif
    )
      return false;
    std::string_view text{r->str, r->len};
    if (!text.empty() && text.front() == '+')
      text.remove_prefix(1); // "+inf": from_chars takes no plus sign
    return std::from_chars(text.data(), text.data() + text.size(), score).ec == std::errc{};
  }

  /// Runs one command under the lock, connecting first if there is no connection. A connection
  /// that had been working and is found dead is replaced once (the commands are idempotent).
  rd::reply_ptr run(const rd::command& words) {
    std::lock_guard lock{mutex_};
    bool new_connection = false;
    for (;;) {
      if (!conn_) {
        conn_ = std::make_unique<rd::redis_connection>(where_);
        new_connection = true;
      }
      try {
        return conn_->run(words);
      } catch (const broker_error&) {
        if (conn_->usable()) // an error reply (e.g. WRONGTYPE): the same again next time
          throw;
        conn_.reset();
        if (new_connection)
          throw;
      }
    }
  }

  rd::redis_where where_;
  double expire_;
  unix_clock clock_;
  std::mutex mutex_;
  std::unique_ptr<rd::redis_connection> conn_;
};

} // namespace

std::shared_ptr<task_filter> make_redis_task_filter(brokers::redis::redis_address results_db,
                                                    double expire_seconds, unix_clock clock) {
  return std::make_shared<redis_task_filter>(std::move(results_db), expire_seconds,
                                             std::move(clock));
}

} // namespace funboost::detail
