// booster_options::process_isolation: one task's function run in a child process made with
// fork() from the worker's thread. The child runs only the function, writes the outcome
// through a pipe and _exit()s; a crash or a kill of the child fails that task alone. Blocks
// the calling thread until the child is gone: for the worker (a detached actor) only.
#pragma once

#include <cstdint>
#include <stop_token>
#include <string>

#include <funboost/function_binding.hpp>

namespace funboost::detail {

/// How a task run in a child process ended.
struct isolated_outcome {
  enum class end : uint8_t {
    returned,     // the function returned or threw: `outcome` says which
    decode_error, // an argument did not decode: `detail` is the decode_error's text
    crashed,      // the child died of a signal or exited without an outcome: `detail` says how
    timed_out,    // it ran past the timeout and was killed (SIGKILL)
    stopped,      // the stop token asked for it, and it was killed (SIGKILL)
  } how = end::returned;
  call_outcome outcome;
  std::string detail;
};

/// Runs `fn(message)` in a child process and waits for it: at most `timeout_seconds` (0 = no
/// limit) and until `stop` is requested, then it is killed. Throws std::runtime_error when no
/// child can be made (fork or pipe failed) or when something other than the function's own
/// exception escaped it in the child (as that crashes an in-process worker: a result the codec
/// cannot encode).
isolated_outcome run_isolated(const task_function& fn, simdjson::dom::object message,
                              double timeout_seconds, std::stop_token stop);

/// "SIGSEGV (signal 11)"
std::string signal_text(int sig);

} // namespace funboost::detail
