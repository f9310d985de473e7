#include "core/stats_line.hpp"

#include <chrono>

#include <spdlog/fmt/fmt.h>

namespace funboost::detail {

std::string stats_line(const queue_stats& s, double tasks_per_second,
                       const std::string& remaining) {
  auto expired = s.expired > 0 ? fmt::format(", expired {}", s.expired) : std::string{};
  auto timed_out = s.timed_out > 0 ? fmt::format(", timed out {}", s.timed_out) : std::string{};
  return fmt::format("queue '{}': done {}, failed {}, dead-lettered {}, retried {}{}{}, "
                     "running {}, prefetched {}, {:.1f} tasks/s, remaining {}",
                     s.queue_name, s.done, s.failed, s.dead_lettered, s.retried, expired,
                     timed_out, s.running, s.prefetched, tasks_per_second, remaining);
}

std::string long_task_line(const std::string& queue, const actors::long_running& task) {
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(task.running_for).count();
  if (task.task_ids.size() == 1)
    return fmt::format("queue '{}': task {} has been running for {} s", queue,
                       task.task_ids.front(), seconds);
  std::string ids;
  for (const auto& id : task.task_ids)
    ids += (ids.empty() ? "" : ", ") + id;
  return fmt::format("queue '{}': a batch of {} tasks ({}) has been running for {} s; one of "
                     "them has not returned",
                     queue, task.task_ids.size(), ids, seconds);
}

} // namespace funboost::detail
