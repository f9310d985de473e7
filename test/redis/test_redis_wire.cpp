// Python funboost and funboost-cpp sharing Redis queues: the keys and bytes each writes must be
// what the other reads. Each case holds a shape captured from funboost 54.8 (no Python needed)
// and fails if ours differs: the params record funboost's faas and web manager rebuild a
// BoosterParams from, a publish-only booster's registration, consumer ids, the REDIS_STREAM
// recovery lock (raced by a recoverer that runs funboost's algorithm) and idle fetching.
#include <doctest/doctest.h>

#include <unistd.h>

#include <atomic>
#include <ctime>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include <simdjson.h>

#include <funboost/funboost.hpp>

#include "redis_client.hpp"
#include "redis_server.hpp"
#include "redis_test_support.hpp"

using namespace std::chrono_literals;
using funboost::test::redis_client;
using funboost::test::redis_options;
using funboost::test::redis_server;
using funboost::test::wait_until;

namespace {

int add(int x, int y) {
  return x + y;
}

const std::string params_key = "funboost_queue__consumer_parmas";

/// The record funboost 54.8 writes for `@boost(BoosterParams(queue_name=q,
/// broker_kind=BrokerEnum.REDIS_ACK_ABLE, is_using_rpc_mode=True))` on `def add(x, y)`: every
/// BoosterParams field, in its order, as consumer_params.json_str_value() prints it.
std::string python_record(const std::string& queue) {
  return R"({"queue_name": ")" + queue + R"(", "broker_kind": "REDIS_ACK_ABLE", )"
    R"("project_name": null, "concurrent_mode": "threading", "concurrent_num": 50, )"
    R"("specify_concurrent_pool": null, "specify_async_loop": null, )"
    R"("is_auto_start_specify_async_loop_in_child_thread": true, "qps": null, )"
    R"("is_using_distributed_frequency_control": false, )"
    R"("is_send_consumer_heartbeat_to_redis": true, "max_retry_times": 3, )"
    R"("is_using_advanced_retry": false, "advanced_retry_config": {"retry_mode": "sleep", )"
    R"("retry_base_interval": 1.0, "retry_multiplier": 2.0, "retry_max_interval": 60.0, )"
    R"("retry_jitter": false}, "is_push_to_dlx_queue_when_retry_max_times": false, )"
    R"("consuming_function_decorator": null, "function_timeout": null, )"
    R"("is_support_remote_kill_task": false, "log_level": 10, "logger_prefix": "", )"
    R"("create_logger_file": true, "logger_name": "", "log_filename": null, )"
    R"("is_show_message_get_from_broker": false, "is_print_detail_exception": true, )"
    R"("publish_msg_log_use_full_msg": false, "msg_expire_seconds": null, )"
    R"("do_task_filtering": false, "task_filtering_expire_seconds": 0, )"
    R"("function_result_status_persistance_conf": {"is_save_status": false, )"
    R"("is_save_result": false, "expire_seconds": 604800, "is_use_bulk_insert": false, )"
    R"("table_name": ")" + queue + R"("}, "user_custom_record_process_info_func": null, )"
    R"("is_using_rpc_mode": true, "rpc_result_expire_seconds": 1800, "rpc_timeout": 1800, )"
    R"("delay_task_apscheduler_jobstores_kind": "redis", "allow_run_time_cron": null, )"
    R"("schedule_tasks_on_main_thread": false, "is_auto_start_consuming_message": false, )"
    R"("booster_group": null, "consuming_function": "<function add at 0x7f3c5a1e2d40>", )"
    R"("consuming_function_raw": "<function add at 0x7f3c5a1e2d40>", )"
    R"("consuming_function_name": "add", "broker_exclusive_config": )"
    R"({"pull_msg_batch_size": 100, "pull_base_interval": 0.01, "pull_max_interval": 2}, )"
    R"("should_check_publish_func_params": true, "manual_func_input_params": )"
    R"({"is_manual_func_input_params": false, "must_arg_name_list": [], )"
    R"("optional_arg_name_list": []}, "consumer_override_cls": null, )"
    R"("publisher_override_cls": null, "consuming_function_kind": "COMMON_FUNCTION", )"
    R"("user_options": {}, "auto_generate_info": {"where_to_instantiate": )"
    R"("/app/tasks.py:12", "final_func_input_params_info": {"func_name": "add", )"
    R"("func_position": "<function add at 0x7f3c5a1e2d40>", )"
    R"("is_manual_func_input_params": false, "all_arg_name_list": ["x", "y"], )"
    R"("must_arg_name_list": ["x", "y"], "optional_arg_name_list": []}}, )"
    R"("is_fake_booster": false, "booster_registry_name": "booster_registry_default"})";
}

/// Fields whose value may be null in one record and set in another (funboost's Optional
/// fields that a C++ booster fills in differently).
const std::set<std::string> optional_fields{
  "project_name", "qps", "function_timeout", "logger_name", "log_filename",
  "msg_expire_seconds", "allow_run_time_cron", "booster_group", "consuming_function",
  "consuming_function_raw"};

bool is_number(simdjson::dom::element_type t) {
  using simdjson::dom::element_type;
  return t == element_type::INT64 || t == element_type::UINT64 || t == element_type::DOUBLE;
}

/// Key order and JSON type of each field of `ours` against funboost's record, recursively.
void check_same_shape(simdjson::dom::object ours, simdjson::dom::object python,
                      const std::string& where) {
  std::vector<std::string> our_keys, python_keys;
  for (auto [k, v] : ours)
    our_keys.emplace_back(k);
  for (auto [k, v] : python)
    python_keys.emplace_back(k);
  CAPTURE(where);
  REQUIRE(our_keys == python_keys);
  for (auto [k, theirs] : python) {
    std::string key{k};
    CAPTURE(key);
    simdjson::dom::element mine = ours[k];
    auto a = mine.type(), b = theirs.type();
    if (a == simdjson::dom::element_type::NULL_VALUE
        || b == simdjson::dom::element_type::NULL_VALUE) {
      CHECK((a == b || optional_fields.count(key) > 0));
    } else if (is_number(a) || is_number(b)) {
      CHECK((is_number(a) && is_number(b)));
    } else {
      CHECK(a == b);
    }
    if (a == simdjson::dom::element_type::OBJECT && b == simdjson::dom::element_type::OBJECT
        && key != "broker_exclusive_config" && key != "user_options")
      check_same_shape(mine.get_object(), theirs.get_object(), where + "." + key);
  }
}

std::vector<std::string> names_in(simdjson::dom::element list) {
  std::vector<std::string> out;
  for (auto n : simdjson::dom::array(list))
    out.emplace_back(std::string_view(n));
  return out;
}

/// funboost's stream lock: RedisStreamConsumer._requeue_tasks_which_unconfirmed.
std::string stream_lock(const std::string& queue) {
  return "funboost_lock__requeue_tasks_which_unconfirmed:" + queue;
}

double redis_now(redis_client& c) {
  auto t = c.strings({"TIME"});
  return std::stod(t.at(0)) + std::stod(t.at(1)) / 1e6;
}

/// What funboost's RedisStreamConsumer._requeue_tasks_which_unconfirmed does, step by step and
/// with its round trips: under its lock (SET NX EX 30, released by compare-and-delete), XCLAIM
/// (FORCE, min idle 0) every pending entry of each group consumer without a live heartbeat to
/// itself, and run the claimed entries. Returns the claimed bodies.
std::vector<std::string> python_stream_recovery(redis_client& c, const std::string& queue,
                                                const std::string& me) {
  std::vector<std::string> claimed;
  std::string token = me + "-" + std::to_string(getpid());
  if (c.string({"SET", stream_lock(queue), token, "NX", "EX", "30"}) != "OK")
    return claimed;
  std::string heartbeat = "funboost_hearbeat_queue__str:" + queue;
  c.run({"SADD", heartbeat, me + "&&" + std::to_string(redis_now(c))});
  std::set<std::string> alive;
  for (const auto& m : c.strings({"SMEMBERS", heartbeat}))
    alive.insert(m.substr(0, m.rfind("&&")));
  auto consumers = c.run({"XINFO", "CONSUMERS", queue, "funboost_group"});
  for (std::size_t i = 0; i < consumers->elements; ++i) {
    auto* info = consumers->element[i];
    std::string name;
    long long pending = 0;
    for (std::size_t f = 0; f + 1 < info->elements; f += 2) {
      std::string field{info->element[f]->str, info->element[f]->len};
      if (field == "name")
        name.assign(info->element[f + 1]->str, info->element[f + 1]->len);
      else if (field == "pending")
        pending = info->element[f + 1]->integer;
    }
    if (alive.count(name) || pending == 0)
      continue;
    auto entries = c.run({"XPENDING", queue, "funboost_group", "-", "+", "1000", name});
    std::vector<std::string> claim{"XCLAIM", queue, "funboost_group", me, "0"};
    for (std::size_t e = 0; e < entries->elements; ++e)
      claim.emplace_back(entries->element[e]->element[0]->str,
                         entries->element[e]->element[0]->len);
    if (claim.size() == 5)
      continue;
    claim.push_back("FORCE");
    auto got = c.run(claim);
    for (std::size_t e = 0; e < got->elements; ++e) {
      auto* fields = got->element[e]->element[1];
      if (fields && fields->elements >= 2)
        claimed.emplace_back(fields->element[1]->str, fields->element[1]->len);
    }
  }
  c.run({"EVAL",
         "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
         "else return 0 end",
         "1", stream_lock(queue), token});
  return claimed;
}

/// Gives `count` messages to a stream consumer that then dies: pending, no heartbeat.
void leave_pending_with_dead_consumer(redis_client& c, const std::string& queue, int first,
                                      int count, const std::string& dead) {
  if (c.integer({"EXISTS", queue}) == 0)
    c.run({"XGROUP", "CREATE", queue, "funboost_group", "0", "MKSTREAM"});
  for (int i = first; i < first + count; ++i)
    c.run({"XADD", queue, "*", "",
           R"({"x":)" + std::to_string(i) + R"(,"y":0,"extra":{"task_id":"t)"
             + std::to_string(i) + R"("}})"});
  c.run({"XREADGROUP", "GROUP", "funboost_group", dead, "COUNT", std::to_string(count),
         "STREAMS", queue, ">"});
}

