// The text of the per-queue stats line the heartbeat logs every logging.stats_interval, and of
// its warnings about tasks running longer than logging.long_task_warning. Pure functions, so
// what the line says is tested without waiting for a timer.
#pragma once

#include <string>

#include <funboost/protocol.hpp>

#include "actors/actors.hpp"

namespace funboost::detail {

/// "queue 'q': done 10, failed 0, dead-lettered 0, retried 0, running 2, prefetched 3,
/// 1.5 tasks/s, remaining 7". Running and prefetched apart: a full prefetch is not a busy pool.
std::string stats_line(const queue_stats& stats, double tasks_per_second,
                       const std::string& remaining);

/// "queue 'q': task <id> has been running for 73 s" (a batch of fast tasks names every id).
std::string long_task_line(const std::string& queue, const actors::long_running& task);

} // namespace funboost::detail
