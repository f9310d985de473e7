// The task of the SIGKILL suite, shared by the test and its consumer program: it takes a while
// and records its completion with SADD done:{queue} i, so completions can be counted across
// processes.
#pragma once

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "redis_client.hpp"

namespace funboost::test {

inline int sigkill_port = 0;
inline std::string sigkill_queue;
inline std::chrono::milliseconds sigkill_task_time{1000};

inline void sigkill_task(int i) {
  std::this_thread::sleep_for(sigkill_task_time);
  thread_local std::unique_ptr<redis_client> client;
  if (!client)
    client = std::make_unique<redis_client>(sigkill_port, 7);
  client->run({"SADD", "done:" + sigkill_queue, std::to_string(i)});
}

/// A poison task: task -1 kills its process (as a segfault or a failed assertion would); the
/// others are sigkill_task.
inline void poison_task(int i) {
  if (i < 0)
    std::abort();
  sigkill_task(i);
}

/// Short heartbeat timing so the test is quick (only safe when every consumer uses it).
inline void quick_recovery(booster_options& o) {
  o.broker.transport_options["heartbeat_interval_ms"] = 500LL;
  o.broker.transport_options["heartbeat_expire_ms"] = 2000LL;
  o.broker.transport_options["recover_interval_ms"] = 500LL;
  o.broker.transport_options["stream_claim_idle_ms"] = 500LL;
}

/// Heartbeats that would take 10 minutes to expire: only the connection check (a process
/// whose connections to Redis are all gone is dead) can give a killed consumer's tasks back
/// within a test's time.
inline void slow_heartbeat(booster_options& o) {
  o.broker.transport_options["heartbeat_expire_ms"] = 600000LL;
}

} // namespace funboost::test
