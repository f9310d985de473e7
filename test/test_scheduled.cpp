// Scheduled pushes through the runtime's API (rt.run_scheduler, schedule, scheduled_jobs,
// pause_job, resume_job, remove_job) and the node's protocol, on the memory broker and a SQLite
// job store in a temporary file: a job's pushes run on a consuming booster, listing shows its
// next fire, and a runtime without a scheduler says how to start one.
#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>

#include <unistd.h>

#include <caf/scoped_actor.hpp>
#include <funboost/funboost.hpp>

#include "support/fixtures.hpp"

using namespace std::chrono_literals;
using funboost::scheduled_job;
using test_support::memory_queue;
using test_support::wait_until;

namespace {

struct temp_dir {
  temp_dir() {
    char dir[] = "/tmp/funboost_scheduled_XXXXXX";
    REQUIRE(::mkdtemp(dir));
    path = dir;
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
  std::string path;
};

} // namespace

TEST_CASE("an interval job's pushes run on the queue's consumer; the job lists with its next "
          "fire, pauses, resumes and is removed") {
  temp_dir dir;
  funboost::runtime rt;
  auto o = memory_queue("scheduled_interval");
  o.arg_names = {"x"};
  std::atomic<int> sum{0};
  auto b = rt.boost([&](int x) { sum += x; }, o);
  b.consume();
  rt.run_scheduler("sqlite:" + dir.path + "/jobs.sqlite3");
  scheduled_job job;
  job.queue_name = o.queue_name;
  job.kwargs_json = R"({"x": 2})";
  job.interval_seconds = 0.2;
  auto id = rt.schedule(job);
  CHECK(!id.empty()); // a new id was made
  REQUIRE(wait_until([&] { return sum >= 6; })); // three fires ran
  auto jobs = rt.scheduled_jobs();
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].id == id);
  CHECK(jobs[0].queue_name == o.queue_name);
  CHECK(jobs[0].next_fire > std::chrono::system_clock::now() - 1s);
  CHECK(rt.pause_job(id));
  CHECK(rt.scheduled_jobs()[0].paused);
  CHECK(rt.resume_job(id));
  CHECK(rt.remove_job(id));
  CHECK(rt.scheduled_jobs().empty());
  CHECK_FALSE(rt.remove_job(id));
  CHECK_FALSE(rt.pause_job("nope"));
}

TEST_CASE("a bad job is refused by schedule() with the reason; a runtime without a scheduler "
          "says how to start one, through the node too") {
  funboost::runtime without;
  scheduled_job job;
  job.queue_name = "q";
  job.interval_seconds = 1;
  CHECK_THROWS_WITH_AS(without.schedule(job), doctest::Contains("rt.run_scheduler("),
                       std::runtime_error);
  caf::scoped_actor self{without.system()};
  self->request(without.node(), 10s, funboost::jobs_atom_v)
    .receive([](const std::vector<scheduled_job>&) { FAIL("no scheduler runs"); },
             [](caf::error& e) { CHECK(e == funboost::ec::no_scheduler); });

  temp_dir dir;
  funboost::runtime rt;
  rt.run_scheduler("sqlite:" + dir.path + "/jobs.sqlite3");
  job.trigger = scheduled_job::kind::cron;
  job.cron = "61 * * * *";
  CHECK_THROWS_WITH_AS(rt.schedule(job), doctest::Contains("field 1 (minute)"),
                       std::invalid_argument);
  CHECK_THROWS_AS(rt.run_scheduler("sqlite:" + dir.path + "/other.sqlite3"), std::logic_error);
}
