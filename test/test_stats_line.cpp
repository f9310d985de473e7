// The per-queue stats line (src/core/stats_line.cpp): running and prefetched tasks apart, and
// the warning that names a task running longer than logging.long_task_warning.
#include <doctest/doctest.h>

#include "core/stats_line.hpp"

using namespace std::chrono_literals;

TEST_CASE("the stats line shows running and prefetched tasks apart") {
  funboost::queue_stats s;
  s.queue_name = "q";
  s.done = 10;
  s.failed = 1;
  s.dead_lettered = 2;
  s.retried = 4;
  s.in_flight = 5;
  s.running = 2;
  s.prefetched = 3;
  CHECK(funboost::detail::stats_line(s, 1.5, "7")
        == "queue 'q': done 10, failed 1, dead-lettered 2, retried 4, running 2, prefetched 3, "
           "1.5 tasks/s, remaining 7");
}

TEST_CASE("the stats line counts timed-out runs once there are any") {
  funboost::queue_stats s;
  s.queue_name = "q";
  s.done = 3;
  s.retried = 2;
  s.timed_out = 2;
  CHECK(funboost::detail::stats_line(s, 0.5, "0")
        == "queue 'q': done 3, failed 0, dead-lettered 0, retried 2, timed out 2, running 0, "
           "prefetched 0, 0.5 tasks/s, remaining 0");
}

TEST_CASE("a task running longer than long_task_warning is named with its whole seconds") {
  funboost::actors::long_running slow{{"0190a1b2-task"}, 73s + 900ms};
  CHECK(funboost::detail::long_task_line("q", slow)
        == "queue 'q': task 0190a1b2-task has been running for 73 s");
}

TEST_CASE("a batch of fast tasks running long names every task of the batch") {
  funboost::actors::long_running slow{{"a", "b"}, 61s};
  CHECK(funboost::detail::long_task_line("q", slow)
        == "queue 'q': a batch of 2 tasks (a, b) has been running for 61 s; one of them has "
           "not returned");
}
