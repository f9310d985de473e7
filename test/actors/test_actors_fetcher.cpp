// fetcher (src/actors/fetcher.cpp) on the deterministic coordinator, over a broker connection
// that records every call: acks that arrive together become one broker call, a stop right
// behind acks still makes them, and acks whose call fails go back to the dispatcher.
#include "actor_fixture.hpp"

#include <stdexcept>

#include "actors/fetcher.hpp"

using namespace actors_test;

namespace {

/// Every ack call a recording connection received; `fail_acks` makes them throw, as a lost
/// broker would.
struct broker_calls {
  std::vector<std::vector<uint64_t>> acks;
  bool fail_acks = false;
};

class recording_connection final : public funboost::broker_connection {
public:
  explicit recording_connection(std::shared_ptr<broker_calls> calls) : calls_(std::move(calls)) {}
  void publish(const std::string&, std::span<const std::string>) override {}
  std::size_t fetch(const std::string&, std::size_t, std::chrono::milliseconds,
                    std::vector<funboost::fetched_message>&) override {
    return 0;
  }
  void ack(const std::string&, std::span<const uint64_t> tags) override {
    if (calls_->fail_acks)
      throw funboost::broker_error("recording broker: connection lost");
    calls_->acks.emplace_back(tags.begin(), tags.end());
  }
  void requeue(const std::string&, std::span<const funboost::fetched_message>) override {}
  std::size_t count(const std::string&) override { return 0; }
  void clear(const std::string&) override {}

private:
  std::shared_ptr<broker_calls> calls_;
};

class recording_broker final : public funboost::broker {
public:
  explicit recording_broker(std::shared_ptr<broker_calls> calls) : calls_(std::move(calls)) {}
  std::unique_ptr<funboost::broker_connection> connect() override {
    return std::make_unique<recording_connection>(calls_);
  }

private:
  std::shared_ptr<broker_calls> calls_;
};

/// What the fetcher told its dispatcher: acks it could not make, and that it broke down.
struct dispatcher_log {
  std::vector<std::vector<uint64_t>> undone_acks;
  int broken = 0;
};

/// A dispatcher stand-in: answers `broken` as the real one does (so the fetcher may die) and
/// records `undone`. (A message it had no handler for would come back to the fetcher as an
/// error and end it.)
caf::behavior stand_in_dispatcher(caf::event_based_actor* self,
                                  std::shared_ptr<dispatcher_log> log) {
  return {
    [](connected_atom, uint32_t, uint32_t, bool) {},
    [=](broken_atom, uint32_t, uint32_t, fetcher_actor f) {
      ++log->broken;
      self->send(f, broken_atom::value);
    },
    [=](undone_atom, uint32_t, std::vector<uint64_t>& acks, std::vector<task>&,
        std::vector<task>&) { log->undone_acks.push_back(acks); },
  };
}

struct fetcher_fixture : actor_fixture {
  fetcher_fixture() {
    auto ctx = make_context(test_options("fetcher_acks"), std::make_shared<recording_broker>(calls));
    auto d = track(sys.spawn(stand_in_dispatcher, dispatcher_log_));
    fetcher = track(sys.spawn(funboost::actors::fetcher, ctx, uint32_t{0}, uint32_t{1},
                              caf::actor_cast<dispatcher_actor>(d), supervisor_actor{}));
    auto ended = fetcher_ended;
    caf::actor_cast<caf::abstract_actor*>(fetcher)->attach_functor([ended] { *ended = true; });
    run();
  }

  void ack(std::vector<uint64_t> tags) { caf::anon_send(fetcher, ack_atom::value, tags); }

  std::shared_ptr<broker_calls> calls = std::make_shared<broker_calls>();
  std::shared_ptr<dispatcher_log> dispatcher_log_ = std::make_shared<dispatcher_log>();
  std::shared_ptr<bool> fetcher_ended = std::make_shared<bool>(false);
  fetcher_actor fetcher;
};

} // namespace

TEST_CASE("acks that reach the fetcher together are made in one broker call, in order") {
  fetcher_fixture f;
  f.ack({1});
  f.ack({2, 3});
  f.ack({4});
  f.run();
  REQUIRE(f.calls->acks.size() == 1);
  CHECK(f.calls->acks[0] == std::vector<uint64_t>{1, 2, 3, 4});
  f.ack({5});
  f.run();
  REQUIRE(f.calls->acks.size() == 2);
  CHECK(f.calls->acks[1] == std::vector<uint64_t>{5});
}

TEST_CASE("a stop right behind acks makes them before the fetcher quits") {
  fetcher_fixture f;
  f.ack({7, 8});
  caf::anon_send(f.fetcher, funboost::stop_atom::value);
  f.run();
  REQUIRE(f.calls->acks.size() == 1);
  CHECK(f.calls->acks[0] == std::vector<uint64_t>{7, 8});
  CHECK(*f.fetcher_ended);
}

TEST_CASE("acks whose broker call fails go back to the dispatcher, none lost") {
  fetcher_fixture f;
  f.calls->fail_acks = true;
  f.ack({1, 2});
  f.ack({3});
  f.run();
  CHECK(f.calls->acks.empty());
  CHECK(f.dispatcher_log_->broken == 1);
  REQUIRE(f.dispatcher_log_->undone_acks.size() == 1);
  CHECK(f.dispatcher_log_->undone_acks[0] == std::vector<uint64_t>{1, 2, 3});
  CHECK(*f.fetcher_ended);
}
