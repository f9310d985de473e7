// queue_supervisor (src/actors/queue_supervisor.cpp) on virtual time: restart backoffs of a
// failed fetcher and of the whole queue (dispatcher died), their doubling and cap, and the
// reset by a fetch that works.
//
// The supervisor spawns its fetchers, workers and heartbeat detached, so they run on their own
// threads whatever the scheduler. Two things keep the tests deterministic:
// - the fixture runs the thread-safe test coordinator (actor_fixture.hpp): the supervisor and
//   the dispatcher still run only when the test says, and only virtual time fires timers;
// - the queue's broker is the in-memory broker behind a gate ("actors_test_gated"): a fetch
//   blocks at the gate until the test lets exactly one fetch succeed or fail. So a fetcher
//   never reports a healthy fetch (which resets the backoff) unless the test says so, and a
//   fetcher dies exactly when the test makes its broker call throw.
// Only a detached fetcher's death, or its healthy report, is waited for (`eventually`): an
// event, not a duration; every delay the tests check is measured in virtual time.
#include "actor_fixture.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "actors/queue_supervisor.hpp"
#include "support/log_capture.hpp"

using namespace actors_test;

namespace {

constexpr const char* gated_kind = "actors_test_gated";
constexpr const char* gated_address = "gated://127.0.0.1:1/7";

/// What the test lets the blocked fetches do.
struct gate {
  std::mutex mtx;
  std::condition_variable cv;
  bool open = false; // end of test: every fetch returns empty at once
  int fail_next = 0;   // fetches that throw, as a lost broker connection does
  int refuse_next = 0; // fetches that throw broker_config_error, as a wrong password does
  int pass_next = 0;   // fetches that return empty, as a reachable broker does

  void fail_one() {
    std::lock_guard<std::mutex> guard{mtx};
    ++fail_next;
    cv.notify_all();
  }
  void refuse_one() {
    std::lock_guard<std::mutex> guard{mtx};
    ++refuse_next;
    cv.notify_all();
  }
  void pass_one() {
    std::lock_guard<std::mutex> guard{mtx};
    ++pass_next;
    cv.notify_all();
  }
  /// Passes granted that no fetch has taken yet.
  int passes_waiting() {
    std::lock_guard<std::mutex> guard{mtx};
    return pass_next;
  }
  void open_all() {
    std::lock_guard<std::mutex> guard{mtx};
    open = true;
    cv.notify_all();
  }
};

/// A memory-broker connection whose fetch waits at the gate.
class gated_connection : public funboost::broker_connection {
public:
  gated_connection(std::unique_ptr<funboost::broker_connection> inner, std::shared_ptr<gate> g)
    : inner_(std::move(inner)), gate_(std::move(g)) {}

  void publish(const std::string& queue, std::span<const std::string> bodies) override {
    inner_->publish(queue, bodies);
  }
  std::size_t fetch(const std::string&, std::size_t, std::chrono::milliseconds,
                    std::vector<funboost::fetched_message>&) override {
    std::unique_lock<std::mutex> lock{gate_->mtx};
    gate_->cv.wait(lock, [&] {
      return gate_->open || gate_->fail_next > 0 || gate_->refuse_next > 0
             || gate_->pass_next > 0;
    });
    if (gate_->open)
      return 0;
    if (gate_->refuse_next > 0) {
      --gate_->refuse_next;
      throw funboost::broker_config_error("gated test broker: wrong password; set the right "
                                          "one in the test");
    }
    if (gate_->fail_next > 0) {
      --gate_->fail_next;
      throw funboost::broker_error("gated test broker: the test made this fetch fail");
    }
    --gate_->pass_next;
    return 0;
  }
  void ack(const std::string& queue, std::span<const uint64_t> tags) override {
    inner_->ack(queue, tags);
  }
  void requeue(const std::string& queue,
               std::span<const funboost::fetched_message> messages) override {
    inner_->requeue(queue, messages);
  }
  std::size_t count(const std::string& queue) override {
    return inner_->count(queue);
  }
  void clear(const std::string& queue) override {
    inner_->clear(queue);
  }

private:
  std::unique_ptr<funboost::broker_connection> inner_;
  std::shared_ptr<gate> gate_;
};

class gated_broker : public funboost::broker {
public:
  gated_broker(std::shared_ptr<funboost::broker> inner, std::shared_ptr<gate> g)
    : inner_(std::move(inner)), gate_(std::move(g)) {}
  std::unique_ptr<funboost::broker_connection> connect() override {
    return std::make_unique<gated_connection>(inner_->connect(), gate_);
  }
  std::string address() const override { return gated_address; }

private:
  std::shared_ptr<funboost::broker> inner_;
  std::shared_ptr<gate> gate_;
};

funboost::booster_options options(const std::string& queue) {
  auto o = test_options(queue);
  o.conn_num = 1;
  o.concurrent_num = 1;
  o.restart_backoff = 1000ms;
  o.restart_backoff_max = 3000ms;
  return o;
}

struct supervisor_fixture : actor_fixture {
  explicit supervisor_fixture(funboost::booster_options o) : actor_fixture(/*thread_safe=*/true) {
    funboost::register_broker(gated_kind, [g = gate_](const funboost::booster_options& opts) {
      auto memory = opts;
      memory.broker_kind = funboost::broker_kind::memory;
      return std::make_shared<gated_broker>(funboost::make_broker(memory), g);
    });
    o.broker_kind = gated_kind;
    ctx = make_context(o);
    supervisor = track(sys.spawn(queue_supervisor, ctx, publisher_actor{}));
    caf::anon_send(supervisor, funboost::consume_atom::value);
    run();
  }

