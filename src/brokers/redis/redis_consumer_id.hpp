// funboost's consumer identification: {host}_{ip}_{YYYY-MM-DD HH-MM-SS}_{pid}_{object id}, the
// time in funboost's time zone (the publish_time_utc_offset_minutes option, Asia/Shanghai by
// default) and the last part a number shaped like CPython's id(self). It names the unack zset
// ({q}__unack_id_{id}), the heartbeat entries and the stream consumer.
#pragma once

#include <string>

namespace funboost::brokers::redis {

/// A new id; the last part differs for every call in a process, so every connection gets its
/// own.
std::string new_consumer_id(int utc_offset_minutes);

/// The name every Redis connection of this process gives itself (CLIENT SETNAME):
/// "funboost-cpp:{host}:{pid}:{random}". While any connection with it is open, the process is
/// alive; when none is (its process died, the kernel closed them), another process's keeper
/// gives back its consumers' tasks at once instead of after the heartbeat expiry.
const std::string& process_client_name();

/// The machine's host name (gethostname), "localhost" if it has none.
const std::string& host_name();

/// The machine's IP as funboost reports it: the address of the interface that routes to the
/// internet, else the first non-loopback IPv4 address, else 127.0.0.1.
const std::string& host_ip();

} // namespace funboost::brokers::redis
