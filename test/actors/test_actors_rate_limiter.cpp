// rate_limiter (src/actors/rate_limiter.cpp) on virtual time: tokens fall due every 1/qps on a
// fixed schedule, an idle spell earns no burst, and a tick issues every token that fell due
// since the last one.
//
// A stand-in dispatcher forwards the test's `want` to the limiter (so the limiter answers it,
// as it answers the real dispatcher) and records each `tokens` grant with its virtual time.
#include "actor_fixture.hpp"

#include "actors/rate_limiter.hpp"

using namespace actors_test;

namespace {

struct grant {
  time_point at;
  uint32_t n;
};

struct token_log {
  std::vector<grant> grants;
  uint64_t total() const {
    uint64_t sum = 0;
    for (const auto& g : grants)
      sum += g.n;
    return sum;
  }
};

caf::behavior stand_in_dispatcher(caf::event_based_actor* self, rate_limiter_actor limiter,
                                  std::shared_ptr<token_log> log) {
  return {
    [=](want_atom, uint32_t n) { self->send(limiter, want_atom::value, n); },
    [=](tokens_atom, uint32_t n) { log->grants.push_back({self->clock().now(), n}); },
  };
}

struct limiter_fixture : actor_fixture {
  explicit limiter_fixture(double qps) {
    start = now();
    limiter = track(sys.spawn(rate_limiter, qps));
    dispatcher = track(sys.spawn(stand_in_dispatcher, limiter, log));
    run();
  }
  void want(uint32_t n) {
    caf::anon_send(dispatcher, want_atom::value, n);
    run();
  }
  time_point start;
  std::shared_ptr<token_log> log = std::make_shared<token_log>();
  rate_limiter_actor limiter;
  caf::actor dispatcher;
};

} // namespace

TEST_CASE("rate_limiter: qps 10 issues one token at once, then exactly one every 100 ms") {
  limiter_fixture f{10};
  f.want(100); // more than one second's worth: demand never runs out here
  REQUIRE(f.log->grants.size() == 1);
  CHECK(f.log->grants[0].at == f.start);
  CHECK(f.log->grants[0].n == 1);

  // 1 ms steps: the limiter's timer fires at its due time, so each grant's time is exact.
  f.advance_in_steps(1s, 1ms);
  // The one at t = 0 plus one per 100 ms in (0, 1 s]: 11, at 0, 100, ..., 1000 ms.
  REQUIRE(f.log->grants.size() == 11);
  for (size_t k = 0; k < f.log->grants.size(); ++k) {
    CAPTURE(k);
    CHECK(f.log->grants[k].n == 1);
    CHECK(f.log->grants[k].at == f.start + k * 100ms);
  }
}

TEST_CASE("rate_limiter: `want` replaces the outstanding demand; tokens stop when it is met") {
  limiter_fixture f{10};
  f.want(5); // one token now, four still wanted
  REQUIRE(f.log->total() == 1);
  f.want(2); // the dispatcher now could use two: that is the whole demand, not 4 + 2
  f.advance_in_steps(1s, 1ms);
  // Two more, on the schedule (t = 100, 200 ms), then none.
  CHECK(f.log->total() == 3);
  REQUIRE(f.log->grants.size() == 3);
  CHECK(f.log->grants[1].at == f.start + 100ms);
  CHECK(f.log->grants[2].at == f.start + 200ms);
}

TEST_CASE("rate_limiter: after an idle spell a new want gets one token at once, not a burst") {
  limiter_fixture f{10};
  f.want(1);
  REQUIRE(f.log->total() == 1);

  // Five idle seconds: fifty tokens' worth of schedule, none of it wanted.
  f.advance(5s);
  CHECK(f.log->total() == 1);

  f.want(10);
  // Banking would grant up to 10 now; the schedule restarts instead: one token, now.
  REQUIRE(f.log->grants.size() == 2);
  CHECK(f.log->grants[1].n == 1);
  CHECK(f.log->grants[1].at == f.start + 5s);

  // ... and the next one a full interval later, not before.
  f.advance_in_steps(99ms, 1ms);
  CHECK(f.log->total() == 2);
  f.advance(1ms);
  CHECK(f.log->total() == 3);
  CHECK(f.log->grants.back().at == f.start + 5s + 100ms);
}

TEST_CASE("rate_limiter: qps 1000 issues one token per 1 ms tick, 1000 a second") {
  limiter_fixture f{1000};
  f.want(100'000);
  f.advance_in_steps(1s, 1ms);
  // t = 0 plus one per millisecond in (0, 1 s].
  CHECK(f.log->total() == 1001);
  CHECK(f.log->grants.size() == 1001);
  for (const auto& g : f.log->grants)
    CHECK(g.n == 1);
}

// Above 1000/s the interval is shorter than the limiter's 1 ms minimum tick, so each tick must
// issue every token that fell due since the last one: 10 per tick at qps 10000.

TEST_CASE("rate_limiter: qps 10000 issues the 10 tokens due in each 1 ms tick") {
  limiter_fixture f{10'000};
  f.want(1'000'000);
  REQUIRE(f.log->total() == 1);
  f.advance(1ms);
  // Due at 0.1, 0.2, ..., 1.0 ms.
  CHECK(f.log->total() == 11);
  f.advance_in_steps(999ms, 1ms);
  CHECK(f.log->total() == 10'001);
}

TEST_CASE("rate_limiter: fractional qps 2.5 spaces tokens exactly 400 ms apart") {
  limiter_fixture f{2.5};
  f.want(1000);
  f.advance_in_steps(2000ms, 1ms);
  REQUIRE(f.log->grants.size() == 6); // at 0, 400, ..., 2000 ms
  for (std::size_t i = 0; i < f.log->grants.size(); ++i) {
    CHECK(f.log->grants[i].n == 1);
    CHECK(f.log->grants[i].at - f.start == std::chrono::milliseconds(400 * i));
  }
}

TEST_CASE("rate_limiter: a late tick issues every token that fell due while demand lasted") {
  limiter_fixture f{2.5};
  f.want(1000);
  f.advance(2000ms); // one jump: the 400 ms timer fires only at 2000 ms
  CHECK(f.log->total() == 6); // 0, then 400 .. 2000 ms caught up: the average stays exact
  f.advance_in_steps(400ms, 1ms);
  CHECK(f.log->total() == 7); // and the schedule goes on from where it was
}
