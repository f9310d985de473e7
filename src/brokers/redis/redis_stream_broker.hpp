// Broker kind "redis_stream": funboost's REDIS_STREAM protocol (see WIRE.md).
//   publish  XADD q * "" msg (pipelined)
//   fetch    XGROUP CREATE q funboost_group 0 MKSTREAM once (BUSYGROUP ignored), then
//            XREADGROUP GROUP funboost_group {consumer_id} COUNT n BLOCK wait STREAMS q >
//   ack      XACK + XDEL;  requeue  XACK + XDEL + XADD of a copy (one transaction)
//   count    XLEN q minus the group's pending (delivered, unacked) entries: entries not yet
//            delivered to any consumer, as long as acked entries are deleted (they are here)
//   clear    DEL q (the group goes with it; fetchers re-create it)
// Consumers heartbeat like funboost's; pending entries of a consumer without a live
// heartbeat (idle at least stream_claim_idle_ms) are re-added to the stream by the keeper, in
// one Lua script that first takes funboost's lock
// (SET funboost_lock__requeue_tasks_which_unconfirmed:{q} NX EX 30): a Python consumer
// recovers (XCLAIM) under the same lock, so the two never move the same entry.
#pragma once

#include <memory>

#include <funboost/broker.hpp>

namespace funboost::brokers::redis {

std::shared_ptr<broker> make_redis_stream_broker(const booster_options& options);

} // namespace funboost::brokers::redis