/// A redis_stream consumer in this process that records the x of every task it runs;
/// recovery checks every `recover_ms`, a consumer without heartbeat is recovered at once.
struct stream_recorder {
  std::mutex mutex;
  std::multiset<int> runs;
  funboost::runtime rt;
  funboost::booster<int(int, int)> b;

  stream_recorder(const redis_server& server, const std::string& queue, long long recover_ms)
    : b(rt.boost(
        [this](int x, int) {
          std::lock_guard guard{mutex};
          runs.insert(x);
          return 0;
        },
        options(server, queue, recover_ms))) {
    b.consume();
  }
  std::multiset<int> ran() {
    std::lock_guard guard{mutex};
    return runs;
  }
  static funboost::booster_options options(const redis_server& server, const std::string& queue,
                                           long long recover_ms) {
    auto o = redis_options(server, funboost::broker_kind::redis_stream, queue);
    o.broker.transport_options["recover_interval_ms"] = recover_ms;
    o.broker.transport_options["stream_claim_idle_ms"] = 1LL;
    return o;
  }
};

int x_of(const std::string& body) {
  simdjson::dom::parser parser;
  return static_cast<int>(int64_t(parser.parse(body)["x"]));
}

} // namespace

TEST_CASE("the params record has every field of funboost's, in its order and types, with a C++ "
          "consumer's true values, and replaces a Python booster's record whole") {
  redis_server server;
  redis_client client{server.port()};
  for (std::string kind : {funboost::broker_kind::redis, funboost::broker_kind::redis_stream}) {
    CAPTURE(kind);
    std::string queue = "params_" + kind;
    client.run({"HSET", params_key, queue, python_record(queue)}); // a Python booster was here
    funboost::runtime rt;
    auto o = redis_options(server, kind, queue);
    o.function_name = "add";
    o.optional_arg_names = {"y"};
    o.concurrent_num = 12;
    o.qps = 7.5;
    o.max_retries = 5;
    auto b = rt.boost([](int x, std::optional<int> y) { return x + y.value_or(0); }, o);
    b.consume();
    REQUIRE(wait_until([&] {
      return client.string({"HGET", params_key, queue}).find("funboost-cpp") != std::string::npos;
    }));
    auto ours_text = client.string({"HGET", params_key, queue});
    auto python_text = python_record(queue);
    simdjson::dom::parser p1, p2;
    simdjson::dom::object ours = p1.parse(ours_text);
    simdjson::dom::object python = p2.parse(python_text);
    CHECK(ours.size() == 52);
    check_same_shape(ours, python, "record");
    // The values a C++ consumer really has, where funboost's tools read them.
    CHECK(std::string_view(ours["broker_kind"])
          == (kind == "redis" ? "REDIS_ACK_ABLE" : "REDIS_STREAM"));
    CHECK(int64_t(ours["concurrent_num"]) == 12);
    CHECK(double(ours["qps"]) == 7.5);
    CHECK(int64_t(ours["max_retry_times"]) == 5);
    CHECK(bool(ours["is_using_rpc_mode"]));
    CHECK(std::string_view(ours["consuming_function_kind"]) == "COMMON_FUNCTION");
    CHECK(std::string_view(ours["consuming_function_name"]) == "add");
    CHECK(bool(ours["should_check_publish_func_params"]));
    auto info = ours["auto_generate_info"]["final_func_input_params_info"];
    CHECK(std::string_view(info["func_name"]) == "add");
    CHECK(names_in(info["all_arg_name_list"]) == std::vector<std::string>{"x", "y"});
    CHECK(names_in(info["must_arg_name_list"]) == std::vector<std::string>{"x"});
    CHECK(names_in(info["optional_arg_name_list"]) == std::vector<std::string>{"y"});
    CHECK(std::string_view(ours["function_result_status_persistance_conf"]["table_name"])
          == queue);
    if (kind == "redis_stream")
      CHECK(std::string_view(ours["broker_exclusive_config"]["group"]) == "funboost_group");
    CHECK(client.integer({"SISMEMBER", "funboost_all_queue_names", queue}) == 1);
    CHECK(client.integer({"SCARD", "funboost_all_ips"}) == 1);
    b.stop();
  }
}

