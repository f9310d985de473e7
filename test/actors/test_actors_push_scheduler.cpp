// push_scheduler (src/actors/push_scheduler.cpp) on virtual time, over a real SQLite job store
// in a temporary file and a stand-in node that records pushes: interval, date and cron jobs
// fire at their times and not before, each fire once even with two schedulers sharing the
// store, paused jobs do not fire and resume from now, missed fires coalesce into one, jobs of
// queues the runtime does not know are left to a runtime that does, and bad jobs are refused
// with the reason. The scheduler's wall clock follows virtual time.
#include "actor_fixture.hpp"

#include <cstdlib>
#include <filesystem>

#include "actors/push_scheduler.hpp"
#include "core/logging.hpp"

using namespace actors_test;
using funboost::scheduled_job;

namespace {

struct pushed {
  std::string queue, kwargs, task_id;
};

struct node_log {
  std::vector<pushed> pushes;
  std::vector<std::string> queues{"q"}; // what the node knows
};

/// A node that knows `log->queues` and records pushes.
funboost::node_actor::behavior_type stand_in_node(funboost::node_actor::pointer,
                                                  std::shared_ptr<node_log> log) {
  using namespace funboost;
  auto none = [](auto&&...) -> caf::error { return caf::make_error(ec::unknown_queue, "stand-in"); };
  return {
    [=](queues_atom) {
      std::vector<queue_info> out;
      for (auto& q : log->queues)
        out.push_back(queue_info{.queue_name = q});
      return out;
    },
    [=](push_atom, const std::string& q, const std::string& kwargs, const task_options& o) {
      log->pushes.push_back({q, kwargs, o.task_id});
      return push_receipt{o.task_id, ec::none, {}};
    },
    [=](result_atom, const std::string&, caf::timespan) -> caf::result<task_result> {
      return none();
    },
    [=](stats_atom, const std::string&) -> caf::result<queue_stats> { return none(); },
    [=](consume_atom, const std::string&) -> caf::result<bool> { return none(); },
    [=](stop_atom, const std::string&) -> caf::result<bool> { return none(); },
    [=](schedule_atom, const scheduled_job&) -> caf::result<std::string> { return none(); },
    [=](jobs_atom) -> caf::result<std::vector<scheduled_job>> { return none(); },
    [=](pause_job_atom, const std::string&) -> caf::result<bool> { return none(); },
    [=](resume_job_atom, const std::string&) -> caf::result<bool> { return none(); },
    [=](remove_job_atom, const std::string&) -> caf::result<bool> { return none(); },
  };
}

struct push_scheduler_fixture : actor_fixture {
  push_scheduler_fixture() {
    char dir[] = "/tmp/funboost_jobs_XXXXXX";
    REQUIRE(::mkdtemp(dir));
    folder = dir;
    url = "sqlite:" + folder + "/jobs.sqlite3";
    node = track(sys.spawn(stand_in_node, log));
    start = now();
  }
  ~push_scheduler_fixture() override { std::filesystem::remove_all(folder); }

  /// Unix seconds on virtual time: 2026-11-25T00:00:00Z at the start, moving with advance().
  double wall() {
    return 1'795'564'800.0 + skew + std::chrono::duration<double>(now() - start).count();
  }

  push_scheduler_actor spawn_scheduler(std::shared_ptr<node_log> which = nullptr) {
    auto n = which ? track(sys.spawn(stand_in_node, which)) : node;
    funboost::booster_options o;
    o.queue_name = "scheduled pushes";
    o.logging.file_dir = "";
    o.logging.level = funboost::log_level::off;
    auto s = track(sys.spawn(funboost::actors::push_scheduler,
                             std::shared_ptr<funboost::schedule::job_store>(
                               funboost::schedule::make_job_store(url)),
                             n, wall_clock{[this] { return wall(); }},
                             funboost::detail::queue_logger(o)));
    run();
    return s;
  }

  std::string add(const push_scheduler_actor& s, scheduled_job job) {
    auto a = ask<std::string>(s, funboost::schedule_atom_v, std::move(job));
    REQUIRE(a->given());
    if (a->error)
      return "error: " + sys.render(*a->error);
    return *a->value;
  }

  std::vector<std::string> task_ids() {
    std::vector<std::string> out;
    for (auto& p : log->pushes)
      out.push_back(p.task_id);
    return out;
  }

  std::string folder, url;
  std::shared_ptr<node_log> log = std::make_shared<node_log>();
  funboost::node_actor node;
  time_point start;
  double skew = 0;
};

scheduled_job every(double seconds, std::string id = "every") {
  scheduled_job j;
  j.id = std::move(id);
  j.queue_name = "q";
  j.kwargs_json = R"({"x":1})";
  j.trigger = scheduled_job::kind::interval;
  j.interval_seconds = seconds;
  return j;
}

scheduled_job cron(std::string expression, std::string id = "cron") {
  auto j = every(0, std::move(id));
  j.trigger = scheduled_job::kind::cron;
  j.cron = std::move(expression);
  return j;
}

using ids = std::vector<std::string>;

} // namespace

TEST_CASE("push scheduler: an interval job pushes every interval, not before, each fire with "
          "the task id {job}@{fire time}") {
  push_scheduler_fixture f;
  auto s = f.spawn_scheduler();
  REQUIRE(f.add(s, every(2)) == "every");
  f.advance(1999ms);
  CHECK(f.log->pushes.empty());
  f.advance(1ms);
  CHECK(f.task_ids() == ids{"every@2026-11-25T00:00:02Z"});
  CHECK(f.log->pushes[0].queue == "q");
  CHECK(f.log->pushes[0].kwargs == R"({"x":1})");
  f.advance(2s);
  CHECK(f.task_ids() == ids{"every@2026-11-25T00:00:02Z", "every@2026-11-25T00:00:04Z"});
}

