// The job store shared across machines: funboost_scheduled_jobs (HASH id -> job JSON) and
// funboost_scheduled_jobs_next (ZSET id -> next fire, Unix s; paused jobs are not in it) in the
// db the URL names. A fire is claimed by a Lua compare-and-set on the job's score.
#include "schedule/job_store.hpp"

#include <cstdio>

#include <funboost/broker.hpp>

#include "brokers/redis/redis_connection.hpp"
#include "brokers/redis/redis_url.hpp"

namespace funboost::schedule {

namespace {

namespace rd = brokers::redis;

// KEYS[1] next zset, KEYS[2] jobs hash; ARGV[1] id, ARGV[2] expected score, ARGV[3] next score
// or "" (done: the job is removed). Returns 1 when this caller moved it.
constexpr std::string_view claim_script = R"lua(
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
return 1
)lua";

class redis_job_store final : public job_store {
public:
  explicit redis_job_store(rd::redis_address address)
    : where_{"redis job store", "(scheduled jobs)", std::move(address)},
      jobs_key_(where_.address.key_prefix + "funboost_scheduled_jobs"),
      next_key_(where_.address.key_prefix + "funboost_scheduled_jobs_next") {}

  void put(const scheduled_job& job, std::optional<double> next) override {
    run([&](rd::redis_connection& c) {
      std::vector<rd::command> commands{{"HSET", jobs_key_, job.id, job_json(job)}};
      if (next)
        commands.push_back({"ZADD", next_key_, rd::score_text(*next), job.id});
      else
        commands.push_back({"ZREM", next_key_, job.id});
      check(c.pipeline(commands));
    });
  }

  std::vector<stored_job> list() override {
    std::vector<stored_job> out;
    run([&](rd::redis_connection& c) {
      out.clear();
      auto all = c.run({"HGETALL", jobs_key_});
      for (std::size_t i = 0; i + 1 < all->elements; i += 2)
        out.push_back(with_score(c, rd::reply_text(all->element[i + 1])));
    });
    return out;
  }

  std::optional<stored_job> get(const std::string& id) override {
    std::optional<stored_job> out;
    run([&](rd::redis_connection& c) {
      auto r = c.run({"HGET", jobs_key_, id});
      if (r->type == REDIS_REPLY_STRING)
        out = with_score(c, rd::reply_text(r.get()));
    });
    return out;
  }

  bool remove(const std::string& id) override {
    bool removed = false;
    run([&](rd::redis_connection& c) {
      auto replies = c.pipeline({{"HDEL", jobs_key_, id}, {"ZREM", next_key_, id}});
      check(replies);
      removed = replies[0]->integer > 0;
    });
    return removed;
  }

  bool set_paused(const std::string& id, bool paused, std::optional<double> next) override {
    auto kept = get(id);
    if (!kept)
      return false;
    kept->job.paused = paused;
    put(kept->job, paused ? std::nullopt : next);
    return true;
  }

  std::vector<stored_job> due(double now, std::size_t max) override {
    std::vector<stored_job> out;
    run([&](rd::redis_connection& c) {
      out.clear();
      auto ids = c.run({"ZRANGEBYSCORE", next_key_, "-inf", rd::score_text(now), "WITHSCORES",
                        "LIMIT", "0", std::to_string(max)});
      for (std::size_t i = 0; i + 1 < ids->elements; i += 2) {
        auto json = c.run({"HGET", jobs_key_, rd::reply_text(ids->element[i])});
        if (json->type != REDIS_REPLY_STRING)
          continue; // removed meanwhile
        stored_job j{job_from_json(rd::reply_text(json.get())), std::nullopt};
        j.next = std::stod(rd::reply_text(ids->element[i + 1]));
        out.push_back(std::move(j));
      }
    });
    return out;
  }

  bool claim(const std::string& id, double expected, std::optional<double> next) override {
    bool won = false;
    run([&](rd::redis_connection& c) {
      auto r = c.eval(claim_script, {next_key_, jobs_key_},
                      {id, rd::score_text(expected), next ? rd::score_text(*next) : std::string{}});
      won = r->integer == 1;
    });
    return won;
  }

  std::optional<double> next_due() override {
    std::optional<double> out;
    run([&](rd::redis_connection& c) {
      auto r = c.run({"ZRANGE", next_key_, "0", "0", "WITHSCORES"});
      if (r->elements == 2)
        out = std::stod(rd::reply_text(r->element[1]));
    });
    return out;
  }

  std::string describe() const override { return where_.address.display(); }

private:
  stored_job with_score(rd::redis_connection& c, const std::string& json) {
    stored_job j{job_from_json(json), std::nullopt};
    auto score = c.run({"ZSCORE", next_key_, j.job.id});
    if (score->type == REDIS_REPLY_STRING)
      j.next = std::stod(rd::reply_text(score.get()));
    return j;
  }

  static void check(const std::vector<rd::reply_ptr>& replies) {
    for (const auto& r : replies)
      if (rd::is_error(r.get()))
        throw funboost::broker_error("redis job store: " + rd::reply_text(r.get()));
  }

  /// One call on the connection, made when missing; a failure drops it for the next call.
  template <class F>
  void run(F&& f) {
    try {
      if (!conn_)
        conn_ = std::make_unique<rd::redis_connection>(where_);
      f(*conn_);
    } catch (...) {
      conn_.reset();
      throw;
    }
  }

  rd::redis_where where_;
  std::string jobs_key_, next_key_;
  std::unique_ptr<rd::redis_connection> conn_;
};

const bool registered = [] {
  auto factory = [](const std::string& url) {
    booster_options o;
    o.queue_name = "(scheduled jobs)";
    o.broker_kind = "redis";
    o.broker.url = url;
    return std::unique_ptr<job_store>(new redis_job_store(rd::parse_redis_address(o)));
  };
  register_job_store("redis", factory);
  register_job_store("unix", factory);
  return true;
}();

} // namespace

} // namespace funboost::schedule
