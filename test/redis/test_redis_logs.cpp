// What a Redis queue writes into its logs and errors when the broker says no: never the
// password of the broker URL (console, file, exceptions, push failures), always the address.
// Each case starts a REAL redis-server; log lines are read through a process-wide sink.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include <funboost/funboost.hpp>

#include "brokers/redis/redis_connection.hpp"
#include "redis_server.hpp"
#include "redis_test_support.hpp"
#include "support/fixtures.hpp"
#include "support/free_port.hpp"
#include "support/log_capture.hpp"
#include "support/silent_listener.hpp"

using namespace std::chrono_literals;
using funboost::test::redis_options;
using funboost::test::redis_server;
using test_support::log_capture;
using test_support::wait_until;

namespace {

int add(int x, int y) {
  return x + y;
}

/// Everything a user sees when a queue cannot use its broker: the log lines of a consumer
/// whose fetchers fail and retry, and the texts of the exceptions push and message_count throw.
struct failure_texts {
  std::vector<std::string> lines;
  std::string count_error;
  std::string push_error;
};

failure_texts fail_against(const std::string& url, const std::string& queue,
                           const std::string& outbox_dir, const std::string& kind) {
  log_capture logs;
  logs.clear();
  funboost::runtime rt;
  funboost::booster_options o;
  o.queue_name = queue;
  o.broker_kind = kind;
  o.broker.url = url;
  o.broker.outbox_dir = outbox_dir;
  o.broker.transport_options["connect_timeout_ms"] = 2000LL;
  o.arg_names = {"x", "y"};
  o.is_using_rpc_mode = true; // the result store (db 8 of the same URL) fails and logs too
  o.concurrent_num = 2;
  o.logging.level = funboost::log_level::trace;
  o.logging.file_dir = "";
  o.restart_backoff = 100ms;
  o.restart_backoff_max = 400ms;
  o.publish_retries = 0; // a refused push goes to the outbox at once
  failure_texts out;
  auto b = rt.boost(add, o);
  try {
    (void) b.message_count();
  } catch (const std::exception& e) {
    out.count_error = e.what();
  }
  auto r = b.push(1, 2);
  try {
    (void) r.get(10s);
  } catch (const std::exception& e) {
    out.push_error = e.what();
  }
  b.consume();
  // Two failed fetches: the first connect and a restart after the backoff.
  CHECK(wait_until([&] { return logs.containing("queue '" + queue + "': fetcher 0").size() >= 2; },
                   60s));
  b.stop();
  out.lines = logs.lines();
  return out;
}

void check_no_secret(const failure_texts& t, const std::string& secret,
                     const std::string& address) {
  REQUIRE_FALSE(t.lines.empty());
  for (const auto& line : t.lines) {
    CAPTURE(line);
    CHECK(line.find(secret) == std::string::npos);
  }
  bool named = false;
  for (const auto& line : t.lines)
    named = named || line.find(address) != std::string::npos;
  CHECK(named);
  for (const auto& text : {t.count_error, t.push_error}) {
    CAPTURE(text);
    CHECK_FALSE(text.empty());
    CHECK(text.find(secret) == std::string::npos);
    CHECK(text.find(address) != std::string::npos);
  }
}

} // namespace

TEST_CASE("redis: with a wrong password, no log line and no error text shows the password; "
          "they name host:port") {
  redis_server server{{.extra = {"--requirepass", "right-Pa55word"}}};
  auto address = "127.0.0.1:" + std::to_string(server.port());
  for (const char* kind : {funboost::broker_kind::redis, funboost::broker_kind::redis_stream}) {
    CAPTURE(kind);
    for (const std::string userinfo : {":wrong-Pa55word@", "default:wrong-Pa55word@"}) {
      CAPTURE(userinfo);
      auto t = fail_against("redis://" + userinfo + address + "/7",
                            std::string{"logs_wrong_password_"} + kind, server.dir() + "/outbox",
                            kind);
      check_no_secret(t, "wrong-Pa55word", address);
    }
  }
}

TEST_CASE("redis: with nobody listening on the port, no log line and no error text shows the "
          "password; they name host:port") {
  redis_server server; // for its directory; the URL points at a port nobody listens on
  auto address = "127.0.0.1:" + std::to_string(test_support::free_port());
  auto t = fail_against("redis://:Unreachable-Secret@" + address + "/7", "logs_unreachable",
                        server.dir() + "/outbox", funboost::broker_kind::redis);
  check_no_secret(t, "Unreachable-Secret", address);
}