TEST_CASE("push scheduler: a cron job with seconds fires on its marks; a date job once, then it "
          "is gone") {
  push_scheduler_fixture f;
  auto s = f.spawn_scheduler();
  REQUIRE(f.add(s, cron("*/5 * * * * *")) == "cron");
  auto once = every(0, "once");
  once.trigger = scheduled_job::kind::date;
  once.start = std::chrono::system_clock::time_point{std::chrono::seconds(1'795'564'807)};
  REQUIRE(f.add(s, once) == "once");
  f.advance_in_steps(11s, 500ms);
  CHECK(f.task_ids()
        == ids{"cron@2026-11-25T00:00:05Z", "once@2026-11-25T00:00:07Z",
               "cron@2026-11-25T00:00:10Z"});
  auto jobs = f.ask<std::vector<scheduled_job>>(s, funboost::jobs_atom_v);
  REQUIRE(jobs->value);
  REQUIRE(jobs->value->size() == 1);
  CHECK(jobs->value->front().id == "cron");
  CHECK(jobs->value->front().next_fire
        == std::chrono::system_clock::time_point{std::chrono::seconds(1'795'564'815)});
}

// On the deterministic coordinator the two never read the store at the same moment, so this
// proves they do not both fire one tick in turn; the race itself (both read a fire as due, one
// claim wins) is proven on the stores: test/test_job_store.cpp, test/redis/test_redis_scheduled.cpp.
TEST_CASE("push scheduler: two schedulers sharing a store push each fire once") {
  push_scheduler_fixture f;
  auto a = f.spawn_scheduler();
  auto b = f.spawn_scheduler(f.log); // another process: same store, its own node, same log
  REQUIRE(f.add(a, every(1)) == "every");
  f.advance_in_steps(5s, 250ms);
  CHECK(f.task_ids()
        == ids{"every@2026-11-25T00:00:01Z", "every@2026-11-25T00:00:02Z",
               "every@2026-11-25T00:00:03Z", "every@2026-11-25T00:00:04Z",
               "every@2026-11-25T00:00:05Z"});
  (void) b;
}

TEST_CASE("push scheduler: a paused job does not fire; resumed, it fires from now on, the "
          "fires it missed are not made up") {
  push_scheduler_fixture f;
  auto s = f.spawn_scheduler();
  REQUIRE(f.add(s, every(1)) == "every");
  f.advance(1s);
  CHECK(f.log->pushes.size() == 1);
  REQUIRE(f.ask<bool>(s, funboost::pause_job_atom_v, std::string{"every"})->value);
  f.advance_in_steps(5s, 500ms);
  CHECK(f.log->pushes.size() == 1);
  REQUIRE(f.ask<bool>(s, funboost::resume_job_atom_v, std::string{"every"})->value);
  f.advance(1s);
  CHECK(f.task_ids() == ids{"every@2026-11-25T00:00:01Z", "every@2026-11-25T00:00:07Z"});
  auto missing = f.ask<bool>(s, funboost::pause_job_atom_v, std::string{"nope"});
  REQUIRE(missing->error);
  CHECK(*missing->error == funboost::ec::unknown_job);
}

TEST_CASE("push scheduler: fires missed while no scheduler ran are pushed once, not once each") {
  push_scheduler_fixture f;
  auto s = f.spawn_scheduler();
  REQUIRE(f.add(s, every(1)) == "every");
  f.skew = 60; // the process was stopped for a minute
  f.advance(1s);
  CHECK(f.task_ids() == ids{"every@2026-11-25T00:00:01Z"});
  f.advance(1s);
  CHECK(f.task_ids() == ids{"every@2026-11-25T00:00:01Z", "every@2026-11-25T00:01:02Z"});
}

TEST_CASE("push scheduler: a job of a queue this runtime does not know is left for a runtime "
          "that knows it") {
  push_scheduler_fixture f;
  auto knows_nothing = std::make_shared<node_log>();
  knows_nothing->queues.clear();
  auto blind = f.spawn_scheduler(knows_nothing);
  REQUIRE(f.add(blind, every(1)) == "every");
  f.advance_in_steps(3s, 500ms);
  CHECK(knows_nothing->pushes.empty());
  auto knowing = f.spawn_scheduler(); // starts now: fires the one missed fire at once
  f.advance(1ms);
  CHECK(f.log->pushes.size() == 1);
}

TEST_CASE("push scheduler: bad jobs are refused with the reason") {
  push_scheduler_fixture f;
  auto s = f.spawn_scheduler();
  CHECK(f.add(s, cron("*/5 * * * 8")).find("field 5 (day of week) value 8") != std::string::npos);
  auto bad_zone = cron("0 * * * *");
  bad_zone.time_zone = "Mars/Olympus";
  CHECK(f.add(s, bad_zone).find("Mars/Olympus") != std::string::npos);
  CHECK(f.add(s, every(0)).find("interval_seconds") != std::string::npos);
  auto not_json = every(1);
  not_json.kwargs_json = "[1]";
  CHECK(f.add(s, not_json).find("kwargs_json is not a JSON object") != std::string::npos);
  auto past = every(0, "past");
  past.trigger = scheduled_job::kind::date;
  past.start = std::chrono::system_clock::time_point{std::chrono::seconds(1'000'000'000)};
  CHECK(f.add(s, past).find("in the past") != std::string::npos);
}
