// A publish-only booster: pushes to a queue by name without linking its function, as
// funboost.faas's "fake booster" does. Arguments are checked against the signature the queue's
// consumers registered (funboost_queue__consumer_parmas on Redis; the boosters of this runtime
// on the memory broker) when it is known: a missing or unknown argument is refused at once.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <funboost/async_result.hpp>
#include <funboost/booster.hpp>

namespace funboost {

class queue_publisher {
public:
  explicit queue_publisher(std::shared_ptr<detail::booster_core> core) : core_(std::move(core)) {}

  /// Sends one task from a JSON object of keyword arguments. Throws std::invalid_argument when
  /// the arguments don't fit the registered signature (naming the queue and the argument).
  /// The result (RPC mode) is the function's return value as JSON text.
  async_result<json_text> publish(std::string_view kwargs_json,
                                  const task_options& options = {}) const;

  /// The queue's signature as registered by its consumers (empty arg names when unknown).
  queue_info info() const { return core_->info(); }

  std::size_t message_count() const { return core_->message_count(); }
  void clear() const { core_->clear(); }
  /// Waits until the broker holds (or the outbox keeps) every task published so far
  /// (publish_mode::pipelined).
  void flush() const { core_->flush(); }
  const booster_options& options() const { return core_->options(); }

private:
  std::shared_ptr<detail::booster_core> core_;
};

} // namespace funboost
