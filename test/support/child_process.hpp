// Child processes of fault tests and benches: killed the way a crash or an OOM killer ends them.
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

namespace funboost::test {

/// SIGKILLs `pid` and waits for it, so no zombie is left and its connections are closed.
inline void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

} // namespace funboost::test
