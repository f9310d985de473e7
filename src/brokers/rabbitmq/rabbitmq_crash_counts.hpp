// Poison tasks on RabbitMQ (see max_crash_deliveries): how many times a message was held by a
// consumer whose connection died, and which one was running alone when it did.
//
// RabbitMQ sets `redelivered` on a message that went back to the queue, whether a consumer
// died holding it or gave it back with a nack. So a counting consumer never nacks: it gives
// messages back by publishing them again (same body, same count) and acking the original.
// Then a redelivered message always means "a connection holding it closed without settling
// it": the consumer that receives it publishes it again with its count raised (in the header
// below, so the count travels with the message to any consumer) and acks the original.
//
// Which one ran: before a suspect runs alone, its consumer declares a durable mark queue named
// after the message and puts one message in it; settling the suspect deletes the queue. The
// consumer that receives the suspect redelivered deletes the mark queue too, and a mark that
// still held its message says the death happened while the suspect ran alone: the whole count.
// A death with no mark raises the count only up to max_crash_deliveries - 1, as on Redis.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <amqp.h>

namespace funboost::brokers::rabbitmq {

/// The AMQP header carrying a message's crash count (absent = 0). Not RabbitMQ's
/// x-delivery-count: that one also counts nacks and exists only on quorum queues.
inline constexpr const char* crash_header = "funboost-crash-deliveries";

/// How long an orphaned mark queue lives unused (x-expires): the same week as a Redis count.
inline constexpr int mark_queue_expiry_ms = 7 * 24 * 3600 * 1000;

/// The crash count a delivery carries: its crash_header as any integer kind, else 0.
uint32_t crash_count_of(const amqp_basic_properties_t& props);

/// The mark queue of a message of `queue`: "funboost_crash_running.{queue}.{hash of body}", or
/// without the queue name where that would pass AMQP's 255-byte limit.
std::string mark_queue_name(const std::string& queue, std::string_view body);

bool is_mark_queue(const std::string& name);

/// The count of a message a dead connection held: one more if it ran alone (marked), else one
/// more only while below `unmarked_cap`.
inline uint32_t count_after_death(uint32_t count, bool marked, uint32_t unmarked_cap) {
  return marked || count < unmarked_cap ? count + 1 : count;
}

} // namespace funboost::brokers::rabbitmq
