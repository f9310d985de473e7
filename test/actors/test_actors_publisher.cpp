// The publisher actor (src/actors/publisher.cpp) on virtual time, in front of a broker that
// refuses on demand (test/support/faulty_broker.hpp): an outage costs one retry cycle, not one
// per push; while the broker is down every push is kept in the outbox at once and the broker
// is only probed once per publish_retry_interval; when it is back the probe replays the
// outbox in push order, exactly once, and pushes go to the broker again.
#include "actor_fixture.hpp"

#include <filesystem>

#include "actors/publisher.hpp"
#include "core/outbox.hpp"
#include "support/faulty_broker.hpp"

using namespace actors_test;
using test_support::faults;
using receipts = std::vector<funboost::push_receipt>;

namespace {

/// A broker call that fails is tried once more on a fresh connection within the same try.
constexpr int publish_calls_per_try = 2;

std::string scratch_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("funboost_actors_publisher_" + name);
  std::filesystem::remove_all(dir);
  return dir.string();
}

std::string body(int i) {
  return R"({"x":)" + std::to_string(i) + "}";
}

struct publisher_fixture : actor_fixture {
  explicit publisher_fixture(const std::string& queue) {
    faults::instance().reset();
    auto o = test_support::faulty_queue(test_options(queue));
    o.publish_retries = 2;
    o.publish_retry_interval = 1s;
    o.broker.outbox_dir = scratch_dir(queue);
    ctx = make_context(o);
    publisher = track(sys.spawn(funboost::actors::publisher, ctx));
    run();
  }

  answer_ptr<receipts> push(int i) {
    return push_batch(i, i);
  }

  /// One push of the tasks first..last, as push_many sends them.
  answer_ptr<receipts> push_batch(int first, int last) {
    std::vector<std::string> bodies, ids;
    for (int i = first; i <= last; ++i) {
      bodies.push_back(body(i));
      ids.push_back("task-" + std::to_string(i));
    }
    return ask<receipts>(publisher, funboost::push_atom::value, bodies, ids);
  }

  /// Every message the broker holds now, oldest first; they are taken off the queue.
  std::vector<std::string> drain() {
    auto c = ctx->broker->connect();
    std::vector<funboost::fetched_message> got;
    c->fetch(ctx->queue(), 1'000'000, 0ms, got);
    std::vector<std::string> bodies;
    std::vector<uint64_t> tags;
    for (auto& m : got) {
      bodies.push_back(std::move(m.body));
      tags.push_back(m.delivery_tag);
    }
    c->ack(ctx->queue(), tags);
    return bodies;
  }

  bool outbox_gone() const {
    std::error_code ec;
    return std::filesystem::is_empty(ctx->options.broker.outbox_dir, ec) || ec;
  }

  funboost::detail::queue_context_ptr ctx;
  publisher_actor publisher;
};

funboost::ec status_of(const answer_ptr<receipts>& a) {
  REQUIRE(a->value.has_value());
  REQUIRE(a->value->size() == 1);
  return a->value->front().status;
}

std::vector<std::string> bodies(int first, int last) {
  std::vector<std::string> out;
  for (int i = first; i <= last; ++i)
    out.push_back(body(i));
  return out;
}

} // namespace