  ~supervisor_fixture() override {
    // The supervisor takes its children down; fetchers blocked at the gate see their exit once
    // the gate opens. Timers are fired so no delayed message keeps a dead child alive.
    caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
    run();
    gate_->open_all();
    CHECK(eventually(*this, [&] {
      locked->clock().trigger_all();
      return sys.detached_actors() == 0;
    }));
  }

  queue_supervisor_state& state() {
    return state_of<queue_supervisor_state>(supervisor);
  }

  /// The supervisor's current dispatcher (null while a queue restart is pending).
  dispatcher_actor current_dispatcher() {
    auto a = answered(ask<dispatcher_actor>(supervisor, dispatch_atom::value));
    REQUIRE(a->value.has_value());
    return *a->value;
  }

  bool is_live(const dispatcher_actor& d) {
    return answered(ask<funboost::queue_stats>(d, funboost::stats_atom::value))
      ->value.has_value();
  }

  /// Waits for an answer the actor gives at once. One run() is not always enough here: a
  /// detached child that just sent the supervisor (or dispatcher) a message, a down message
  /// say, may have unblocked its mailbox without having put it into the job queue yet, and
  /// run() then returns with the request still waiting in that mailbox.
  template <class T>
  answer_ptr<T> answered(answer_ptr<T> a) {
    REQUIRE(eventually(*this, [&] { return a->given(); }));
    return a;
  }

  void kill(const dispatcher_actor& d) {
    crash_with(d, caf::make_error(caf::sec::runtime_error, "killed by the test"));
    run();
  }

  /// Makes the fetcher's broker call throw and waits until the supervisor saw it die.
  void fail_fetcher() {
    gate_->fail_one();
    REQUIRE(eventually(*this, [&] { return !state().fetchers[0].handle; }));
  }

  /// Makes the next broker call refuse the configuration and waits until the supervisor saw
  /// that fetcher die.
  void refuse_fetch() {
    auto dead_before = dead_fetchers();
    gate_->refuse_one();
    REQUIRE(eventually(*this, [&] { return dead_fetchers() > dead_before; }));
  }

  std::size_t dead_fetchers() {
    return static_cast<std::size_t>(
      std::count_if(state().fetchers.begin(), state().fetchers.end(),
                    [](const fetcher_slot& f) { return !f.handle; }));
  }

  std::shared_ptr<gate> gate_ = std::make_shared<gate>();
  funboost::detail::queue_context_ptr ctx;
  supervisor_actor supervisor;
};

} // namespace

TEST_CASE("supervisor: after the dispatcher dies the queue restarts after restart_backoff of "
          "virtual time, doubling per death up to restart_backoff_max") {
  supervisor_fixture f{options("actors_supervisor_queue_restart")};
  auto d = f.current_dispatcher();
  REQUIRE(d);
  REQUIRE(f.state().fetchers.size() == 1);
  uint32_t epoch = f.state().fetchers[0].epoch;

  // 1 s, then doubled to 2 s, then 4 s capped at 3 s, and the cap holds.
  for (auto backoff : {1000ms, 2000ms, 3000ms, 3000ms}) {
    CAPTURE(backoff.count());
    f.kill(d);
    CHECK_FALSE(f.current_dispatcher()); // every child ended; nothing runs during the backoff
    CHECK_FALSE(f.state().fetchers[0].handle);
    f.advance(backoff - 1ms);
    CHECK_FALSE(f.current_dispatcher());
    f.advance(1ms);
    auto next = f.current_dispatcher();
    REQUIRE(next);
    CHECK(next != d);
    CHECK(f.is_live(next));
    // A new fetcher in the slot, with a newer epoch: acks for the old one stay stale.
    CHECK(f.state().fetchers[0].handle);
    CHECK(f.state().fetchers[0].epoch == epoch + 1);
    epoch = f.state().fetchers[0].epoch;
    d = next;
  }
}

