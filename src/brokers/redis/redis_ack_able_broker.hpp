// Broker kind "redis": funboost's REDIS_ACK_ABLE protocol (see WIRE.md).
//   publish  RPUSH q m1 m2 ... (one command per 1000 messages, pipelined)
//   fetch    one Lua call: LRANGE+LTRIM up to n, ZADD each into {q}__unack_id_{consumer_id}
//            (score = now); polls in small steps while the list is empty, up to `wait`
//   ack      ZREM from the unack zset;  requeue  RPUSH back + ZREM (one transaction)
//   count    LLEN q (waiting messages; fetched-unacked ones sit in the unack zsets)
//   clear    DEL q
// Each fetching connection is one funboost consumer: it heartbeats, registers its unack key in
// funboost_unack_registry:{q}, and its messages are recovered if it dies (redis_keeper). A
// graceful close gives its unacked messages back at once. It consumes what Python REDIS and
// REDIS_ACK_ABLE producers push (both RPUSH funboost JSON onto the list q).
// Two identical message bodies in flight on one connection share one zset member (funboost
// has the same limit; task ids keep real messages distinct).
#pragma once

#include <memory>

#include <funboost/broker.hpp>

namespace funboost::brokers::redis {

std::shared_ptr<broker> make_redis_ack_able_broker(const booster_options& options);

} // namespace funboost::brokers::redis
