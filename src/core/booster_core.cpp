// The non-template half of a booster: validates options, owns the publisher connection
// (push retries), and talks to the queue_supervisor actor.
#include <funboost/booster.hpp>
#include <funboost/runtime.hpp>

#include <mutex>
#include <stdexcept>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/queue_supervisor.hpp"
#include "core/logging.hpp"
#include "core/queue_context.hpp"
#include "core/result_registry.hpp"

namespace funboost::detail {

namespace {

void validate(const booster_options& o, std::size_t arity) {
  auto fail = [&](const std::string& what) {
    throw std::invalid_argument("queue '" + o.queue_name + "': " + what);
  };
  if (o.queue_name.empty())
    throw std::invalid_argument("booster_options.queue_name is required: name the queue, e.g. "
                                "{.queue_name = \"queue_test2\"}");
  if (o.arg_names.size() != arity)
    fail("arg_names has " + std::to_string(o.arg_names.size()) + " names but the function takes "
         + std::to_string(arity) + " arguments; give one name per parameter or none");
  if (o.conn_num < 1)
    fail("conn_num must be at least 1");
  if (o.concurrent_num < 1)
    fail("concurrent_num must be at least 1");
  if (o.qps < 0)
    fail("qps must be 0 (unlimited) or positive");
  if (o.max_retries < 0)
    fail("max_retries must be 0 or more");
  if (o.prefetch_per_worker < 1)
    fail("prefetch_per_worker must be at least 1");
  if (o.publish_retries < 0)
    fail("publish_retries must be 0 or more");
}

class booster_core_impl final : public booster_core,
                                public std::enable_shared_from_this<booster_core_impl> {
public:
  booster_core_impl(caf::actor_system& system, booster_options options, task_function fn)
    : system_(system) {
    auto ctx = std::make_shared<queue_context>();
    ctx->options = std::move(options);
    ctx->broker = make_broker(ctx->options);
    ctx->function = std::move(fn);
    ctx->log = queue_logger(ctx->options);
    ctx_ = ctx;
    log_ = ctx->log;
  }

  /// Spawns the supervisor; separate from the constructor because it needs shared_from_this.
  void start_supervisor() {
    auto ctx = std::const_pointer_cast<queue_context>(ctx_);
    std::weak_ptr<booster_core_impl> weak = shared_from_this(); // no cycle through the actor
    ctx->push_kwargs = [weak](const std::string& kwargs) {
      auto self = weak.lock();
      if (!self)
        throw std::runtime_error("the booster is gone");
      std::string id;
      auto body = message_from_kwargs(kwargs, {}, self->options().publish_time_utc_offset_minutes,
                                      id);
      auto slot = self->publish(std::move(body), id, self->options().is_using_rpc_mode);
      if (!slot->publish_failure.empty())
        throw std::runtime_error(slot->publish_failure);
      return id;
    };
    supervisor_ = system_.spawn(actors::queue_supervisor, ctx_);
  }

  ~booster_core_impl() override {
    caf::anon_send_exit(supervisor_, caf::exit_reason::user_shutdown);
  }

  const booster_options& options() const override { return ctx_->options; }

  std::shared_ptr<result_slot> publish(std::string body, std::string task_id,
                                       bool rpc) override {
    auto slot = std::make_shared<result_slot>();
    slot->queue_name = ctx_->queue();
    slot->task_id = std::move(task_id);
    slot->rpc = rpc;
    if (rpc)
      expect_result(slot); // before publishing: a fast consumer may finish first
    std::string failure = publish_with_retries(body, slot->task_id);
    if (!failure.empty()) {
      std::lock_guard guard{slot->mutex};
      slot->publish_failure = std::move(failure);
    }
    return slot;
  }

  void consume() override { caf::anon_send(supervisor_, actors::consume_atom::value); }

  void stop() override {
    caf::scoped_actor self{system_};
    self->request(supervisor_, caf::infinite, actors::stop_atom::value)
      .receive([](bool) {},
               [&](const caf::error& err) {
                 log_->error("queue '{}': stop failed: {}", ctx_->queue(),
                             system_.render(err));
               });
  }

  void clear() override {
    with_reconnect([&](broker_connection& c) { c.clear(ctx_->queue()); });
  }

  std::size_t message_count() override {
    std::size_t n = 0;
    with_reconnect([&](broker_connection& c) { n = c.count(ctx_->queue()); });
    return n;
  }

  caf::actor supervisor() const override { return supervisor_; }

private:
  template <class F>
  void with_connection(F&& f) {
    std::lock_guard guard{publish_mutex_};
    try {
      if (!connection_)
        connection_ = ctx_->broker->connect();
      f(*connection_);
    } catch (...) {
      connection_.reset(); // reconnect next time
      throw;
    }
  }

  /// As with_connection, but a call that fails on a stale connection (the broker restarted
  /// since we last used it) gets one more try on a fresh one.
  template <class F>
  void with_reconnect(F&& f) {
    try {
      with_connection(f);
    } catch (const std::exception&) {
      with_connection(f);
    }
  }

  /// The seed's push contract: on failure reconnect and retry publish_retries times,
  /// publish_retry_interval apart, then log. Returns "" on success, else the error text.
  std::string publish_with_retries(const std::string& body, const std::string& task_id) {
    const auto& o = ctx_->options;
    std::string last_error;
    for (int attempt = 0; attempt <= o.publish_retries; ++attempt) {
      if (attempt > 0)
        std::this_thread::sleep_for(o.publish_retry_interval);
      try {
        with_connection(
          [&](broker_connection& c) { c.publish(o.queue_name, std::span{&body, 1}); });
        return {};
      } catch (const std::exception& e) {
        last_error = e.what();
        if (attempt < o.publish_retries)
          log_->warn("queue '{}': push of task {} failed ({}); reconnecting, retry {} of {} in "
                     "{} ms",
                     o.queue_name, task_id, last_error, attempt + 1, o.publish_retries,
                     o.publish_retry_interval.count());
      }
    }
    auto text = "queue '" + o.queue_name + "': push of task " + task_id + " failed after "
                + std::to_string(o.publish_retries + 1) + " attempts on broker '"
                + o.broker_kind + "' (" + o.broker.url + "): " + last_error
                + "; check that the broker is reachable";
    log_->error("{}", text);
    return text;
  }

  caf::actor_system& system_;
  queue_context_ptr ctx_;
  std::shared_ptr<spdlog::logger> log_;
  caf::actor supervisor_;
  std::mutex publish_mutex_;
  std::unique_ptr<broker_connection> connection_;
};

} // namespace

std::shared_ptr<booster_core> make_booster_core(caf::actor_system& system,
                                                booster_options options, task_function fn,
                                                std::size_t arity) {
  validate(options, arity);
  auto core = std::make_shared<booster_core_impl>(system, std::move(options), std::move(fn));
  core->start_supervisor();
  return core;
}

} // namespace funboost::detail