TEST_CASE("a publish-only booster registers the queue as funboost's does: a record only where "
          "none is, its unack key, and no heartbeat") {
  redis_server server;
  redis_client client{server.port()};
  std::string queue = "publish_only_q";
  auto o = redis_options(server, funboost::broker_kind::redis, queue);
  o.broker.transport_options["recover_interval_ms"] = 100LL;
  std::string registry = "funboost_unack_registry:" + queue;
  std::string publisher_key;
  {
    funboost::runtime rt;
    auto publisher = rt.publisher(o);
    publisher.publish(R"({"x":1,"y":2})");
    auto record = client.string({"HGET", params_key, queue});
    REQUIRE(!record.empty());
    simdjson::dom::parser parser;
    simdjson::dom::object r = parser.parse(record);
    CHECK(r.size() == 52);
    CHECK(std::string_view(r["queue_name"]) == queue);
    // It does not know the function: funboost's tools must not check calls against a guess.
    CHECK_FALSE(bool(r["should_check_publish_func_params"]));
    CHECK(names_in(r["auto_generate_info"]["final_func_input_params_info"]["must_arg_name_list"])
            .empty());
    CHECK(client.integer({"SISMEMBER", "funboost_all_queue_names", queue}) == 1);
    auto keys = client.strings({"SMEMBERS", registry});
    REQUIRE(keys.size() == 1);
    publisher_key = keys[0];
    CHECK(publisher_key.starts_with(queue + "__unack_id_"));
    CHECK(client.integer({"EXISTS", publisher_key}) == 0); // it never holds a message
    CHECK(client.integer({"SCARD", "funboost_hearbeat_queue__str:" + queue}) == 0);
  }
  {
    // A consumer replaces the publisher's record with its own, and its recovery drops the
    // publisher's unack key (no heartbeat, nothing in it) without moving anything.
    funboost::runtime rt;
    auto b = rt.boost(add, o);
    b.consume();
    REQUIRE(wait_until([&] {
      auto record = client.string({"HGET", params_key, queue});
      return record.find(R"("should_check_publish_func_params":true)") != std::string::npos;
    }));
    REQUIRE(wait_until([&] { return client.integer({"SISMEMBER", registry, publisher_key}) == 0; }));
    CHECK(wait_until([&] { return b.message_count() == 0; }));
    b.stop();
  }
  // A later publisher leaves the consumer's record alone.
  auto consumer_record = client.string({"HGET", params_key, queue});
  {
    funboost::runtime rt;
    rt.publisher(o).publish(R"({"x":3,"y":4})");
  }
  CHECK(client.string({"HGET", params_key, queue}) == consumer_record);
}

