// funboost's consumer identification: {host}_{ip}_{YYYY-MM-DD HH-MM-SS}_{pid}_{n}.
// It names the unack zset ({q}__unack_id_{id}), the heartbeat entries and the stream consumer.
#pragma once

#include <string>

namespace funboost::brokers::redis {

/// A new id; n counts up per process, so every connection of the process gets its own.
std::string new_consumer_id();

} // namespace funboost::brokers::redis
