// Where a finished RPC task's status record goes, and where waiters find it. The in-process
// registry (core/result_registry) always serves waiters of this process at once; a result
// store also makes results cross processes: the redis store writes funboost's record
// (LPUSH + EXPIRE under the task id, results db) so Python funboost and other funboost-cpp
// processes read it, and watches records written by any process for this process's waiters.
#pragma once

#include <memory>
#include <string>

#include <funboost/async_result.hpp>

namespace funboost::detail {

class task_filter;

class result_store {
public:
  virtual ~result_store() = default;

  /// Stores the final status record of `task_id` (funboost's JSON record, see
  /// core/status_record.hpp). Called from worker threads; returns without waiting for Redis.
  virtual void write(const std::string& task_id, std::string record_json) = 0;

  /// Finishes `slot` (slot->task_id) once a record for it exists, whoever wrote it. The store
  /// keeps only a weak reference: a slot whose waiters gave up, or that was finished by the
  /// in-process registry first, is dropped. `may_exist` false: the task is being pushed just
  /// now (watched before publishing), so there is no record to look for yet.
  virtual void watch(const std::shared_ptr<result_slot>& slot, bool may_exist = true) = 0;

  /// "redis://127.0.0.1:6379/8" (no password) or "in-process": for logs and errors.
  virtual std::string describe() const = 0;

  /// funboost's task filter in the same place (its results db), so every process of the queue,
  /// Python's included, filters together; null when the store has none (then it is in-process).
  virtual std::shared_ptr<task_filter> make_task_filter(double expire_seconds) {
    (void) expire_seconds;
    return nullptr;
  }

  /// Ends the store's actors after the records already written: for the runtime's exit when
  /// an abandoned worker (its function never returned) still holds the store. Later writes
  /// are dropped.
  virtual void close() {}
};

} // namespace funboost::detail

#include <functional>

#include <caf/fwd.hpp>
#include <spdlog/logger.h>

#include <funboost/options.hpp>

namespace funboost::detail {

/// Makes a result store for `options.result_store_url` (already resolved: never empty).
using result_store_factory = std::function<std::shared_ptr<result_store>(
  caf::actor_system&, const booster_options&, std::shared_ptr<spdlog::logger>)>;

/// Registers the factory for URLs of `scheme` ("redis", "unix"); stores register themselves.
void register_result_store(const std::string& scheme, result_store_factory factory);

/// The factory for `scheme`, or null.
result_store_factory find_result_store(const std::string& scheme);

} // namespace funboost::detail
