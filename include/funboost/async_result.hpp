// What push() returns: the task id, whether the publish succeeded, and (in RPC mode) the
// function's result once a consumer has run the task.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <funboost/codec.hpp>

namespace funboost {

/// The task ran and failed for good (after all retries); carries the function's exception.
class task_failed : public std::runtime_error {
public:
  task_failed(const std::string& what, std::string type, std::string message)
    : std::runtime_error(what), type_(std::move(type)), message_(std::move(message)) {}
  const std::string& exception_type() const noexcept { return type_; }
  const std::string& exception_message() const noexcept { return message_; }

private:
  std::string type_, message_;
};

/// get(timeout) ran out before the result arrived.
class timeout_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// The task could not be published (the broker was down through every retry).
class publish_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// A result kept as the JSON text it arrived as: what a publish-only booster (rt.publisher)
/// returns, since it does not know the function's return type.
struct json_text {
  std::string text;
};

namespace detail {

/// Shared between the async_result and whoever delivers the outcome: a worker of this process
/// (through the in-process registry) or a result store that saw another process's record.
struct result_slot {
  std::string queue_name;
  std::string task_id;
  bool rpc = false;

  std::mutex mutex;
  std::condition_variable cv;
  bool finished = false;
  bool success = false;
  std::string result_json;
  std::string exception_type;
  std::string exception_message;
  std::string record_json;     // funboost's whole status record, when one was made
  std::string publish_failure; // non-empty: never reached the broker
  bool publish_pending = false; // pipelined mode: queued in this process, not yet answered
  std::vector<std::function<void()>> listeners; // run once, when finished

  /// Records the outcome; the first delivery wins (a local worker and a result store may both
  /// deliver the same task). Returns false if the slot was already finished.
  bool finish(bool ok, std::string result, std::string type, std::string message,
              std::string record = {}) {
    std::vector<std::function<void()>> to_run;
    {
      std::lock_guard guard{mutex};
      if (finished)
        return false;
      finished = true;
      success = ok;
      result_json = std::move(result);
      exception_type = std::move(type);
      exception_message = std::move(message);
      record_json = std::move(record);
      to_run.swap(listeners);
    }
    cv.notify_all();
    for (auto& f : to_run)
      f();
    return true;
  }

  /// Runs `f` once the slot is finished (at once if it is). `f` must not block: it runs on the
  /// delivering thread.
  void on_finish(std::function<void()> f) {
    {
      std::lock_guard guard{mutex};
      if (!finished) {
        listeners.push_back(std::move(f));
        return;
      }
    }
    f();
  }

  bool is_finished() {
    std::lock_guard guard{mutex};
    return finished;
  }
};

/// Waits for the slot; returns false on timeout. Throws for publish failures and RPC-off use.
bool wait_for_slot(result_slot& slot, std::chrono::milliseconds timeout, bool forever);

/// Throws task_failed if the finished slot holds a failure.
void throw_if_failed(result_slot& slot);

} // namespace detail

template <class R>
class async_result {
public:
  async_result() = default;
  explicit async_result(std::shared_ptr<detail::result_slot> slot) : slot_(std::move(slot)) {}

  const std::string& task_id() const { return slot_->task_id; }

  /// True once the outcome is known (RPC mode), or if publishing failed.
  bool ready() const {
    std::lock_guard guard{slot_->mutex};
    return slot_->finished || !slot_->publish_failure.empty();
  }

  /// True if the broker accepted the message. In pipelined mode, waits for the broker's
  /// answer first.
  bool published() const {
    std::unique_lock lock{slot_->mutex};
    slot_->cv.wait(lock, [&] { return !slot_->publish_pending; });
    return slot_->publish_failure.empty();
  }

  /// Blocks until the result arrives. Throws task_failed, publish_error, or std::logic_error
  /// when the booster is not in RPC mode.
  R get() const {
    detail::wait_for_slot(*slot_, {}, true);
    return value();
  }

  /// As get(), but throws timeout_error after `timeout`.
  template <class Rep, class Period>
  R get(std::chrono::duration<Rep, Period> timeout) const {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
    if (!detail::wait_for_slot(*slot_, ms, false))
      throw timeout_error("queue '" + slot_->queue_name + "': task " + slot_->task_id
                          + ": no result within " + std::to_string(ms.count())
                          + " ms; is a consumer running for this queue?");
    return value();
  }

private:
  R value() const {
    detail::throw_if_failed(*slot_);
    if constexpr (std::is_same_v<R, json_text>) {
      std::lock_guard guard{slot_->mutex};
      return json_text{slot_->result_json};
    } else if constexpr (!std::is_void_v<R>) {
      return from_json<std::decay_t<R>>(slot_->result_json);
    }
  }

  std::shared_ptr<detail::result_slot> slot_;
};

} // namespace funboost
