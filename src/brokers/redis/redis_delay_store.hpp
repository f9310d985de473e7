// Delayed tasks of the Redis kinds: a sorted set per queue in the queue's db (not funboost's:
// funboost keeps them in an APScheduler job store), so they survive a restart of every process
// and any consumer of the queue fires them. See docs/WIRE.md for the key.
#pragma once

#include <memory>

#include <funboost/delay_store.hpp>

#include "brokers/redis/redis_broker_base.hpp"

namespace funboost::brokers::redis {

/// `broker` must outlive the store (the queue's scheduler owns both through its context).
/// `stream`: the queue is a stream (XADD) rather than a list (RPUSH).
std::unique_ptr<delay_store> make_redis_delay_store(redis_broker_base& broker, bool stream);

} // namespace funboost::brokers::redis