TEST_CASE("redis: a fetcher's failure line names the address really used: the db of the "
          "transport options, not the URL's") {
  log_capture logs;
  logs.clear();
  auto address = "127.0.0.1:" + std::to_string(test_support::free_port()); // nobody listens
  funboost::runtime rt;
  funboost::booster_options o;
  o.queue_name = "logs_real_address";
  o.broker_kind = funboost::broker_kind::redis;
  o.broker.url = "redis://:Address-Secret@" + address; // no db: 7, but the options say 3
  o.broker.transport_options["db"] = 3LL;
  o.arg_names = {"x", "y"};
  o.logging.file_dir = "";
  o.restart_backoff = 100ms;
  auto b = rt.boost(add, o);
  b.consume();
  REQUIRE(wait_until([&] { return logs.any_contains("queue 'logs_real_address': fetcher 0"); },
                     60s));
  b.stop();
  auto lines = logs.containing("queue 'logs_real_address': fetcher 0");
  CAPTURE(lines.front());
  CHECK(lines.front().find("(redis://:***@" + address + "/3)") != std::string::npos);
}

TEST_CASE("redis: a malformed URL or result_store_url is refused without showing its password") {
  funboost::runtime rt;
  funboost::booster_options o;
  o.queue_name = "logs_bad_url";
  o.broker_kind = funboost::broker_kind::redis;
  o.arg_names = {"x", "y"};
  o.logging.file_dir = "";
  for (std::string url : {"redis://:Malformed-Secret@127.0.0.1:notaport/7",
                          "redis://user:Malformed-Secret@127.0.0.1:6379/notadb",
                          "redis://Malformed-Secret@:6379/7"}) {
    CAPTURE(url);
    o.broker.url = url;
    try {
      rt.boost(add, o);
      FAIL("accepted");
    } catch (const funboost::broker_error& e) {
      std::string text = e.what();
      CAPTURE(text);
      CHECK(text.find("Malformed-Secret") == std::string::npos);
      CHECK(text.find("logs_bad_url") != std::string::npos);
    }
  }
  o.broker.url = "redis://127.0.0.1:6379/7";
  o.result_store_url = "rediss://:Store-Secret@127.0.0.1:6380/8";
  try {
    rt.boost(add, o);
    FAIL("accepted");
  } catch (const std::invalid_argument& e) {
    std::string text = e.what();
    CAPTURE(text);
    CHECK(text.find("Store-Secret") == std::string::npos);
    CHECK(text.find("127.0.0.1:6380") != std::string::npos);
  }
}

namespace {

/// What redis_connection throws when `f` runs on a new connection to `url`, as text.
template <class F>
std::string connection_error(const std::string& url, F&& f) {
  funboost::booster_options o;
  o.queue_name = "logs_timeouts";
  o.broker_kind = funboost::broker_kind::redis;
  o.broker.url = url;
  o.broker.transport_options["connect_timeout_ms"] = 300LL;
  o.broker.transport_options["command_timeout_ms"] = 300LL;
  namespace rd = funboost::brokers::redis;
  try {
    rd::redis_connection conn{{o.broker_kind, o.queue_name, rd::parse_redis_address(o)}};
    f(conn);
  } catch (const funboost::broker_error& e) {
    return e.what();
  }
  return {};
}

} // namespace

TEST_CASE("redis: a server that does not answer in time is a timeout, not a lost connection; "
          "one that went away is a lost connection") {
  redis_server server;
  std::string url = server.url(7);
  auto paused_text = connection_error(url, [&](auto& conn) {
    server.pause(); // the connection stays open, nothing answers
    conn.run({"PING"});
  });
  server.resume();
  CAPTURE(paused_text);
  CHECK(paused_text.find("timed out: no reply within 300 ms (command_timeout_ms)")
        != std::string::npos);
  CHECK(paused_text.find("does not answer in time") != std::string::npos);
  CHECK(paused_text.find("lost") == std::string::npos);

  auto lost_text = connection_error(url, [&](auto& conn) {
    server.stop(SIGKILL);
    conn.run({"PING"});
  });
  CAPTURE(lost_text);
  CHECK(lost_text.find("connection lost") != std::string::npos);
  CHECK(lost_text.find("timed out") == std::string::npos);

  test_support::silent_listener silent; // connects to it are never answered
  auto connect_text = connection_error(
    "redis://127.0.0.1:" + std::to_string(silent.port()) + "/7", [](auto&) {});
  CAPTURE(connect_text);
  CHECK(connect_text.find("cannot connect: timed out, no answer within 300 ms "
                          "(connect_timeout_ms)")
        != std::string::npos);
  CHECK(connect_text.find("lost") == std::string::npos);
}

namespace {

/// What connecting to `url` throws: its text, and whether it is a configuration error.
struct connect_failure {
  std::string text;
  bool configuration = false;
};

connect_failure connect_to(const std::string& url, const char* kind) {
  funboost::booster_options o;
  o.queue_name = "logs_config_connect";
  o.broker_kind = kind;
  o.broker.url = url;
  o.logging.file_dir = "";
  try {
    (void) funboost::make_broker(o)->connect();
  } catch (const funboost::broker_config_error& e) {
    return {e.what(), true};
  } catch (const funboost::broker_error& e) {
    return {e.what(), false};
  }
  return {};
}

/// Counts the connections redis-server accepts (INFO stats), on one connection of its own
/// with the right password, so asking does not count.
class connection_counter {
public:
  connection_counter(const redis_server& server, const std::string& password)
    : conn_{{funboost::broker_kind::redis, "logs_config_probe", address(server, password)}} {}

