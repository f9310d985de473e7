// The non-template half of a booster: validates options, makes the queue's context, spawns
// its publisher and (with a function) its queue_supervisor, registers the queue with the
// runtime's node, and runs push()'s fast path on the caller's thread.
#include <funboost/booster.hpp>
#include <funboost/runtime.hpp>

#include <chrono>
#include <cmath>
#include <mutex>
#include <optional>
#include <stdexcept>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/node.hpp"
#include "actors/publisher.hpp"
#include "actors/push_feeder.hpp"
#include "actors/queue_supervisor.hpp"
#include "core/direct_publisher.hpp"
#include "core/kwargs_check.hpp"
#include "core/logging.hpp"
#include "core/outbox.hpp"
#include "core/push_pipeline.hpp"
#include "core/queue_context.hpp"
#include "core/result_registry.hpp"
#include "core/task_filter.hpp"
#include "results/result_store.hpp"

namespace funboost::detail {

namespace {

/// A token every 11.6 days: a slower rate's interval would overflow the clock's nanoseconds.
constexpr double min_qps = 1e-6;

void validate(const booster_options& o, std::size_t arity, bool publish_only) {
  auto fail = [&](const std::string& what) {
    throw std::invalid_argument("queue '" + o.queue_name + "': " + what);
  };
  if (o.queue_name.empty())
    throw std::invalid_argument("booster_options.queue_name is required: name the queue, e.g. "
                                "{.queue_name = \"queue_test2\"}");
  if (!publish_only && o.arg_names.size() != arity)
    fail("arg_names has " + std::to_string(o.arg_names.size()) + " names but the function takes "
         + std::to_string(arity) + " arguments; give one name per parameter or none");
  if (o.conn_num < 1)
    fail("conn_num must be at least 1");
  if (o.concurrent_num < 1)
    fail("concurrent_num must be at least 1");
  // NaN passes every comparison: without isfinite, qps = NaN or inf would mean "unlimited".
  if (!std::isfinite(o.qps) || o.qps < 0)
    fail("qps is " + std::to_string(o.qps) + "; set it to 0 (unlimited) or a positive rate "
         "of task starts per second, e.g. .qps = 500");
  if (o.qps > 0 && o.qps < min_qps)
    fail("qps " + std::to_string(o.qps) + " is below the smallest supported rate, "
         + std::to_string(min_qps) + " (one task in 11.6 days); use a scheduler for rarer runs");
  if (o.max_retries < 0)
    fail("max_retries must be 0 or more");
  if (!std::isfinite(o.msg_expire_seconds) || o.msg_expire_seconds < 0)
    fail("msg_expire_seconds must be 0 (never expire) or a positive number of seconds");
  if (!std::isfinite(o.task_filtering_expire_seconds) || o.task_filtering_expire_seconds < 0)
    fail("task_filtering_expire_seconds must be 0 (remember forever) or a positive number of "
         "seconds");
  if (!std::isfinite(o.function_timeout) || o.function_timeout < 0)
    fail("function_timeout must be 0 (no limit) or a positive number of seconds, e.g. 30");
  if (o.prefetch_per_worker < 1)
    fail("prefetch_per_worker must be at least 1");
  if (o.publish_retries < 0)
    fail("publish_retries must be 0 or more");
  if (o.stop_timeout.count() < 0)
    fail("stop_timeout must be 0 (give running tasks back at once) or positive");
  if (o.logging.long_task_warning.count() < 0)
    fail("logging.long_task_warning must be 0 (no warning) or positive");
  if (o.fetch_wait.count() < 0 || o.retry_delay.count() < 0)
    fail("fetch_wait and retry_delay must not be negative");
  if (!std::isfinite(o.retry_multiplier) || o.retry_multiplier < 1)
    fail("retry_multiplier must be 1 (a fixed retry_delay) or more, e.g. 2 for 1 s, 2 s, 4 s");
  if (o.retry_delay.count() > 0 && o.retry_delay_max < o.retry_delay)
    fail("retry_delay_max must be at least retry_delay");
  if (o.restart_backoff.count() <= 0 || o.restart_backoff_max < o.restart_backoff)
    fail("restart_backoff must be positive and restart_backoff_max at least restart_backoff "
         "(a zero backoff would restart a failing fetcher in a tight loop)");
  if (o.publish_retry_interval.count() <= 0)
    fail("publish_retry_interval must be positive");
  if (o.broker.outbox_dir.empty())
    fail("broker.outbox_dir must name a directory (messages a broker refused are kept there)");
}

queue_info info_of(const booster_options& o, bool publish_only) {
  queue_info info;
  info.queue_name = o.queue_name;
  info.broker_kind = o.broker_kind;
  info.function_name = o.function_name;
  info.arg_names = o.arg_names;
  info.optional_arg_names = o.optional_arg_names;
  info.conn_num = o.conn_num;
  info.concurrent_num = o.concurrent_num;
  info.qps = o.qps;
  info.max_retries = o.max_retries;
  info.is_using_rpc_mode = o.is_using_rpc_mode;
  info.publish_only = publish_only;
  return info;
}

class booster_core_impl final : public booster_core {
public:
  booster_core_impl(caf::actor_system& system, node_actor node, std::shared_ptr<broker> broker,
                    std::shared_ptr<result_store> results, booster_options options,
                    task_function fn, std::shared_ptr<std::atomic<int>> abandoned_workers)
    : system_(system), node_(std::move(node)) {
    bool publish_only = !fn;
    if (options.function_name.empty())
      options.function_name = options.queue_name;
    auto ctx = std::make_shared<queue_context>();
    ctx->options = std::move(options);
    ctx->broker = std::move(broker);
    ctx->function = std::move(fn);
    ctx->log = queue_logger(ctx->options);
    ctx->results = std::move(results);
    auto expire = ctx->options.task_filtering_expire_seconds;
    ctx->filter = ctx->results ? ctx->results->make_task_filter(expire) : nullptr;
    if (!ctx->filter)
      ctx->filter = make_memory_task_filter(expire);
    ctx->abandoned_workers = std::move(abandoned_workers);
    ctx_ = ctx;
    info_ = info_of(ctx_->options, publish_only);
    direct_ = std::make_unique<direct_publisher>(ctx_);
    warn_if_outbox_unusable();
    publisher_ = system_.spawn<caf::detached>(actors::publisher, ctx_);
    if (ctx_->options.publish_mode == publish_mode::pipelined) {
      pipeline_ = std::make_shared<push_pipeline>(ctx_->options.pipeline_max_pending);
      feeder_ = system_.spawn(actors::push_feeder, pipeline_, publisher_, ctx_);
    }
    if (publish_only)
      learn_signature();
    else
      supervisor_ = system_.spawn(actors::queue_supervisor, ctx_, publisher_);
    caf::anon_send(caf::actor_cast<actors::node_internal_actor>(node_), actors::put_atom::value,
                   actors::queue_entry{info_, ctx_, supervisor_, publisher_});
  }

