// A booster: one function bound to one queue. push() sends a task, consume() starts the queue's
// actors, and calling the booster still calls the plain function.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>


#include <funboost/async_result.hpp>
#include <funboost/codec.hpp>
#include <funboost/options.hpp>
#include <funboost/protocol.hpp>
#include <funboost/wire.hpp>

namespace funboost {

namespace detail {

/// The non-template part of a booster (src/core/booster_core.cpp): the publishing fast path,
/// the publisher and queue_supervisor actors, and the results. Shared by every copy of a
/// booster, and by a publish-only booster (rt.publisher), which has no supervisor.
class booster_core {
public:
  virtual ~booster_core() = default;
  virtual const booster_options& options() const = 0;
  /// Publishes finished messages (one broker call when they fit); each slot reports the publish
  /// and, in RPC mode, the result.
  virtual std::vector<std::shared_ptr<result_slot>>
  publish(std::vector<std::string> bodies, std::vector<std::string> task_ids, bool rpc) = 0;
  /// Publishes one task from a JSON object of keyword arguments with per-task options.
  virtual std::shared_ptr<result_slot> publish_kwargs(std::string_view kwargs_json,
                                                      const task_options& options) = 0;
  /// Waits until the broker has answered for every push so far (pipelined mode; at once
  /// otherwise).
  virtual void flush() = 0;
  virtual void consume() = 0;
  virtual void stop() = 0;
  virtual void clear() = 0;
  virtual std::size_t message_count() = 0;
  virtual queue_supervisor_actor supervisor() const = 0;
  /// The queue as the node lists it (arg names, optional ones, options).
  virtual queue_info info() const = 0;
  /// A publish-only booster whose queue's signature is unknown looks it up again.
  virtual void refresh_signature() = 0;
};

} // namespace detail

template <class Signature>
class booster;

/// A function R(Args...) with a distributed task queue. Cheap to copy; copies share the queue.
template <class R, class... Args>
class booster<R(Args...)> {
public:
  using result_type = R;

  booster(std::shared_ptr<detail::booster_core> core, std::function<R(Args...)> fn)
    : core_(std::move(core)), fn_(std::move(fn)) {
    message_options_ = with_booster_rpc({}, core_->options().is_using_rpc_mode);
    const auto& names = core_->options().arg_names;
    for (std::size_t i = 0; i < names.size(); ++i) {
      std::string key = i == 0 ? "" : ",";
      json_writer w{key};
      w.key(names[i]);
      keys_.push_back(std::move(key));
    }
  }

  /// Sends one task with these arguments. Never blocks on the consumer.
  async_result<R> push(const std::decay_t<Args>&... args) const {
    std::vector<std::string> bodies(1), ids(1); // not {...}: an initializer list would copy
    bodies[0] = encode_call(ids[0], args...);
    auto slots = core_->publish(std::move(bodies), std::move(ids),
                                core_->options().is_using_rpc_mode);
    return async_result<R>{std::move(slots[0])};
  }

  /// Sends many tasks in as few broker calls as possible (up to 1000 messages each): the fast
  /// way to enqueue a backlog. One tuple of arguments per task.
  std::vector<async_result<R>>
  push_many(const std::vector<std::tuple<std::decay_t<Args>...>>& calls) const {
    std::vector<std::string> bodies, ids;
    bodies.reserve(calls.size());
    ids.resize(calls.size());
    for (std::size_t i = 0; i < calls.size(); ++i)
      bodies.push_back(std::apply(
        [&](const auto&... args) { return encode_call(ids[i], args...); }, calls[i]));
    auto slots = core_->publish(std::move(bodies), std::move(ids),
                                core_->options().is_using_rpc_mode);
    std::vector<async_result<R>> results;
    results.reserve(slots.size());
    for (auto& slot : slots)
      results.emplace_back(std::move(slot));
    return results;
  }

  /// Sends one task from a JSON object of keyword arguments, with per-task options
  /// (a caller-chosen task_id, max_retry_times, RPC). Throws std::invalid_argument if
  /// `kwargs_json` is not a JSON object, names an argument the function does not take or lacks
  /// a required one (as funboost's FuncParamsError), naming the queue and the argument.
  async_result<R> publish(std::string_view kwargs_json, const task_options& options = {}) const {
    return async_result<R>{core_->publish_kwargs(kwargs_json, options)};
  }

  /// Waits until the broker holds (or the outbox keeps) every task pushed so far. Only
  /// publish_mode::pipelined has pushes in the air; stop() and the booster's end flush too.
  void flush() const { core_->flush(); }

  /// Starts consuming: conn_num fetchers, concurrent_num workers. Returns at once.
  void consume() const { core_->consume(); }

  /// Stops consuming gracefully: fetching stops, unstarted tasks go back to the broker, running
  /// tasks finish and are acked; those still running after stop_timeout go back to the broker
  /// too (RPC waiters get "funboost::interrupted") and their worker threads are abandoned.
  void stop() const { core_->stop(); }

  /// Removes every waiting message from the queue.
  void clear() const { core_->clear(); }

  /// Messages waiting in the queue.
  std::size_t message_count() const { return core_->message_count(); }

  /// The queue_supervisor actor (funboost/protocol.hpp): CAF code can send it
  /// (push_atom, kwargs JSON) and get a push_receipt, or (stats_atom), (consume_atom), ...
  queue_supervisor_actor supervisor() const { return core_->supervisor(); }

  const booster_options& options() const { return core_->options(); }

  /// Still a plain function.
  R operator()(Args... args) const { return fn_(std::forward<Args>(args)...); }

private:
  /// funboost JSON for one call; sets `task_id`.
  std::string encode_call(std::string& task_id, const std::decay_t<Args>&... args) const {
    std::string body;
    body.reserve(192);
    body.push_back('{');
    json_writer w{body};
    std::size_t i = 0;
    ((w.raw(keys_[i++]), encode(w, args)), ...);
    task_id = finish_message(body, message_options_,
                             core_->options().publish_time_utc_offset_minutes);
    return body;
  }

  std::shared_ptr<detail::booster_core> core_;
  task_options message_options_; // what push() writes into extra (RPC mode)
  std::function<R(Args...)> fn_;
  std::vector<std::string> keys_; // `"name":` with its leading comma, pre-escaped
};

} // namespace funboost