  long long received() {
    namespace rd = funboost::brokers::redis;
    auto info = rd::reply_text(conn_.run({"INFO", "stats"}).get());
    constexpr std::string_view key = "total_connections_received:";
    auto at = info.find(key);
    REQUIRE(at != std::string::npos);
    return std::stoll(info.substr(at + key.size()));
  }

private:
  static funboost::brokers::redis::redis_address address(const redis_server& server,
                                                         const std::string& password) {
    funboost::booster_options o;
    o.queue_name = "logs_config_probe";
    o.broker_kind = funboost::broker_kind::redis;
    o.broker.url = "redis://:" + password + "@127.0.0.1:" + std::to_string(server.port()) + "/0";
    return funboost::brokers::redis::parse_redis_address(o);
  }

  funboost::brokers::redis::redis_connection conn_;
};

} // namespace

TEST_CASE("redis: a wrong or missing password and a database the server lacks are "
          "configuration errors naming the fix; an unreachable server is not") {
  const std::string password = "right-Pa55word";
  redis_server server{{.extra = {"--requirepass", password, "--databases", "4"}}};
  auto address = "127.0.0.1:" + std::to_string(server.port());
  for (const char* kind : {funboost::broker_kind::redis, funboost::broker_kind::redis_stream}) {
    CAPTURE(kind);
    auto wrong = connect_to("redis://:wrong-Pa55word@" + address + "/1", kind);
    CAPTURE(wrong.text);
    CHECK(wrong.configuration);
    CHECK(wrong.text.find("wrong password") != std::string::npos);
    CHECK(wrong.text.find("redis://:***@" + address + "/1") != std::string::npos);
    CHECK(wrong.text.find("set the right one in the broker URL") != std::string::npos);
    CHECK(wrong.text.find("wrong-Pa55word") == std::string::npos);

    auto missing = connect_to("redis://" + address + "/1", kind);
    CAPTURE(missing.text);
    CHECK(missing.configuration);
    CHECK(missing.text.find("the server needs a password: set it in the broker URL")
          != std::string::npos);

    auto no_db = connect_to("redis://:" + password + "@" + address + "/7", kind); // 0..3 exist
    CAPTURE(no_db.text);
    CHECK(no_db.configuration);
    CHECK(no_db.text.find("the server has no such database") != std::string::npos);
    CHECK(no_db.text.find("'databases'") != std::string::npos);
  }
  auto unreachable = connect_to(
    "redis://:" + password + "@127.0.0.1:" + std::to_string(test_support::free_port()) + "/1",
    funboost::broker_kind::redis);
  CAPTURE(unreachable.text);
  CHECK_FALSE(unreachable.text.empty());
  CHECK_FALSE(unreachable.configuration);
}

TEST_CASE("redis: a consumer with a wrong password keeps retrying but logs one CONFIGURATION "
          "error line with the fix, not a line per retry") {
  const std::string password = "right-Pa55word";
  redis_server server{{.extra = {"--requirepass", password}}};
  auto address = "127.0.0.1:" + std::to_string(server.port());
  log_capture logs;
  logs.clear();
  funboost::runtime rt;
  funboost::booster_options o;
  o.queue_name = "logs_config_consumer";
  o.broker_kind = funboost::broker_kind::redis;
  o.broker.url = "redis://:wrong-Pa55word@" + address + "/7";
  o.arg_names = {"x", "y"};
  o.logging.file_dir = "";
  o.restart_backoff = 20ms;
  o.restart_backoff_max = 50ms;
  auto b = rt.boost(add, o);
  CHECK_THROWS_AS((void) b.message_count(), funboost::broker_config_error);
  connection_counter counter{server, password};
  auto before = counter.received();
  b.consume();
  // Ten refused reconnections: the fetcher retries as it does in an outage...
  CHECK(wait_until([&] { return counter.received() >= before + 11; }, 60s));
  b.stop();
  // ...but within the minute, one line says what is wrong and how to fix it.
  auto lines = logs.containing("queue 'logs_config_consumer': CONFIGURATION error");
  REQUIRE(lines.size() == 1);
  CAPTURE(lines[0]);
  CHECK(lines[0].find("redis://:***@" + address + "/7") != std::string::npos);
  CHECK(lines[0].find("wrong password") != std::string::npos);
  CHECK(lines[0].find("set the right one in the broker URL") != std::string::npos);
  CHECK_FALSE(logs.any_contains("queue 'logs_config_consumer': fetcher 0"));
  for (const auto& line : logs.lines())
    CHECK(line.find("wrong-Pa55word") == std::string::npos);
}
