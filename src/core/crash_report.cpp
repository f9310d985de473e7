#include "core/crash_report.hpp"

#include <atomic>
#include <csignal>
#include <cstring>
#include <mutex>
#include <unistd.h>

namespace funboost::detail {

namespace {

struct running {
  const std::string* queue;
  const std::string* task_id;
};

/// One slot per worker thread (workers are detached actors, a thread each). A thread keeps its
/// slot for life; past the last slot a thread's tasks are simply not reported.
constexpr int max_threads = 4096;
std::atomic<const running*> slots[max_threads];
std::atomic<int> slots_used{0};
thread_local int my_slot = -1;
thread_local running mine;

void say(const char* text, std::size_t n) {
  while (n > 0) {
    auto w = ::write(STDERR_FILENO, text, n);
    if (w <= 0)
      return;
    text += w;
    n -= static_cast<std::size_t>(w);
  }
}
void say(const char* text) { say(text, std::strlen(text)); }
void say(const std::string* s) {
  if (s) // best effort: the strings belong to a task its worker thread is running
    say(s->data(), std::min<std::size_t>(s->size(), 200));
}

extern "C" void on_fatal_signal(int sig) {
  const char* name = sig == SIGSEGV ? "SIGSEGV"
                     : sig == SIGABRT ? "SIGABRT"
                     : sig == SIGBUS  ? "SIGBUS"
                     : sig == SIGFPE  ? "SIGFPE"
                                      : "SIGILL";
  int used = std::min(slots_used.load(std::memory_order_acquire), max_threads);
  for (int i = 0; i < used; ++i) {
    const running* r = slots[i].load(std::memory_order_acquire);
    if (!r)
      continue;
    say("funboost: the process dies of ");
    say(name);
    say(" while running task ");
    say(r->task_id);
    say(" of queue '");
    say(r->queue);
    say("'; the broker gives it to another consumer, and after max_crash_deliveries such "
        "deaths to the dead-letter queue\n");
  }
  std::signal(sig, SIG_DFL); // die of the same signal, with its core dump if enabled
  std::raise(sig);
}

} // namespace

void install_crash_report() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) {
      struct sigaction old{};
      sigaction(sig, nullptr, &old);
      if (old.sa_handler != SIG_DFL)
        continue; // the application has its own handler: leave it alone
      struct sigaction action{};
      action.sa_handler = on_fatal_signal;
      sigemptyset(&action.sa_mask);
      action.sa_flags = SA_RESETHAND;
      sigaction(sig, &action, nullptr);
    }
  });
}

void running_task(const std::string* queue, const std::string* task_id) {
  if (my_slot < 0) {
    my_slot = slots_used.fetch_add(1, std::memory_order_acq_rel);
    if (my_slot >= max_threads)
      my_slot = max_threads; // no slot left: not reported
  }
  if (my_slot >= max_threads)
    return;
  mine = running{queue, task_id};
  slots[my_slot].store(&mine, std::memory_order_release);
}

void running_task_done() {
  if (my_slot >= 0 && my_slot < max_threads)
    slots[my_slot].store(nullptr, std::memory_order_release);
}

} // namespace funboost::detail