TEST_CASE("supervisor: the queue-restart backoff resets only after restart_backoff_max of "
          "virtual time without another restart") {
  supervisor_fixture f{options("actors_supervisor_queue_restart_reset")};
  auto d = f.current_dispatcher();
  REQUIRE(d);
  f.kill(d); // restart after 1 s; the next one would wait 2 s
  f.advance(1000ms);
  d = f.current_dispatcher();
  REQUIRE(d);
  f.advance(2999ms); // not yet stable: a death now still waits the doubled 2 s
  f.kill(d);
  f.advance(1999ms);
  CHECK_FALSE(f.current_dispatcher());
  f.advance(1ms);
  d = f.current_dispatcher();
  REQUIRE(d);
  f.advance(3000ms); // ran restart_backoff_max without a restart: the backoff is 1 s again
  f.kill(d);
  f.advance(999ms);
  CHECK_FALSE(f.current_dispatcher());
  f.advance(1ms);
  CHECK(f.current_dispatcher());
}

TEST_CASE("supervisor: a fetcher whose broker call fails is restarted after restart_backoff, "
          "then after twice that up to restart_backoff_max, and the rest of the queue keeps "
          "running") {
  supervisor_fixture f{options("actors_supervisor_fetcher_restart")};
  auto d = f.current_dispatcher();
  REQUIRE(f.state().fetchers[0].epoch == 1);

  f.fail_fetcher();
  f.advance(999ms);
  CHECK_FALSE(f.state().fetchers[0].handle);
  CHECK(f.state().fetchers[0].epoch == 1);
  f.advance(1ms);
  CHECK(f.state().fetchers[0].handle);
  CHECK(f.state().fetchers[0].epoch == 2);

  f.fail_fetcher();
  f.advance(1999ms);
  CHECK_FALSE(f.state().fetchers[0].handle);
  f.advance(1ms);
  CHECK(f.state().fetchers[0].handle);
  CHECK(f.state().fetchers[0].epoch == 3);

  // 4 s would be next, but restart_backoff_max (3 s) caps it, and the cap holds.
  for (uint32_t epoch : {4u, 5u}) {
    f.fail_fetcher();
    f.advance(2999ms);
    CHECK_FALSE(f.state().fetchers[0].handle);
    f.advance(1ms);
    CHECK(f.state().fetchers[0].handle);
    CHECK(f.state().fetchers[0].epoch == epoch);
  }

  // Only the fetcher restarted: the dispatcher (and so the workers it holds) is the same one.
  CHECK(f.current_dispatcher() == d);
}

TEST_CASE("supervisor: a fetch that works resets the fetcher's restart backoff") {
  supervisor_fixture f{options("actors_supervisor_backoff_reset")};
  f.fail_fetcher();
  f.advance(1000ms);
  REQUIRE(f.state().fetchers[0].handle);
  REQUIRE(f.state().fetchers[0].backoff == 2000ms); // doubled by the failure

  // The new fetcher's first broker call works: it reports healthy, the backoff is 1 s again.
  f.gate_->pass_one();
  REQUIRE(eventually(f, [&] { return f.state().fetchers[0].backoff == 1000ms; }));

  f.fail_fetcher();
  f.advance(999ms);
  CHECK_FALSE(f.state().fetchers[0].handle);
  f.advance(1ms);
  CHECK(f.state().fetchers[0].handle);
  CHECK(f.state().fetchers[0].epoch == 3);
}

