// funboost's task filtering (do_task_filtering): a task whose filter value (core/filter_key.hpp)
// is in the queue's filter is not run. The store of those values: an interface and its
// in-memory implementation; the Redis one is results/redis_task_filter.hpp.
//
// What Python funboost does (funboost/consumers/base_consumer.py, redis_filter.py), which the
// worker is to follow:
//  - The booster's task_filtering_expire_seconds picks the store once: 0 is the SET
//    filter_set:{queue} (forever), anything else the ZSET filter_zset:{queue} whose score is the
//    Unix time (time.time()) the value was added. Both live in the RESULTS db (funboost's
//    REDIS_DB_FILTER_AND_RPC_RESULT, default 8), not the queue db.
//  - Filtering applies to a message when extra.do_task_filtering is truthy, else when the
//    booster's do_task_filtering is (so a message cannot turn off its booster's filtering).
//    The value is extra.filter_str when truthy, else the arguments' text (filter_key.hpp).
//  - Checked when the message is taken (after the msg_expire_seconds check, before countdown/eta
//    and before running): SISMEMBER, or ZSCORE not nil. A filtered task is acked, not run; its
//    status has success=false, result "filtered_task_result", and goes to the RPC waiter only
//    when max_retry_times is 0 (funboost passes retry count 0 to its "final outcome?" test, so
//    with the default 3 retries a waiter of a filtered task times out). Exception: with
//    advanced retry in requeue mode, a re-published retry (extra's advanced retry count between
//    1 and max_retry_times) is never filtered.
//  - Added AFTER the run has finished, whatever its outcome: success, failure after the last
//    retry, requeue, dead-letter or a remote kill all add it (SADD, or ZADD with the current
//    time; a re-add moves the score). Not before running, so two equal tasks taken at the same
//    time both run.
//  - Expiry: nothing compares scores at check time. A thread removes old entries with
//    ZREMRANGEBYSCORE filter_zset:{queue} 0 (now - expire) when the consumer starts and every
//    60 s after, so an entry may stay "seen" up to about 60 s past its expiry there.
//    funboost-cpp's seen() counts only entries younger than the expiry; remove_expired() is
//    the cleanup, to be run as funboost runs it (or more often: it is safe from any process).
//
// Which implementation: the Redis one whenever a Redis results db is configured (the same
// address as the Redis result store; shared with Python funboost and every other process of the
// queue); the in-memory one otherwise (the memory broker, or no results db): it filters within
// this process only, as no other process could see the values anyway.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/unix_time.hpp"

namespace funboost::detail {

/// The current Unix time in seconds (time.time(), core/unix_time.hpp's unix_now); tests pass
/// their own.
using unix_clock = std::function<double()>;

/// funboost's key for `queue`'s filter: "filter_set:{queue}" when `expire_seconds` is 0 (or
/// less), else "filter_zset:{queue}".
std::string task_filter_key(std::string_view queue, double expire_seconds);

/// The values of tasks that ran, per queue. Thread-safe. A filter has the expiry of the booster
/// that owns it (task_filtering_expire_seconds; 0 = forever), fixed at construction.
class task_filter {
public:
  virtual ~task_filter() = default;

  /// True when `value` was remembered for `queue` and, with an expiry, less than expire
  /// seconds ago. May throw (the Redis one: funboost::broker_error).
  virtual bool seen(const std::string& queue, const std::string& value) = 0;

  /// Remembers `value` for `queue` now (again: the time moves). funboost does this after every
  /// finished run, successful or not (see above).
  virtual void remember(const std::string& queue, const std::string& value) = 0;

  /// Drops the values older than the expiry (funboost's 60 s cleanup); returns how many. Does
  /// nothing without an expiry.
  virtual std::size_t remove_expired(const std::string& queue) = 0;

  /// Forgets every value of `queue` in this filter's store (funboost's clear_filter_tasks).
  virtual void clear(const std::string& queue) = 0;

  /// task_filtering_expire_seconds; 0 = forever.
  virtual double expire_seconds() const = 0;

  /// "in-memory task filter" / "redis task filter at redis://127.0.0.1:6379/8".
  virtual std::string describe() const = 0;
};

/// The in-memory filter: one store for the whole process, so every filter made here sees what
/// any other one remembered for the same key (queue and set/zset kind, as in Redis). Values
/// without an expiry stay for the life of the process (funboost's set grows the same way);
/// with one, remember() also drops the queue's expired values at most once a minute.
std::shared_ptr<task_filter> make_memory_task_filter(double expire_seconds,
                                                     unix_clock clock = {});

} // namespace funboost::detail
