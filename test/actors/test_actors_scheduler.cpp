// scheduler (src/actors/scheduler.cpp) on virtual time over the memory broker's delay store
// (this process's memory): a kept task reaches the queue exactly at its due time, not before;
// one fired later than its misfire grace is dropped; a scheduler that never heard of a kept task
// (another process's, or one kept before a restart) fires it within look_interval; a body kept
// twice fires once. The wall clock the scheduler reads follows the virtual clock.
#include "actor_fixture.hpp"

#include "actors/scheduler.hpp"

using namespace actors_test;

namespace {

struct scheduler_fixture : actor_fixture {
  explicit scheduler_fixture(const std::string& queue) {
    options = test_options(queue);
    ctx = make_context(options);
    connection = ctx->broker->connect();
    start = now();
  }

  /// Unix seconds on virtual time: starts at 1.8e9 and moves with advance().
  double wall() {
    return 1'800'000'000.0 + skew + std::chrono::duration<double>(now() - start).count();
  }

  scheduler_actor spawn_scheduler() {
    auto s = track(sys.spawn(funboost::actors::scheduler, ctx, wall_clock{[this] { return wall(); }}));
    run();
    return s;
  }

  bool keep(const scheduler_actor& s, std::vector<funboost::delayed_message> messages) {
    auto a = ask<bool>(s, delay_atom::value, std::move(messages));
    REQUIRE(a->given());
    return a->value.value_or(false);
  }

  /// What reached the queue so far (taken off it).
  std::vector<std::string> pushed() {
    std::vector<funboost::fetched_message> got;
    connection->fetch(options.queue_name, 100, 0ms, got);
    std::vector<uint64_t> tags;
    std::vector<std::string> bodies;
    for (auto& m : got) {
      tags.push_back(m.delivery_tag);
      bodies.push_back(m.body);
    }
    if (!tags.empty())
      connection->ack(options.queue_name, tags);
    return bodies;
  }

  funboost::booster_options options;
  funboost::detail::queue_context_ptr ctx;
  std::unique_ptr<funboost::broker_connection> connection;
  time_point start;
  double skew = 0;
};

using bodies = std::vector<std::string>;

} // namespace

TEST_CASE("scheduler: a kept task reaches the queue at its due time, not a millisecond before, "
          "earliest first") {
  scheduler_fixture f{"actors_scheduler_due"};
  auto s = f.spawn_scheduler();
  auto t0 = f.wall();
  REQUIRE(f.keep(s, {{t0 + 2, 0, "late"}, {t0 + 1, 0, "early"}, {t0 + 2, 0, "late-too"}}));
  f.advance(999ms);
  CHECK(f.pushed().empty());
  f.advance(1ms);
  CHECK(f.pushed() == bodies{"early"});
  f.advance(999ms);
  CHECK(f.pushed().empty());
  f.advance(1ms);
  CHECK(f.pushed() == bodies{"late", "late-too"});
}

TEST_CASE("scheduler: a task fired later than its misfire grace is dropped, one without a grace "
          "runs however late") {
  scheduler_fixture f{"actors_scheduler_misfire"};
  auto s = f.spawn_scheduler();
  auto t0 = f.wall();
  // Kept before a pause of the whole process (a SIGSTOP, a laptop lid): due long ago on waking.
  REQUIRE(f.keep(s, {{t0 + 1, 3, R"({"x":1,"extra":{"task_id":"strict"}})"},
                     {t0 + 1, 0, R"({"x":2,"extra":{"task_id":"any-time"}})"}}));
  f.skew = 60; // the wall clock jumps a minute ahead of the timer set for the due time
  f.advance(1s);
  CHECK(f.pushed() == bodies{R"({"x":2,"extra":{"task_id":"any-time"}})"});
}

TEST_CASE("scheduler: tasks kept by a scheduler that is gone are fired by a new one within "
          "look_interval, once") {
  scheduler_fixture f{"actors_scheduler_restart"};
  auto other = f.spawn_scheduler(); // another process's: its store is empty when it looks
  auto first = f.spawn_scheduler();
  auto t0 = f.wall();
  REQUIRE(f.keep(first, {{t0 + 5, 0, "kept-before"}, {t0 + 5, 0, "kept-before"}}));
  caf::anon_send_exit(first, caf::exit_reason::user_shutdown);
  f.run();
  f.advance(4s);
  CHECK(f.pushed().empty());
  f.advance(1s + look_interval);
  CHECK(f.pushed() == bodies{"kept-before"}); // kept twice, fired once
  f.advance(10s);
  CHECK(f.pushed().empty());
}