TEST_CASE("an outage costs one retry cycle: later pushes are kept at once and replayed in "
          "order, exactly once, when the broker is back") {
  publisher_fixture f{"publisher_one_cycle"};
  auto& broker = faults::instance();
  broker.publish_down = true;

  auto first = f.push(1);
  CHECK_FALSE(first->given()); // refused once: waits for its retries
  auto second = f.push(2);     // queues behind the running cycle, untried
  CHECK_FALSE(second->given());
  f.advance(1s); // retry 1 of 2
  CHECK_FALSE(first->given());
  f.advance(1s); // retry 2 of 2: the cycle is over, the broker is down
  REQUIRE(first->given());
  REQUIRE(second->given());
  CHECK(status_of(first) == funboost::ec::kept_in_outbox);
  CHECK(status_of(second) == funboost::ec::kept_in_outbox);
  const int one_cycle = (1 + 2) * publish_calls_per_try;
  CHECK(broker.publish_failures == one_cycle);
  CHECK(f.ctx->publisher_down->load()); // push()'s fast path now skips the broker too

  for (int i = 3; i <= 20; ++i) {
    auto later = f.push(i);
    REQUIRE(later->given()); // answered at once: no time passed
    CHECK(status_of(later) == funboost::ec::kept_in_outbox);
  }
  CHECK(broker.publish_failures == one_cycle); // and without a broker call

  f.advance(1s); // the probe: one replay try per interval while the broker stays down
  CHECK(broker.publish_failures == one_cycle + publish_calls_per_try);
  CHECK(f.ctx->publisher_down->load());

  broker.publish_down = false;
  f.advance(1s); // the probe replays the outbox
  CHECK_FALSE(f.ctx->publisher_down->load());
  CHECK(f.drain() == bodies(1, 20));
  CHECK(f.outbox_gone());

  auto fresh = f.push(21); // the broker takes pushes again, at once
  REQUIRE(fresh->given());
  CHECK(status_of(fresh) == funboost::ec::none);
  CHECK(f.drain() == bodies(21, 21));
  f.advance(10s);
  CHECK(f.drain().empty()); // nothing is sent twice
}

TEST_CASE("a replay the broker refuses half-way keeps the rest, in order, and sends nothing "
          "twice") {
  publisher_fixture f{"publisher_half_replay"};
  auto& broker = faults::instance();
  broker.publish_down = true;
  auto first = f.push(1);
  f.advance_in_steps(2s, 1s); // its two retries
  REQUIRE(first->given());    // the broker is down now
  auto backlog = f.push_batch(2, 2500);
  REQUIRE(backlog->given());
  REQUIRE(backlog->value->size() == 2499);
  CHECK(backlog->value->back().status == funboost::ec::kept_in_outbox);

  broker.publish_down = false;
  broker.publishes_until_down = 1; // takes the first batch of 1000, then goes down again
  f.advance(1s);
  CHECK(f.ctx->publisher_down->load());
  auto delivered = f.drain();
  CHECK(delivered.size() == 1000);

  broker.publish_down = false;
  f.advance(1s);
  CHECK_FALSE(f.ctx->publisher_down->load());
  auto rest = f.drain();
  delivered.insert(delivered.end(), rest.begin(), rest.end());
  CHECK(delivered == bodies(1, 2500));
  CHECK(f.outbox_gone());
}

TEST_CASE("while the broker is down, pushes from the caller's thread are kept without a "
          "broker call") {
  publisher_fixture f{"publisher_refused_elsewhere"};
  auto& broker = faults::instance();
  broker.publish_down = true;
  // What push() hands over after its own try failed: it counts as the first attempt.
  auto first = f.ask<receipts>(f.publisher, funboost::actors::retry_atom::value,
                               std::vector<std::string>{body(1)},
                               std::vector<std::string>{"task-1"}, std::string{"refused"});
  CHECK_FALSE(first->given());
  CHECK(broker.publish_failures == 0);
  f.advance_in_steps(2s, 1s);
  REQUIRE(first->given());
  CHECK(broker.publish_failures == 2 * publish_calls_per_try); // its 2 retries
  auto second = f.ask<receipts>(f.publisher, funboost::actors::retry_atom::value,
                                std::vector<std::string>{body(2)},
                                std::vector<std::string>{"task-2"}, std::string{"refused"});
  REQUIRE(second->given());
  CHECK(status_of(second) == funboost::ec::kept_in_outbox);
  CHECK(broker.publish_failures == 2 * publish_calls_per_try);
}

TEST_CASE("an up publisher delivers, within publish_retry_interval, what another process later "
          "left in the shared outbox") {
  publisher_fixture f{"publisher_watch"};
  CHECK(status_of(f.push(1)) == funboost::ec::none); // up: straight to the broker
  CHECK(f.drain() == bodies(1, 1));
  f.advance(f.ctx->options.publish_retry_interval * 3); // looks at an empty outbox meanwhile
  // Another process whose broker was down kept two messages in the same directory and exited.
  funboost::detail::outbox other{f.ctx->options.broker.outbox_dir, f.ctx->queue()};
  REQUIRE(other.keep(bodies(2, 3)).empty());
  f.advance(f.ctx->options.publish_retry_interval);
  CHECK(f.drain() == bodies(2, 3));
  CHECK(other.empty());
}