TEST_CASE("consumer ids have funboost's shape and time zone: {host}_{ip}_{date time}_{pid}_{id}") {
  redis_server server;
  redis_client client{server.port()};
  char host[256] = {};
  REQUIRE(gethostname(host, sizeof(host) - 1) == 0);
  auto ips = client.strings({"SMEMBERS", "funboost_all_ips"});
  for (int offset_minutes : {480, 0}) { // funboost's Asia/Shanghai default, then UTC
    CAPTURE(offset_minutes);
    std::string queue = "consumer_id_q" + std::to_string(offset_minutes);
    funboost::runtime rt;
    auto o = redis_options(server, funboost::broker_kind::redis, queue);
    o.publish_time_utc_offset_minutes = offset_minutes;
    auto b = rt.boost(add, o);
    b.consume();
    std::string registry = "funboost_unack_registry:" + queue;
    REQUIRE(wait_until([&] { return client.integer({"SCARD", registry}) == 1; }));
    std::string prefix = queue + "__unack_id_";
    auto id = client.strings({"SMEMBERS", registry}).at(0).substr(prefix.size());
    CAPTURE(id);
    ips = client.strings({"SMEMBERS", "funboost_all_ips"});
    REQUIRE(ips.size() == 1);
    std::string start = std::string{host} + "_" + ips[0] + "_";
    REQUIRE(id.starts_with(start));
    std::smatch m;
    auto rest = id.substr(start.size());
    REQUIRE(std::regex_match(rest, m, std::regex{R"((\d{4}-\d\d-\d\d \d\d-\d\d-\d\d)_(\d+)_(\d{15}))"}));
    CHECK(std::stol(m[2]) == getpid());
    CHECK(std::stoull(m[3]) % 16 == 0); // shaped like CPython's id(self), an address
    std::tm when{};
    REQUIRE(strptime(m[1].str().c_str(), "%Y-%m-%d %H-%M-%S", &when));
    auto unix_time = timegm(&when) - offset_minutes * 60;
    CHECK(std::abs(static_cast<double>(unix_time - std::time(nullptr))) < 120);
    b.stop();
  }
}

