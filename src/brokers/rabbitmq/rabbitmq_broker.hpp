// The rabbitmq broker (kind "rabbitmq"), following funboost's RABBITMQ_AMQPSTORM conventions:
// default exchange with routing key = queue name; queue.declare(q, durable, not auto-delete)
// with x-max-priority only when transport_options.max_priority is set; persistent messages
// (delivery_mode 2); publisher confirms, so a publish that returned is on the broker; consumers
// use basic.consume with manual ack and basic.qos; requeue is basic.nack(requeue=true).
//
// broker.url: amqp://user:password@host:port/vhost (percent-encoded; default
// amqp://guest:guest@127.0.0.1:5672/). transport_options (all optional):
//   connect_timeout_ms (5000)   rpc_timeout_ms (30000)   confirm_timeout_ms (30000)
//   prefetch_count (per connection; default ceil(concurrent_num * prefetch_per_worker /
//   conn_num), so the queue's total is about 2 x concurrent_num)
//   max_priority (x-max-priority; must match an existing queue's, as RabbitMQ demands)
//   heartbeat (s, default 0 = off). AMQP heartbeats need the client to speak regularly, and a
//   fetcher whose workers are all busy with long tasks does not: the server would drop its
//   connection and redeliver the running tasks. Dead peers are found by TCP keepalive instead
//   (about 60 s); turn heartbeats on only if your tasks are short.
#pragma once

#include <memory>

#include <funboost/broker.hpp>

namespace funboost::brokers {

/// Throws broker_error for a bad URL (naming the broker, the queue and the URL).
std::shared_ptr<broker> make_rabbitmq_broker(const booster_options& options);

} // namespace funboost::brokers
