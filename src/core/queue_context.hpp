// What every actor of one queue shares: its options, broker, function, logger and result store. Immutable
// once the queue starts, so actors on any thread may read it without locks.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include <spdlog/logger.h>

#include <funboost/broker.hpp>
#include <funboost/function_binding.hpp>
#include <funboost/options.hpp>

#include "core/log_text.hpp"

namespace funboost::detail {

class result_store;
class task_filter;

struct queue_context {
  booster_options options;
  std::shared_ptr<funboost::broker> broker;
  task_function function;
  std::shared_ptr<spdlog::logger> log;
  std::shared_ptr<result_store> results; // null: RPC results stay in this process
  std::shared_ptr<task_filter> filter;   // do_task_filtering's values (core/task_filter.hpp)
  /// Set by the supervisor while it consumes; read by the node for its queue list.
  std::shared_ptr<std::atomic<bool>> consuming = std::make_shared<std::atomic<bool>>(false);
  /// Set by the publisher actor while the broker is down (a push failed through every retry,
  /// or the outbox replay failed) until a probe reaches it again. push()'s fast path reads it
  /// to hand pushes straight to the publisher, which keeps them in the outbox without waiting.
  std::shared_ptr<std::atomic<bool>> publisher_down = std::make_shared<std::atomic<bool>>(false);
  /// Worker threads a stop gave up on (their function had not returned by stop_timeout) that
  /// still run. Shared by every queue of a runtime: at exit it must not wait for them.
  std::shared_ptr<std::atomic<int>> abandoned_workers = std::make_shared<std::atomic<int>>(0);

  const std::string& queue() const { return options.queue_name; }
  /// Where the broker is, for log lines and errors: never with its password, and the default
  /// address the broker really uses when the URL is empty.
  std::string broker_address() const {
    if (auto address = broker ? broker->address() : std::string{}; !address.empty())
      return address;
    return options.broker.url.empty() ? "the broker's default address"
                                      : redact_url(options.broker.url);
  }
  /// Fetched-but-unfinished tasks the queue may hold: what a crash can strand.
  uint32_t prefetch() const {
    return static_cast<uint32_t>(options.concurrent_num * options.prefetch_per_worker);
  }
};

using queue_context_ptr = std::shared_ptr<const queue_context>;

} // namespace funboost::detail
