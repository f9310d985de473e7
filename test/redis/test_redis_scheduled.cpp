// Scheduled pushes on a REAL redis-server: the Redis job store's compare-and-set claim (two
// connections that both read a fire as due: one wins), and a cron job firing every second for
// 10 s across two scheduler processes sharing the store: every second's fire is on the queue
// exactly once (task ids {job}@{second} unique and without gaps).
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <thread>

#include <simdjson.h>

#include <funboost/funboost.hpp>

#include "redis_client.hpp"
#include "redis_server.hpp"
#include "schedule/job_store.hpp"
#include "support/child_process.hpp"

using namespace std::chrono_literals;
using funboost::scheduled_job;
using funboost::test::redis_client;
using funboost::test::redis_server;

namespace {

pid_t start_scheduler(int port, const std::string& queue) {
  const char* program = std::getenv("FUNBOOST_REDIS_SCHEDULER_PROCESS");
  REQUIRE_MESSAGE(program, "FUNBOOST_REDIS_SCHEDULER_PROCESS is not set; run through meson test");
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::string p = std::to_string(port);
    ::execl(program, program, p.c_str(), queue.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

scheduled_job every_second(const std::string& queue) {
  scheduled_job j;
  j.id = "tick";
  j.queue_name = queue;
  j.kwargs_json = R"({"x":1})";
  j.trigger = scheduled_job::kind::cron;
  j.cron = "* * * * * *";
  return j;
}

} // namespace

TEST_CASE("redis job store: a fire two connections read as due is claimed by one of them") {
  redis_server server;
  auto url = server.url(7);
  auto one = funboost::schedule::make_job_store(url);
  auto two = funboost::schedule::make_job_store(url);
  one->put(every_second("q"), 100.0);
  auto a = one->due(150, 10);
  auto b = two->due(150, 10);
  REQUIRE(a.size() == 1);
  REQUIRE(b.size() == 1);
  CHECK(a[0].job.cron == "* * * * * *");
  CHECK(one->claim("tick", *a[0].next, 101.0));
  CHECK_FALSE(two->claim("tick", *b[0].next, 101.0));
  CHECK(two->next_due() == 101.0);
  redis_client c{server.port(), 7};
  CHECK(c.integer({"HEXISTS", "funboost_scheduled_jobs", "tick"}) == 1);
  CHECK(c.string({"ZSCORE", "funboost_scheduled_jobs_next", "tick"}) == "101");
  CHECK(one->claim("tick", 101.0, std::nullopt)); // done: removed
  CHECK(c.integer({"HEXISTS", "funboost_scheduled_jobs", "tick"}) == 0);
}

TEST_CASE("a cron job every second, two scheduler processes on one Redis store, 10 s: each "
          "second pushed exactly once") {
  redis_server server;
  const std::string queue = "scheduled_every_second";
  std::vector<pid_t> schedulers{start_scheduler(server.port(), queue),
                                start_scheduler(server.port(), queue)};
  {
    funboost::runtime rt; // adds the job; knows no queue, so it never fires it
    rt.run_scheduler(server.url(7));
    REQUIRE(rt.schedule(every_second(queue)) == "tick");
    std::this_thread::sleep_for(10500ms); // the run the issue asks for: 10 s of fires
    REQUIRE(rt.remove_job("tick"));
    CHECK(rt.scheduled_jobs().empty());
  }
  std::this_thread::sleep_for(300ms); // a push claimed just before the removal lands
  for (auto pid : schedulers)
    funboost::test::kill_and_reap(pid);

  redis_client c{server.port(), 7};
  simdjson::dom::parser parser;
  std::vector<std::string> ids;
  for (const auto& body : c.strings({"LRANGE", queue, "0", "-1"})) {
    std::string_view id;
    REQUIRE(!parser.parse(body)["extra"]["task_id"].get(id));
    ids.emplace_back(id);
  }
  MESSAGE(ids.size() << " fires pushed in 10.5 s");
  CHECK(ids.size() >= 9);
  CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == ids.size()); // no fire twice
  // Consecutive seconds: no fire skipped. Ids are tick@YYYY-MM-DDTHH:MM:SSZ.
  std::vector<long> seconds;
  for (const auto& id : ids) {
    std::tm tm{};
    REQUIRE(strptime(id.c_str() + 5, "%Y-%m-%dT%H:%M:%SZ", &tm));
    seconds.push_back(static_cast<long>(timegm(&tm)));
  }
  std::sort(seconds.begin(), seconds.end());
  for (std::size_t i = 1; i < seconds.size(); ++i)
    CHECK_MESSAGE(seconds[i] == seconds[i - 1] + 1, "a gap after " << ids[i - 1]);
}