  ~booster_core_impl() override {
    flush(); // what push() accepted reaches the broker or the outbox before the publisher goes
    caf::anon_send_exit(feeder_, caf::exit_reason::user_shutdown);
    caf::anon_send(caf::actor_cast<actors::node_internal_actor>(node_),
                   actors::forget_atom::value, ctx_->queue(), publisher_);
    caf::anon_send_exit(supervisor_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(publisher_, caf::exit_reason::user_shutdown);
  }

  const booster_options& options() const override { return ctx_->options; }

  std::vector<std::shared_ptr<result_slot>> publish(std::vector<std::string> bodies,
                                                    std::vector<std::string> task_ids,
                                                    bool rpc) override {
    std::vector<std::shared_ptr<result_slot>> slots;
    slots.reserve(task_ids.size());
    for (auto& id : task_ids) {
      if (rpc) { // registered before publishing: a fast consumer may finish first
        slots.push_back(expect_rpc_result(ctx_->queue(), id, ctx_->results.get()));
        if (pipeline_) {
          std::lock_guard guard{slots.back()->mutex}; // registered: others may look at it
          slots.back()->publish_pending = true;
        }
        continue;
      }
      auto slot = std::make_shared<result_slot>();
      slot->queue_name = ctx_->queue();
      slot->task_id = id;
      slot->publish_pending = pipeline_ != nullptr; // nobody else sees it yet
      slots.push_back(std::move(slot));
    }
    if (pipeline_) { // queued here; the feeder hands it to the publisher with what else waits
      if (pipeline_->add(bodies, task_ids, slots))
        caf::anon_send(feeder_, actors::tick_atom::value);
      return slots;
    }
    std::vector<push_receipt> receipts;
    if (ctx_->publisher_down->load()) {
      // The publisher knows the broker is down: it keeps these in the outbox at once, so this
      // thread does not wait on a broker connect that will fail.
      receipts = ask_publisher(push_atom::value, std::move(bodies), task_ids);
    } else {
      auto failure = direct_->publish(bodies);
      if (failure.empty())
        return slots;
      receipts = ask_publisher(actors::retry_atom::value, std::move(bodies), task_ids,
                               std::move(failure));
    }
    apply(receipts, slots);
    return slots;
  }

  std::shared_ptr<result_slot> publish_kwargs(std::string_view kwargs_json,
                                              const task_options& options) override {
    if (auto problem = check_kwargs(info(), kwargs_json); !problem.empty())
      throw std::invalid_argument(problem);
    std::vector<std::string> bodies(1), ids(1);
    auto written = with_booster_rpc(options, ctx_->options.is_using_rpc_mode);
    bodies[0] = message_from_kwargs(kwargs_json, written,
                                    ctx_->options.publish_time_utc_offset_minutes, ids[0]);
    return publish(std::move(bodies), std::move(ids), written.is_using_rpc_mode)[0];
  }

  void consume() override {
    if (!supervisor_)
      throw std::logic_error("queue '" + ctx_->queue() + "': a publish-only booster "
                             "(rt.publisher) cannot consume; boost the function instead");
    caf::anon_send(supervisor_, consume_atom::value);
  }

  void flush() override {
    if (pipeline_)
      pipeline_->flush();
  }

  void stop() override {
    flush();
    if (!supervisor_)
      return;
    caf::scoped_actor self{system_};
    self->request(supervisor_, caf::infinite, stop_atom::value)
      .receive([](bool) {},
               [&](const caf::error& err) {
                 ctx_->log->error("queue '{}': stop failed: {}", ctx_->queue(),
                                  system_.render(err));
               });
  }

  void clear() override {
    direct_->with_connection([&](broker_connection& c) { c.clear(ctx_->queue()); });
  }

  std::size_t message_count() override {
    std::size_t n = 0;
    direct_->with_connection([&](broker_connection& c) { n = c.count(ctx_->queue()); });
    return n;
  }

  queue_supervisor_actor supervisor() const override { return supervisor_; }

  queue_info info() const override {
    std::lock_guard guard{info_mutex_};
    auto info = info_;
    info.consuming = ctx_->consuming->load();
    return info;
  }

  void refresh_signature() override {
    if (supervisor_)
      return; // a consuming booster knows its own function
    {
      std::lock_guard guard{info_mutex_};
      auto now = std::chrono::steady_clock::now();
      if (!info_.arg_names.empty() || now - last_lookup_ < std::chrono::seconds(1))
        return;
      last_lookup_ = now;
    }
    learn_signature();
  }

private:
  /// Hands the messages to the publisher actor (it retries on its timer, or keeps them in the
  /// outbox) and blocks this (caller's) thread until it answers, one receipt per task.
  template <class... Ts>
  std::vector<push_receipt> ask_publisher(Ts&&... xs) {
    std::vector<push_receipt> receipts;
    caf::scoped_actor self{system_};
    self->request(publisher_, caf::infinite, std::forward<Ts>(xs)...)
      .receive([&](std::vector<push_receipt>& answer) { receipts = std::move(answer); },
               [&](caf::error& err) {
                 receipts.push_back(push_receipt{
                   {}, ec::broker_unreachable,
                   "queue '" + ctx_->queue() + "': the publisher did not answer ("
                     + system_.render(err) + "); the task was not published: push it again"});
               });
    return receipts;
  }

  /// A task kept in the outbox reports it through its result (published() is false, get()
  /// throws publish_error saying where it is kept). A task that is neither published nor kept
  /// is lost unless the caller pushes it again, so the push itself throws.
  void apply(const std::vector<push_receipt>& receipts,
             std::vector<std::shared_ptr<result_slot>>& slots) {
    if (receipts.empty() && !slots.empty())
      throw publish_error("queue '" + ctx_->queue() + "': the publisher answered no receipt; "
                          "the push was not published: push it again");
    std::string lost;
    std::size_t lost_count = 0;
    for (std::size_t i = 0; i < slots.size(); ++i) {
      const push_receipt* r = i < receipts.size() ? &receipts[i] : &receipts.back();
      if (r->status == ec::none)
        continue;
      if (r->status == ec::kept_in_outbox) {
        std::lock_guard guard{slots[i]->mutex};
        slots[i]->publish_failure = r->detail;
        continue;
      }
      if (lost.empty())
        lost = r->detail;
      ++lost_count;
    }
    if (lost_count == 0)
      return;
    for (auto& slot : slots)
      forget_result(slot); // nobody will wait for these results
    if (lost_count > 1)
      lost += " (" + std::to_string(lost_count) + " tasks of this push were not published)";
    throw publish_error(lost);
  }

  /// The broker may never refuse a push, so an unusable outbox directory does not stop the
  /// booster; but the user hears of it now rather than when a push is lost.
  void warn_if_outbox_unusable() {
    outbox box{ctx_->options.broker.outbox_dir, ctx_->queue()};
    if (auto problem = box.problem(); !problem.empty())
      ctx_->log->warn("queue '{}': the outbox directory '{}' cannot be used ({}): a push the "
                      "broker refuses will fail instead of being kept for later; set "
                      "broker.outbox_dir to a writable directory",
                      ctx_->queue(), box.dir(), problem);
  }

  /// A publish-only booster learns the queue's signature: from a consuming booster of this
  /// runtime, else from the queue registry its consumers wrote (funboost's params record).
  /// Asked again at publish time while unknown (at most once a second): a consumer may
  /// register after this publisher was made.
  void learn_signature() {
    caf::scoped_actor self{system_};
    std::optional<queue_info> learned;
    self->request(node_, caf::infinite, queues_atom::value)
      .receive(
        [&](const std::vector<queue_info>& queues) {
          for (const auto& q : queues)
            if (q.queue_name == ctx_->queue() && !q.publish_only)
              learned = q;
        },
        [](const caf::error&) {});
    if (!learned) {
      try {
        std::string params;
        direct_->with_connection(
          [&](broker_connection& c) { params = c.registered_params(ctx_->queue()); });
        queue_info from_registry;
        if (read_signature(params, from_registry))
          learned = from_registry;
      } catch (const std::exception& e) {
        ctx_->log->warn("queue '{}': the queue registry could not be read ({}); pushes are "
                        "sent without checking their arguments until it can",
                        ctx_->queue(), e.what());
        return;
      }
    }
    if (learned) {
      std::lock_guard guard{info_mutex_};
      info_.function_name = learned->function_name;
      info_.arg_names = learned->arg_names;
      info_.optional_arg_names = learned->optional_arg_names;
      return;
    }
    ctx_->log->debug("queue '{}': no consumer has registered this queue's signature yet; "
                     "pushes are sent without checking their arguments until one does",
                     ctx_->queue());
  }

  caf::actor_system& system_;
  node_actor node_;
  queue_context_ptr ctx_;
  mutable std::mutex info_mutex_; // a publish-only booster learns its signature late
  queue_info info_;
  std::chrono::steady_clock::time_point last_lookup_{};
  std::unique_ptr<direct_publisher> direct_;
  actors::publisher_actor publisher_;
  queue_supervisor_actor supervisor_;
  std::shared_ptr<push_pipeline> pipeline_; // publish_mode::pipelined only
  actors::push_feeder_actor feeder_;
};

} // namespace

std::shared_ptr<booster_core> make_booster_core(runtime& rt, booster_options options,
                                                task_function fn, std::size_t arity) {
  bool publish_only = !fn;
  validate(options, arity, publish_only);
  auto broker = make_broker(options); // first: a bad broker URL is the error to report
  auto results = rt.result_store_for(options);
  return std::make_shared<booster_core_impl>(*rt.system_, rt.node_, std::move(broker),
                                             std::move(results), std::move(options),
                                             std::move(fn), rt.abandoned_workers_);
}

} // namespace funboost::detail

namespace funboost {

async_result<json_text> queue_publisher::publish(std::string_view kwargs_json,
                                                 const task_options& options) const {
  core_->refresh_signature();
  return async_result<json_text>{core_->publish_kwargs(kwargs_json, options)};
}

} // namespace funboost
