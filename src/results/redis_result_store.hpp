// The Redis result store: funboost's RPC results across processes, in the results db
// (funboost: db 8), with two detached actors per store whatever the load:
//  - a writer with ONE connection. write() only enqueues; records that arrive while a pipeline
//    is on the wire go together in the next one (group commit): per record `LPUSH {task_id}
//    record` + `EXPIRE {task_id} expire` (funboost's _set_rpc_result), then `PUBLISH
//    funboost_cpp_result_ready` per pipeline with its task ids, one per line, so funboost-cpp
//    waiters elsewhere learn at once (Python funboost ignores the channel). A Redis error keeps the records (at most 100,000)
//    and retries: at once, then after 1 s doubling to 30 s.
//  - a waiter with ONE command connection and ONE subscriber connection for every watched
//    slot (10,000 waiters cost no thread or connection each). It reads notifications, checks
//    a newly watched id at once when its record may exist already (not for a task being
//    pushed now), and every 100 ms each id watched longer than that (records written by Python
//    funboost come without a notification) with `LINDEX {task_id} 0`: it only reads, so
//    funboost waiters (BLPOP, then push back) and other processes still find the record.
// The store must be destroyed before its actor_system: the destructor ends both actors (the
// writer after sending what it holds), and ~actor_system waits for them.
#pragma once

#include <chrono>
#include <memory>
#include <string_view>

#include <caf/fwd.hpp>
#include <spdlog/logger.h>

#include "brokers/redis/redis_url.hpp"
#include "results/result_store.hpp"

namespace funboost::detail {

/// funboost-cpp's "a record was written" channel; the message is the task id (no key prefix).
inline constexpr std::string_view result_ready_channel = "funboost_cpp_result_ready";

/// The waiter's pace. Tests stretch the sweep to show what finds a record without it.
struct redis_result_timing {
  std::chrono::milliseconds notification_wait{2}; // longest block on the subscriber per round
  std::chrono::milliseconds sweep_period{100};    // every watched id is checked this often
};

/// A store on `address` (its db is the results db; key_prefix applies to the task id keys).
/// Connects lazily: nothing touches Redis until the first write() or watch(). `log` may be
/// null (spdlog's default logger then).
std::shared_ptr<result_store> make_redis_result_store(caf::actor_system& system,
                                                      brokers::redis::redis_address address,
                                                      std::chrono::seconds expire,
                                                      std::shared_ptr<spdlog::logger> log,
                                                      redis_result_timing timing = {});

} // namespace funboost::detail