TEST_CASE("supervisor: however long the broker is down, a fetcher retries at least every "
          "broker_probe_interval, so consuming resumes within that long of its return") {
  auto o = options("actors_supervisor_probe_interval");
  o.restart_backoff_max = 60000ms; // the default: whole-queue restarts still back off to 60 s
  o.broker_probe_interval = 4000ms;
  supervisor_fixture f{o};
  // A 65 s outage: 1 + 2 + 4 + 4 + ... s between attempts, never the 8, 16, 32 s of doubling.
  for (auto backoff : {1000ms, 2000ms, 4000ms, 4000ms, 4000ms, 4000ms, 4000ms}) {
    CAPTURE(backoff.count());
    auto epoch = f.state().fetchers[0].epoch;
    f.fail_fetcher();
    f.advance(backoff - 1ms);
    CHECK_FALSE(f.state().fetchers[0].handle);
    f.advance(1ms);
    CHECK(f.state().fetchers[0].handle);
    CHECK(f.state().fetchers[0].epoch == epoch + 1);
  }
  CHECK(f.state().fetchers[0].failures == 7);
}

TEST_CASE("supervisor: a fetcher that works again after failures logs one line: reconnected to "
          "the broker's address, after how long in virtual time") {
  test_support::log_capture logs; // before the queue's logger is made
  auto o = options("actors_supervisor_reconnected");
  o.logging.level = funboost::log_level::info;
  supervisor_fixture f{o};
  const std::string reconnected = "queue 'actors_supervisor_reconnected': reconnected to ";
  f.gate_->pass_one(); // a first fetch that works after no failure says nothing
  // Taken before the failure below: a fetch woken with both a pass and a failure waiting
  // fails, and the pass left over would make the restarted fetcher's first fetch work at 1 s.
  REQUIRE(eventually(f, [&] { return f.gate_->passes_waiting() == 0; }));

  f.fail_fetcher();   // t = 0: the outage starts
  f.advance(1000ms);  // t = 1 s: restarted, and fails again
  f.fail_fetcher();
  f.advance(2000ms);  // t = 3 s: restarted
  CHECK_FALSE(logs.any_contains(reconnected));
  f.gate_->pass_one(); // its first fetch works
  REQUIRE(eventually(f, [&] { return logs.any_contains(reconnected); }));
  auto lines = logs.containing(reconnected);
  REQUIRE(lines.size() == 1);
  CAPTURE(lines[0]);
  CHECK(lines[0].find(reconnected + gated_address + " after 3.0 s (fetcher 0, 2 failed "
                      "attempts)")
        != std::string::npos);

  // The next outage is measured from its own first failure.
  f.advance(10000ms);
  f.fail_fetcher();
  f.advance(1000ms);
  f.gate_->pass_one();
  REQUIRE(eventually(f, [&] { return logs.containing(reconnected).size() == 2; }));
  CHECK(logs.containing(reconnected)[1].find("after 1.0 s (fetcher 0, 1 failed attempt)")
        != std::string::npos);
}

TEST_CASE("supervisor: a broker that refuses the configuration is retried as usual but logged as "
          "a CONFIGURATION error with the fix, once a minute per queue") {
  test_support::log_capture logs;
  auto o = options("actors_supervisor_config_error");
  o.conn_num = 2;
  supervisor_fixture f{o};
  const std::string config_line = "queue 'actors_supervisor_config_error': CONFIGURATION error";
  auto count = [&] { return logs.containing(config_line).size(); };

  // Both fetchers are refused: one line for the queue, not one per fetcher.
  f.refuse_fetch();
  f.refuse_fetch();
  REQUIRE(f.dead_fetchers() == 2);
  REQUIRE(count() == 1);
  auto line = logs.containing(config_line)[0];
  CAPTURE(line);
  CHECK(line.find(std::string{"("} + gated_address + ")") != std::string::npos);
  CHECK(line.find("wrong password; set the right one in the test") != std::string::npos);
  CHECK(line.find("Retrying alone will not fix this") != std::string::npos);
  // Not also the line of an outage.
  CHECK_FALSE(logs.any_contains("actors_supervisor_config_error': fetcher"));

  // Still retried with the usual backoff (the server side may be fixed meanwhile), and every
  // refusal within the minute stays silent.
  f.advance(1000ms); // t = 1 s: both restarted
  CHECK(f.dead_fetchers() == 0);
  auto elapsed = 1000ms;
  auto backoff = 2000ms;
  while (elapsed < 60000ms) {
    f.refuse_fetch();
    CHECK(count() == 1);
    f.advance(backoff);
    elapsed += backoff;
    CHECK(f.dead_fetchers() == 0); // restarted after the backoff
    backoff = 3000ms;              // restart_backoff_max
  }
  // A minute after the line, the next refusal says it again.
  f.refuse_fetch();
  CHECK(count() == 2);
}
