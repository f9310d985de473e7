// queue_supervisor's graceful stop (src/actors/queue_supervisor.cpp) when a task never returns:
// the stop waits stop_timeout of VIRTUAL time, then the task's message goes back to the broker,
// its worker is let go of, and the stop answers.
//
// The queue's actors are the real ones on the in-memory broker; its function blocks until the
// test releases it (a task that hangs). The fixture runs the thread-safe test coordinator
// (actor_fixture.hpp): the supervisor and the dispatcher run only when the test says, and only
// virtual time fires the deadline. What detached actors (fetcher, worker) do on their own
// threads is waited for as an event (`eventually`), never as a duration.
#include "actor_fixture.hpp"

#include <condition_variable>
#include <mutex>

#include "actors/queue_supervisor.hpp"
#include "core/result_registry.hpp"

using namespace actors_test;

namespace {

/// What the hanging function shares with the test.
struct hang {
  std::mutex mtx;
  std::condition_variable cv;
  bool released = false;
  std::atomic<int> started{0};

  void release() {
    std::lock_guard<std::mutex> guard{mtx};
    released = true;
    cv.notify_all();
  }
};

std::string message(const std::string& task_id, bool rpc = false) {
  return R"({"x":1,"extra":{"task_id":")" + task_id + R"(")"
         + (rpc ? R"(,"is_using_rpc_mode":true)" : "") + "}}";
}

struct stop_fixture : actor_fixture {
  explicit stop_fixture(const std::string& queue) : actor_fixture(/*thread_safe=*/true) {
    auto o = test_options(queue);
    o.concurrent_num = 1;
    o.prefetch_per_worker = 2; // one task runs, one waits
    o.stop_timeout = 10s;
    auto c = std::make_shared<funboost::detail::queue_context>(*make_context(o));
    c->function = [h = hung](simdjson::dom::object) {
      ++h->started;
      std::unique_lock<std::mutex> lock{h->mtx};
      h->cv.wait(lock, [&] { return h->released; });
      funboost::call_outcome ok;
      ok.ok = true;
      ok.result_json = "null";
      return ok;
    };
    ctx = c;
    broker = ctx->broker->connect();
    broker->clear(queue);
  }

  ~stop_fixture() override {
    hung->release(); // the abandoned worker's function returns, so its thread can end
    caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
    run();
    CHECK(eventually(*this, [&] {
      locked->clock().trigger_all();
      return sys.detached_actors() == 0;
    }));
  }

  void publish(const std::vector<std::string>& bodies) {
    broker->publish(ctx->queue(), bodies);
  }

  void consume() {
    supervisor = track(sys.spawn(queue_supervisor, ctx, publisher_actor{}));
    caf::anon_send(supervisor, funboost::consume_atom::value);
    run();
  }

  std::size_t waiting() {
    return broker->count(ctx->queue());
  }

  /// The task ids of the queue's messages, in queue order (they stay in the queue).
  std::vector<std::string> queued_task_ids() {
    std::vector<funboost::fetched_message> fetched;
    auto reader = ctx->broker->connect();
    reader->fetch(ctx->queue(), 100, 0ms, fetched);
    std::vector<std::string> ids;
    for (const auto& m : fetched) {
      auto at = m.body.find("task_id\":\"") + 10;
      ids.push_back(m.body.substr(at, m.body.find('"', at) - at));
    }
    reader->requeue(ctx->queue(), fetched);
    return ids;
  }

  std::shared_ptr<hang> hung = std::make_shared<hang>();
  funboost::detail::queue_context_ptr ctx;
  std::unique_ptr<funboost::broker_connection> broker; // the test's own: publish and count
  supervisor_actor supervisor;
};

} // namespace

TEST_CASE("supervisor: a stop waits stop_timeout of virtual time for a task that never returns, "
          "then gives its message back to the broker and answers") {
  stop_fixture f{"actors_stop_deadline"};
  f.publish({message("hung"), message("prefetched"), message("queued")});
  f.consume();
  REQUIRE(eventually(f, [&] { return f.hung->started == 1 && f.waiting() == 1; }));

  auto stopped = f.ask<bool>(f.supervisor, funboost::stop_atom::value);
  // The prefetched task goes back at once; the running one is waited for.
  REQUIRE(eventually(f, [&] { return f.waiting() == 2; }));
  f.advance(9999ms);
  CHECK_FALSE(stopped->given());
  CHECK(f.waiting() == 2);

  f.advance(1ms); // stop_timeout (10 s) has passed
  REQUIRE(eventually(f, [&] { return stopped->given(); }));
  REQUIRE(stopped->value.has_value());
  CHECK(*stopped->value == true);
  // Every message is the broker's again, the hung one at the head (it was fetched first).
  CHECK(f.queued_task_ids() == std::vector<std::string>{"hung", "prefetched", "queued"});
  CHECK(f.hung->started == 1);
  // Its worker was let go of and is counted until its function returns.
  CHECK(f.ctx->abandoned_workers->load() == 1);
  f.hung->release();
  CHECK(eventually(f, [&] { return f.ctx->abandoned_workers->load() == 0; }));
}

TEST_CASE("supervisor: a stop asked to give back at once (the runtime's second signal) does not "
          "wait, and the RPC waiter of the running task learns it was interrupted") {
  stop_fixture f{"actors_stop_at_once"};
  auto slot = funboost::detail::expect_rpc_result(f.ctx->queue(), "hung-rpc", nullptr);
  f.publish({message("hung-rpc", /*rpc=*/true)});
  f.consume();
  REQUIRE(eventually(f, [&] { return f.hung->started == 1; }));

  auto stopped = f.ask<bool>(f.supervisor, funboost::stop_atom::value, caf::timespan{0});
  REQUIRE(eventually(f, [&] { return stopped->given(); })); // no virtual time passed
  REQUIRE(stopped->value.has_value());
  CHECK(f.queued_task_ids() == std::vector<std::string>{"hung-rpc"});
  REQUIRE(slot->is_finished());
  std::lock_guard<std::mutex> guard{slot->mutex};
  CHECK_FALSE(slot->success);
  CHECK(slot->exception_type == "funboost::interrupted");
}

TEST_CASE("supervisor: a task that returns before stop_timeout is acked, not given back") {
  stop_fixture f{"actors_stop_in_time"};
  f.publish({message("slow")});
  f.consume();
  REQUIRE(eventually(f, [&] { return f.hung->started == 1; }));
  auto stopped = f.ask<bool>(f.supervisor, funboost::stop_atom::value);
  f.advance(5s);
  f.hung->release(); // returns within the 10 s
  REQUIRE(eventually(f, [&] { return stopped->given(); }));
  CHECK(f.waiting() == 0);
  CHECK(f.ctx->abandoned_workers->load() == 0);
  f.advance(10s); // the deadline's timer fires after the stop: it does nothing
  CHECK(f.waiting() == 0);
}