TEST_CASE("redis_stream: recovery waits while funboost's lock is held, then gives a dead "
          "consumer's entries back, each run once") {
  redis_server server;
  redis_client client{server.port()};
  std::string queue = "stream_lock_q";
  leave_pending_with_dead_consumer(client, queue, 0, 40, "dead_python_consumer");
  client.run({"SET", stream_lock(queue), "held-by-a-python-consumer", "EX", "60"});
  redis_client monitor{server.port()};
  monitor.run({"MONITOR"});
  stream_recorder ours{server, queue, 100};
  // Our recovery asks for funboost's lock (and is refused: a Python consumer holds it) ...
  std::string attempt = "\"SET\" \"" + stream_lock(queue) + "\"";
  bool tried = false;
  for (int lines = 0; lines < 100000 && !tried; ++lines)
    tried = monitor.next_pushed().find(attempt) != std::string::npos;
  REQUIRE(tried);
  // ... and so moved nothing: the dead consumer still holds every entry.
  CHECK(client.run({"XPENDING", queue, "funboost_group", "-", "+", "100",
                    "dead_python_consumer"})->elements == 40);
  CHECK(ours.ran().empty());
  client.run({"DEL", stream_lock(queue)});
  REQUIRE(wait_until([&] { return ours.ran().size() >= 40; }));
  std::multiset<int> expected;
  for (int i = 0; i < 40; ++i)
    expected.insert(i);
  CHECK(ours.ran() == expected);
  CHECK(client.run({"XPENDING", queue, "funboost_group", "-", "+", "100",
                    "dead_python_consumer"})->elements == 0);
}

