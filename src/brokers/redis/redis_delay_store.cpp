#include "brokers/redis/redis_delay_store.hpp"

#include <charconv>
#include <cstdio>

#include "brokers/redis/redis_scripts.hpp"

namespace funboost::brokers::redis {

namespace {

class redis_delay_store final : public delay_store {
public:
  redis_delay_store(redis_broker_base& broker, bool stream) : broker_(broker), stream_(stream) {}

  void add(const std::string& queue, std::span<const delayed_message> messages) override {
    if (messages.empty())
      return;
    // NX: a body kept already keeps its score (the same message added again after a crash).
    command words{"ZADD", zset_key(queue), "NX"};
    for (const auto& m : messages) {
      words.push_back(score_text(m.due));
      words.push_back(m.body);
    }
    run([&] { connection().run(words); });
  }

  fire_result fire(const std::string& queue, double now, std::size_t max) override {
    fire_result result;
    run([&] {
      auto reply = connection().eval(
        scripts::delay_fire, {zset_key(queue), broker_.key(queue)},
        {score_text(now), std::to_string(max), stream_ ? "stream" : "list"});
      auto* r = reply.get();
      if (r->type != REDIS_REPLY_ARRAY || r->elements != 3)
        connection().fail("the delayed-task script answered " + reply_text(r));
      result.fired = static_cast<std::size_t>(r->element[0]->integer);
      auto next = reply_text(r->element[1]);
      if (!next.empty())
        result.next_due = std::stod(next);
      for (std::size_t i = 0; i < r->element[2]->elements; ++i)
        result.missed.push_back(reply_text(r->element[2]->element[i]));
    });
    return result;
  }

private:
  std::string zset_key(const std::string& queue) const {
    return broker_.key("funboost_delayed_tasks:" + queue);
  }

  redis_connection& connection() {
    if (!conn_)
      conn_ = broker_.open();
    return *conn_;
  }

  /// A failed call drops the connection: the next call opens a new one.
  template <class F>
  void run(F&& f) {
    try {
      f();
    } catch (...) {
      conn_.reset();
      throw;
    }
  }

  redis_broker_base& broker_;
  bool stream_;
  std::unique_ptr<redis_connection> conn_;
};

} // namespace

std::unique_ptr<delay_store> make_redis_delay_store(redis_broker_base& broker, bool stream) {
  return std::make_unique<redis_delay_store>(broker, stream);
}

} // namespace funboost::brokers::redis
