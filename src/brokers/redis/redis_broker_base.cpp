#include "brokers/redis/redis_broker_base.hpp"

#include <algorithm>

#include <funboost/codec.hpp>

#include "brokers/redis/redis_url.hpp"
#include "core/logging.hpp"

namespace funboost::brokers::redis {

namespace {

std::chrono::milliseconds option_ms(const booster_options& o, const std::string& name,
                                    std::chrono::milliseconds fallback) {
  auto v = transport_int(o, name, fallback.count());
  if (v <= 0)
    throw broker_error("redis broker '" + o.broker_kind + "' for queue '" + o.queue_name
                       + "': transport option '" + name + "' must be positive");
  return std::chrono::milliseconds{v};
}

/// The params JSON funboost's web manager and faas read (a small subset of funboost's).
std::string params_json(const booster_options& o, const std::string& funboost_kind) {
  std::string out;
  json_writer w{out};
  w.raw("{");
  w.key("queue_name");
  w.string(o.queue_name);
  w.raw(",");
  w.key("broker_kind");
  w.string(funboost_kind);
  w.raw(",");
  w.key("concurrent_num");
  w.integer(o.concurrent_num);
  w.raw(",");
  w.key("qps");
  if (o.qps > 0)
    w.number(o.qps);
  else
    w.null();
  w.raw(",");
  w.key("max_retry_times");
  w.integer(o.max_retries);
  w.raw(",");
  w.key("is_using_rpc_mode");
  w.boolean(o.is_using_rpc_mode);
  w.raw(",");
  w.key("auto_generate_info");
  w.raw("{");
  w.key("final_func_input_params_info");
  w.raw("{");
  w.key("func_name");
  w.string(o.function_name.empty() ? o.queue_name : o.function_name);
  std::vector<std::string> must;
  for (const auto& name : o.arg_names)
    if (std::find(o.optional_arg_names.begin(), o.optional_arg_names.end(), name)
        == o.optional_arg_names.end())
      must.push_back(name);
  auto list = [&](const char* key, const std::vector<std::string>& names) {
    w.raw(",");
    w.key(key);
    w.raw("[");
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (i)
        w.raw(",");
      w.string(names[i]);
    }
    w.raw("]");
  };
  list("must_arg_name_list", must);
  list("optional_arg_name_list", o.optional_arg_names);
  w.raw("}}}");
  return out;
}

} // namespace

redis_broker_base::redis_broker_base(const booster_options& options, std::string funboost_kind)
  : where_{options.broker_kind, options.queue_name, parse_redis_address(options)},
    params_json_(params_json(options, funboost_kind)),
    register_queue_(options.broker.register_queue),
    log_(detail::queue_logger(options)) {
  timing_.heartbeat_interval = option_ms(options, "heartbeat_interval_ms",
                                         timing_.heartbeat_interval);
  timing_.heartbeat_expiry = option_ms(options, "heartbeat_expire_ms", timing_.heartbeat_expiry);
  timing_.recover_interval = option_ms(options, "recover_interval_ms", timing_.recover_interval);
  timing_.stream_claim_idle = option_ms(options, "stream_claim_idle_ms",
                                        timing_.stream_claim_idle);
  timing_.poll_interval = option_ms(options, "poll_interval_ms", timing_.poll_interval);
  if (timing_.heartbeat_expiry <= timing_.heartbeat_interval)
    throw broker_error("redis broker '" + options.broker_kind + "' for queue '"
                       + options.queue_name
                       + "': heartbeat_expire_ms must be larger than heartbeat_interval_ms, "
                         "or live consumers would look dead");
}

redis_broker_base::~redis_broker_base() = default;

std::unique_ptr<redis_connection> redis_broker_base::open() {
  auto conn = std::make_unique<redis_connection>(where_);
  if (register_queue_ && !registered_.load(std::memory_order_acquire)) {
    auto replies = conn->pipeline(
      {{"HSET", key("funboost_queue__consumer_parmas"), queue(), params_json_},
       {"SADD", key("funboost_all_queue_names"), queue()}});
    for (const auto& r : replies)
      if (is_error(r.get()))
        conn->fail("registering the queue failed: " + reply_text(r.get()));
    registered_.store(true, std::memory_order_release);
  }
  return conn;
}

redis_keeper& redis_broker_base::keeper(redis_keeper::recover_fn recover) {
  std::lock_guard guard{keeper_mutex_};
  if (!keeper_)
    keeper_ = std::make_unique<redis_keeper>(where_, heartbeat_key(), timing_, std::move(recover),
                                             log_, [wake = wake_] { (*wake)(); });
  return *keeper_;
}

std::chrono::milliseconds redis_broker_base::maintain() {
  redis_keeper* k = nullptr;
  {
    std::lock_guard guard{keeper_mutex_};
    k = keeper_.get();
  }
  // No consumer has started yet: look again soon (a fetcher's first fetch makes the keeper).
  return k ? k->maintain() : std::chrono::milliseconds{1000};
}

void redis_broker_base::on_maintenance_needed(std::function<void()> wake) {
  std::lock_guard guard{wake_->mutex};
  wake_->fn = std::move(wake);
}

void redis_broker_base::check_queue(const std::string& q, bool fetching) const {
  if (q == queue() || (!fetching && q == dead_letter_queue(queue())))
    return;
  throw broker_error("redis broker '" + where_.kind + "' for queue '" + queue()
                     + "': a connection of this broker cannot serve queue '" + q
                     + "'; boost a function for that queue instead");
}

} // namespace funboost::brokers::redis