TEST_CASE("redis_stream: our recovery and one running funboost's algorithm race for dead "
          "consumers' entries, and no entry is delivered twice") {
  redis_server server;
  redis_client client{server.port()};
  // 40 consumers die one after another, each holding 10 entries; for each, the funboost-style
  // recoverer starts after a pause that varies from 0 to 39 ms while ours runs every 20 ms, so
  // each side wins some. Who wins does not matter: that no entry runs twice or is lost does.
  constexpr int deaths = 40, per_death = 10, entries = deaths * per_death;
  std::string queue = "stream_race_q";
  stream_recorder ours{server, queue, 20};
  std::vector<std::string> python_claimed;
  {
    redis_client python{server.port()};
    auto pending_of = [&](const std::string& consumer) {
      return client.run({"XPENDING", queue, "funboost_group", "-", "+", "1", consumer})
        ->elements;
    };
    for (int death = 0; death < deaths; ++death) {
      std::string dead = "dead_consumer_" + std::to_string(death);
      leave_pending_with_dead_consumer(client, queue, death * per_death, per_death, dead);
      std::this_thread::sleep_for(std::chrono::milliseconds((death * 7) % 40));
      while (pending_of(dead) > 0)
        for (auto& body : python_stream_recovery(python, queue, "python_recoverer"))
          python_claimed.push_back(std::move(body));
    }
  }
  // Every entry is accounted for once the stream holds only what Python claimed (pending to
  // it, a live consumer) and our consumer ran the rest.
  REQUIRE(wait_until([&] {
    return ours.ran().size() + python_claimed.size() >= entries
           && client.integer({"XLEN", queue}) == static_cast<long long>(python_claimed.size());
  }));
  std::multiset<int> all = ours.ran();
  for (const auto& body : python_claimed)
    all.insert(x_of(body));
  std::multiset<int> expected;
  for (int i = 0; i < entries; ++i)
    expected.insert(i);
  CHECK(all == expected); // each once: none lost, none run by both or twice
  // What Python claimed stays with it: we took none of a live consumer's entries.
  CHECK(client.run({"XPENDING", queue, "funboost_group", "-", "+", "1000", "python_recoverer"})
          ->elements
        == python_claimed.size());
  MESSAGE("ours ran " << entries - static_cast<int>(python_claimed.size())
                      << " entries, the funboost-style recoverer claimed "
                      << python_claimed.size());
  ours.b.stop();
}

TEST_CASE("redis: an idle consumer blocks in BLMOVE instead of polling; a push wakes it and the "
          "queue's order is kept") {
  redis_server server;
  redis_client client{server.port()};
  std::string queue = "idle_q";
  std::mutex mutex;
  std::vector<int> order;
  funboost::runtime rt;
  auto o = redis_options(server, funboost::broker_kind::redis, queue);
  o.concurrent_num = 1;
  o.fetch_wait = 5000ms; // one call per 5 s while idle
  auto b = rt.boost([&](int x, int y) {
    std::lock_guard guard{mutex};
    order.push_back(x);
    return x + y;
  }, o);
  b.consume();
  auto blocked = [&] {
    return client.string({"CLIENT", "LIST"}).find("cmd=blmove") != std::string::npos;
  };
  REQUIRE(wait_until(blocked));
  CHECK(b.push(1, 2).get(10s) == 3);
  // The wait moves a message onto itself only: a batch pushed meanwhile runs in push order.
  REQUIRE(wait_until(blocked));
  std::vector<std::tuple<int, int>> calls;
  std::vector<int> expected{1};
  for (int i = 10; i < 60; ++i) {
    calls.emplace_back(i, 0);
    expected.push_back(i);
  }
  b.push_many(calls);
  REQUIRE(wait_until([&] {
    std::lock_guard guard{mutex};
    return order.size() == expected.size();
  }));
  std::lock_guard guard{mutex};
  CHECK(order == expected);
}
