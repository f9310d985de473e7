// publish_mode::pipelined: push() returns once the message is queued in the process; the
// publisher sends what gathered as one batch; published(), flush(), stop() and the booster's
// end wait for the broker; an outage keeps everything in the outbox; the queue stays in order.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include <funboost/funboost.hpp>

#include "support/faulty_broker.hpp"
#include "support/fixtures.hpp"

using namespace std::chrono_literals;
using test_support::faults;
using test_support::wait_until;

namespace {

int add(int x, int y) {
  return x + y;
}

funboost::booster_options pipelined(const std::string& queue) {
  auto o = test_support::faulty_queue(test_support::memory_queue(queue));
  o.arg_names = {"x", "y"};
  o.publish_mode = funboost::publish_mode::pipelined;
  return o;
}

/// The x of every message in `queue`, in queue order (taken off the in-memory broker).
std::vector<int> xs_in(const std::string& queue) {
  funboost::booster_options o;
  o.queue_name = queue;
  auto conn = funboost::make_broker(o)->connect();
  std::vector<funboost::fetched_message> out;
  conn->fetch(queue, 100000, 10ms, out);
  std::vector<int> xs;
  std::vector<uint64_t> tags;
  for (auto& m : out) {
    simdjson::dom::parser parser;
    xs.push_back(static_cast<int>(int64_t(parser.parse(m.body)["x"])));
    tags.push_back(m.delivery_tag);
  }
  conn->ack(queue, tags);
  return xs;
}

std::vector<int> range(int from, int to) {
  std::vector<int> out;
  for (int i = from; i < to; ++i)
    out.push_back(i);
  return out;
}

} // namespace

TEST_CASE("pipelined: push() returns while the broker is still busy; published() and flush() "
          "wait for it") {
  auto& f = faults::instance();
  f.reset();
  funboost::runtime rt;
  auto b = rt.boost(add, pipelined("pipe_returns"));
  f.hold_publishes(true); // the broker takes nothing until released
  auto first = b.push(0, 0); // a synchronous push would wait here forever
  std::vector<funboost::async_result<int>> rest;
  for (int i = 1; i < 100; ++i)
    rest.push_back(b.push(i, 0));
  CHECK(b.message_count() == 0);
  f.hold_publishes(false);
  CHECK(first.published());
  b.flush();
  for (auto& r : rest)
    CHECK(r.published());
  CHECK(xs_in("pipe_returns") == range(0, 100)); // all there, in push order
}

TEST_CASE("pipelined: pushes made while a batch is out go to the broker together, in order") {
  auto& f = faults::instance();
  f.reset();
  funboost::runtime rt;
  auto b = rt.boost(add, pipelined("pipe_batches"));
  f.hold_publishes(true);
  for (int i = 0; i < 1000; ++i)
    b.push(i, 0);
  f.hold_publishes(false);
  b.flush();
  // The first batch was out (held) while the rest gathered: two broker calls at most, where
  // synchronous pushes from one thread make one each.
  CHECK(f.publish_calls <= 2);
  CHECK(xs_in("pipe_batches") == range(0, 1000));
}

TEST_CASE("pipelined: at most pipeline_max_pending pushes wait; a faster pusher waits for the "
          "broker") {
  auto& f = faults::instance();
  f.reset();
  funboost::runtime rt;
  auto o = pipelined("pipe_bounded");
  o.pipeline_max_pending = 10;
  auto b = rt.boost(add, o);
  f.hold_publishes(true);
  std::atomic<int> pushed{0};
  std::thread pusher([&] {
    for (int i = 0; i < 50; ++i) {
      b.push(i, 0);
      ++pushed;
    }
  });
  REQUIRE(wait_until([&] { return pushed >= 10; }));
  f.hold_publishes(false);
  pusher.join();
  b.flush();
  CHECK(f.largest_publish <= 10); // no batch beyond the bound: the pusher waited
  CHECK(xs_in("pipe_bounded") == range(0, 50));
}

TEST_CASE("pipelined: during an outage every push is kept in the outbox and delivered after; "
          "published() says it was not taken, flush() returns") {
  auto& f = faults::instance();
  f.reset();
  funboost::runtime rt;
  auto o = pipelined("pipe_outage");
  o.publish_retries = 0; // straight to the outbox
  o.publish_retry_interval = 100ms;
  o.broker.outbox_dir = "pipe_outage_outbox";
  auto b = rt.boost(add, o);
  f.publish_down = true;
  std::vector<funboost::async_result<int>> results;
  for (int i = 0; i < 100; ++i)
    results.push_back(b.push(i, 0));
  b.flush();
  for (auto& r : results)
    CHECK_FALSE(r.published()); // kept, not on the broker yet
  f.publish_down = false;
  REQUIRE(wait_until([&] { return b.message_count() == 100; }));
  CHECK(xs_in("pipe_outage") == range(0, 100));
}

TEST_CASE("pipelined: RPC results work, and a booster's end sends every pending push first") {
  {
    funboost::runtime rt;
    auto o = pipelined("pipe_rpc");
    o.is_using_rpc_mode = true;
    auto b = rt.boost(add, o);
    b.consume();
    CHECK(b.push(40, 2).get(10s) == 42);
  }
  faults::instance().reset();
  faults::instance().hold_publishes(true);
  std::thread release([] {
    // Meanwhile the booster's end waits for the held pushes (how long decides nothing: without
    // that wait, they would be gone whenever the broker came back).
    std::this_thread::sleep_for(50ms);
    faults::instance().hold_publishes(false);
  });
  {
    funboost::runtime rt;
    auto b = rt.boost(add, pipelined("pipe_end"));
    for (int i = 0; i < 5000; ++i)
      b.push(i, 0);
  } // the booster and its runtime end here, with pushes still held
  release.join();
  CHECK(xs_in("pipe_end") == range(0, 5000));
}
