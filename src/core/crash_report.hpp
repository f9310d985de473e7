// When the process dies of a fatal signal (a segfault, an abort in the user's function), the
// last thing it does is say which tasks were running: one line per running task on stderr,
// written from the signal handler with write(2) only. The next consumer learns the rest from
// the broker (crash counts, see max_crash_deliveries).
#pragma once

#include <string>

namespace funboost::detail {

/// Installs the fatal-signal handler (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) once per
/// process; it reports and then dies of the same signal with the default action.
void install_crash_report();

/// Set by a worker thread around each run of the user's function; `queue` and `task_id` must
/// stay alive until running_task_done(). Costs one atomic store each.
void running_task(const std::string* queue, const std::string* task_id);
void running_task_done();

/// running_task() for a scope; also cleared when the function throws.
class running_task_scope {
public:
  running_task_scope(const std::string* queue, const std::string* task_id) {
    running_task(queue, task_id);
  }
  ~running_task_scope() { running_task_done(); }
  running_task_scope(const running_task_scope&) = delete;
  running_task_scope& operator=(const running_task_scope&) = delete;
};

} // namespace funboost::detail
