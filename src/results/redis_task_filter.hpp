// The Redis task filter (core/task_filter.hpp): funboost's own keys and commands in the results
// db, so Python funboost consumers and funboost-cpp consumers of one queue filter together.
//
//   expiry 0:  SET  filter_set:{queue}   seen: SISMEMBER   remember: SADD
//   expiry E:  ZSET filter_zset:{queue}  seen: ZSCORE, and the score is later than now - E
//                                        remember: ZADD {now} (Python's repr of the time)
//                                        remove_expired: ZREMRANGEBYSCORE 0 {now - E}
//   clear: DEL of the filter's key.
// Keys get the address's key_prefix (none by default, as Python funboost has none).
//
// One connection, made at the first call, shared by every caller under a lock (each call is one
// round trip). A connection found dead (idle, server restarted) is replaced and the command sent
// once more (every command here is idempotent); otherwise failures throw funboost::broker_error
// naming the address, and the next call connects again.
#pragma once

#include <memory>

#include "brokers/redis/redis_url.hpp"
#include "core/task_filter.hpp"

namespace funboost::detail {

/// A filter in `results_db` (its db is the results db: funboost's REDIS_DB_FILTER_AND_RPC_RESULT,
/// 8 by default; the same address as the Redis result store). Nothing connects until the first
/// call.
std::shared_ptr<task_filter> make_redis_task_filter(brokers::redis::redis_address results_db,
                                                    double expire_seconds,
                                                    unix_clock clock = {});

} // namespace funboost::detail
