// Registers the Redis broker kinds at load time (this object is part of libfunboost).
#include <funboost/broker.hpp>

#include "brokers/redis/redis_ack_able_broker.hpp"
#include "brokers/redis/redis_stream_broker.hpp"

namespace {

const bool registered_redis
  = (funboost::register_broker(funboost::broker_kind::redis,
                               &funboost::brokers::redis::make_redis_ack_able_broker),
     true);
const bool registered_redis_stream
  = (funboost::register_broker(funboost::broker_kind::redis_stream,
                               &funboost::brokers::redis::make_redis_stream_broker),
     true);

} // namespace
