// The SQLite job store of scheduled pushes (src/schedule/sqlite_job_store.cpp) on a temporary
// file, as two processes see it through two connections: a fire both read as due is claimed by
// one only; a date job's last claim removes it; definitions survive a reopen as written;
// paused jobs are never due. (The Redis store: test/redis/test_redis_scheduled.cpp.)
#include <doctest/doctest.h>

#include <filesystem>

#include <unistd.h>

#include "schedule/job_store.hpp"

using funboost::scheduled_job;
using funboost::schedule::make_job_store;

namespace {

struct temp_store {
  temp_store() {
    char dir[] = "/tmp/funboost_jobstore_XXXXXX";
    REQUIRE(::mkdtemp(dir));
    folder = dir;
    url = "sqlite:" + folder + "/jobs.sqlite3";
  }
  ~temp_store() { std::filesystem::remove_all(folder); }
  std::string folder, url;
};

scheduled_job job(std::string id) {
  scheduled_job j;
  j.id = std::move(id);
  j.queue_name = "q";
  j.kwargs_json = R"({"x": "ü"})";
  j.trigger = scheduled_job::kind::cron;
  j.cron = "*/5 * * * * *";
  j.time_zone = "Asia/Shanghai";
  j.options.max_retry_times = 2;
  j.options.filter_str = "k";
  return j;
}

} // namespace

TEST_CASE("sqlite job store: a fire two processes read as due is claimed by one of them") {
  temp_store t;
  auto one = make_job_store(t.url);
  auto two = make_job_store(t.url);
  one->put(job("a"), 100.0);
  auto seen_by_one = one->due(150, 10);
  auto seen_by_two = two->due(150, 10);
  REQUIRE(seen_by_one.size() == 1);
  REQUIRE(seen_by_two.size() == 1);
  CHECK(one->claim("a", *seen_by_one[0].next, 105.0));
  CHECK_FALSE(two->claim("a", *seen_by_two[0].next, 105.0));
  CHECK(two->next_due() == 105.0);
  CHECK(one->due(104, 10).empty());
}

TEST_CASE("sqlite job store: the last claim of a date job removes it; paused jobs are not due") {
  temp_store t;
  auto s = make_job_store(t.url);
  s->put(job("once"), 10.0);
  s->put(job("paused"), 5.0);
  REQUIRE(s->set_paused("paused", true, std::nullopt));
  auto due = s->due(20, 10);
  REQUIRE(due.size() == 1);
  CHECK(due[0].job.id == "once");
  CHECK(s->claim("once", 10.0, std::nullopt));
  CHECK_FALSE(s->get("once"));
  CHECK(s->next_due() == std::nullopt);
  CHECK_FALSE(s->set_paused("nope", true, std::nullopt));
  CHECK_FALSE(s->remove("nope"));
}

TEST_CASE("sqlite job store: a job reads back as written after the store is opened again") {
  temp_store t;
  make_job_store(t.url)->put(job("a"), 42.5);
  auto kept = make_job_store(t.url)->get("a");
  REQUIRE(kept);
  CHECK(kept->next == 42.5);
  CHECK(kept->job.kwargs_json == R"({"x": "ü"})");
  CHECK(kept->job.cron == "*/5 * * * * *");
  CHECK(kept->job.time_zone == "Asia/Shanghai");
  CHECK(kept->job.trigger == scheduled_job::kind::cron);
  CHECK(kept->job.options.max_retry_times == 2);
  CHECK(kept->job.options.filter_str == "k");
}

TEST_CASE("job stores: an unknown scheme or an unusable file is refused with what to use") {
  CHECK_THROWS_WITH_AS(make_job_store("mongodb://x"), doctest::Contains("use sqlite:PATH"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(make_job_store("sqlite:/nonexistent-dir/x/jobs.sqlite3"),
                       doctest::Contains("cannot open"), std::runtime_error);
}
