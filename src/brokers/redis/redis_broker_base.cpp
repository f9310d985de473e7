#include "brokers/redis/redis_broker_base.hpp"

#include <algorithm>

#include <funboost/codec.hpp>

#include "brokers/redis/redis_consumer_id.hpp"
#include "brokers/redis/redis_params_record.hpp"
#include "brokers/redis/redis_url.hpp"
#include "core/logging.hpp"
#include "core/message_peek.hpp"

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

} // namespace

redis_broker_base::redis_broker_base(const booster_options& options, std::string funboost_kind)
  : where_{options.broker_kind, options.queue_name, parse_redis_address(options)},
    writer_(options.broker.register_queue ? params_writer::consumer : params_writer::publisher),
    params_json_(params_record(options, funboost_kind, writer_)),
    utc_offset_minutes_(options.publish_time_utc_offset_minutes),
    unmarked_cap_(options.max_crash_deliveries > 0 ? std::max(options.max_crash_deliveries - 1, 1)
                                                   : 0),
    log_(detail::queue_logger(options)) {
  timing_.heartbeat_interval = option_ms(options, "heartbeat_interval_ms",
                                         timing_.heartbeat_interval);
  timing_.heartbeat_expiry = option_ms(options, "heartbeat_expire_ms", timing_.heartbeat_expiry);
  timing_.recover_interval = option_ms(options, "recover_interval_ms", timing_.recover_interval);
  timing_.stream_claim_idle = option_ms(options, "stream_claim_idle_ms",
                                        timing_.stream_claim_idle);
  timing_.poll_interval = option_ms(options, "poll_interval_ms", timing_.poll_interval);
  timing_.liveness_grace = option_ms(options, "liveness_grace_ms", timing_.liveness_grace);
  auto liveness = transport_int(options, "liveness_check_interval_ms",
                                timing_.liveness_interval.count());
  if (liveness < 0)
    throw broker_error("redis broker '" + options.broker_kind + "' for queue '"
                       + options.queue_name
                       + "': transport option 'liveness_check_interval_ms' must be 0 (off) or "
                         "positive");
  timing_.liveness_interval = std::chrono::milliseconds{liveness};
  if (timing_.heartbeat_expiry <= timing_.heartbeat_interval)
    throw broker_error("redis broker '" + options.broker_kind + "' for queue '"
                       + options.queue_name
                       + "': heartbeat_expire_ms must be larger than heartbeat_interval_ms, "
                         "or live consumers would look dead");
}

redis_broker_base::~redis_broker_base() = default;

std::unique_ptr<redis_connection> redis_broker_base::open() {
  auto conn = std::make_unique<redis_connection>(where_);
  if (!registered_.load(std::memory_order_acquire)) {
    // As every funboost booster does, publish-only ones included. A consumer's record wins (it
    // knows its function); a publisher only fills in a missing one. funboost's web manager
    // pairs funboost_all_queue_names with the records, so the name never goes in without one.
    std::vector<command> commands{
      {writer_ == params_writer::consumer ? "HSET" : "HSETNX",
       key("funboost_queue__consumer_parmas"), queue(), params_json_},
      {"SADD", key("funboost_all_queue_names"), queue()},
      {"SADD", key("funboost_all_ips"), host_ip()}};
    if (writer_ == params_writer::publisher)
      add_publisher_registration(commands);
    auto replies = conn->pipeline(commands);
    for (const auto& r : replies)
      if (is_error(r.get()))
        conn->fail("registering the queue failed: " + reply_text(r.get()));
    registered_.store(true, std::memory_order_release);
  }
  return conn;
}

long long redis_broker_base::recovered(const redisReply* reply) const {
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0)
    return 0;
  for (std::size_t i = 1; i < reply->elements; ++i)
    log_->error("queue '{}': a consumer process died while running task {} alone (it had been "
                "running at an earlier death too); its crash count went up",
                queue(), detail::task_id_of(reply_text(reply->element[i])));
  return reply_int(reply->element[0], 0);
}

redis_keeper& redis_broker_base::keeper(redis_keeper::recover_fn recover) {
  std::lock_guard guard{keeper_mutex_};
  if (!keeper_)
    keeper_ = std::make_unique<redis_keeper>(
      where_, heartbeat_key(), liveness_keys{clients_key(), key("funboost_cpp_liveness_lock:" + queue())},
      timing_, std::move(recover), log_, [wake = wake_] { (*wake)(); });
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
