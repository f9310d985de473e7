// The non-template half of a booster: validates options, owns the publisher connection
// (push retries), and talks to the queue_supervisor actor.
#include <funboost/booster.hpp>
#include <funboost/runtime.hpp>

#include <mutex>
#include <stdexcept>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/queue_supervisor.hpp"
#include "core/logging.hpp"
#include "core/publisher.hpp"
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
  if (o.broker.outbox_dir.empty())
    fail("broker.outbox_dir must name a directory (messages a broker refused are kept there)");
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
    publisher_ = std::make_unique<publisher>(ctx_);
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
      auto slots = self->publish({std::move(body)}, {id}, self->options().is_using_rpc_mode);
      if (!slots[0]->publish_failure.empty())
        throw std::runtime_error(slots[0]->publish_failure);
      return id;
    };
    supervisor_ = system_.spawn(actors::queue_supervisor, ctx_);
  }

  ~booster_core_impl() override {
    caf::anon_send_exit(supervisor_, caf::exit_reason::user_shutdown);
  }

  const booster_options& options() const override { return ctx_->options; }

  std::vector<std::shared_ptr<result_slot>> publish(std::vector<std::string> bodies,
                                                    std::vector<std::string> task_ids,
                                                    bool rpc) override {
    std::vector<std::shared_ptr<result_slot>> slots;
    slots.reserve(task_ids.size());
    for (auto& id : task_ids) {
      auto slot = std::make_shared<result_slot>();
      slot->queue_name = ctx_->queue();
      slot->task_id = std::move(id);
      slot->rpc = rpc;
      if (rpc)
        expect_result(slot); // before publishing: a fast consumer may finish first
      slots.push_back(std::move(slot));
    }
    auto failure = publisher_->publish(std::move(bodies));
    if (!failure.empty()) {
      for (auto& slot : slots) {
        std::lock_guard guard{slot->mutex};
        slot->publish_failure = failure;
      }
    }
    return slots;
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
    publisher_->with_connection([&](broker_connection& c) { c.clear(ctx_->queue()); });
  }

  std::size_t message_count() override {
    std::size_t n = 0;
    publisher_->with_connection([&](broker_connection& c) { n = c.count(ctx_->queue()); });
    return n;
  }

  caf::actor supervisor() const override { return supervisor_; }

private:
  caf::actor_system& system_;
  queue_context_ptr ctx_;
  std::shared_ptr<spdlog::logger> log_;
  caf::actor supervisor_;
  std::unique_ptr<publisher> publisher_;
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
