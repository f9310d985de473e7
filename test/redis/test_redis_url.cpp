// Parsing of Redis broker URLs and transport options (no server needed).
#include <doctest/doctest.h>

#include <funboost/broker.hpp>

#include "brokers/redis/redis_url.hpp"
#include "core/logging.hpp"
#include "core/queue_context.hpp"

using funboost::brokers::redis::parse_redis_address;

namespace {

funboost::booster_options with_url(std::string url,
                                   std::map<std::string, funboost::transport_value> extra = {}) {
  funboost::booster_options o;
  o.queue_name = "q1";
  o.broker_kind = "redis";
  o.broker.url = std::move(url);
  o.broker.transport_options = std::move(extra);
  return o;
}

} // namespace

TEST_CASE("redis url: host, port, db and password") {
  auto a = parse_redis_address(with_url("redis://:pa%40ss@10.0.0.5:6380/3"));
  CHECK_FALSE(a.is_unix);
  CHECK(a.host == "10.0.0.5");
  CHECK(a.port == 6380);
  CHECK(a.db == 3);
  CHECK(a.password == "pa@ss");
  CHECK(a.display() == "redis://:***@10.0.0.5:6380/3");

  auto d = parse_redis_address(with_url(""));
  CHECK(d.host == "127.0.0.1");
  CHECK(d.port == 6379);
  CHECK(d.db == 7); // funboost keeps queues in db 7

  auto u = parse_redis_address(with_url("redis://user:pw@[::1]:7000"));
  CHECK(u.host == "::1");
  CHECK(u.port == 7000);
  CHECK(u.username == "user");
  CHECK(u.password == "pw");
  CHECK(u.db == 7);
}

TEST_CASE("redis url: unix sockets and transport options") {
  auto a = parse_redis_address(with_url("unix:///run/redis/redis.sock?db=4"));
  CHECK(a.is_unix);
  CHECK(a.socket_path == "/run/redis/redis.sock");
  CHECK(a.db == 4);

  auto b = parse_redis_address(with_url(
    "redis://127.0.0.1:6379/7", {{"db", 9LL},
                                 {"key_prefix", std::string{"app1:"}},
                                 {"connect_timeout_ms", 500LL},
                                 {"command_timeout_ms", 3000LL}}));
  CHECK(b.db == 9);
  CHECK(b.key_prefix == "app1:");
  CHECK(b.connect_timeout.count() == 500);
  CHECK(b.command_timeout.count() == 3000);
}

TEST_CASE("redis url: malformed URLs are rejected with a message naming the queue and form") {
  for (auto bad : {"http://x", "redis://", "redis://h:0/1", "redis://h:70000", "redis://h/db",
                   "unix://relative.sock", "unix:///s.sock?db=-1", "unix:///s.sock?x=1"}) {
    CAPTURE(bad);
    CHECK_THROWS_WITH_AS(parse_redis_address(with_url(bad)),
                         doctest::Contains("queue 'q1'"), funboost::broker_error);
  }
  CHECK_THROWS_AS(parse_redis_address(with_url("redis://h", {{"db", std::string{"x"}}})),
                  funboost::broker_error);
  CHECK_THROWS_AS(parse_redis_address(with_url("redis://h", {{"key_prefix", 5LL}})),
                  funboost::broker_error);
}

TEST_CASE("redis: a broker names the address it really uses, never its password: the default "
          "for an empty URL, the db of the transport options") {
  for (const char* kind : {funboost::broker_kind::redis, funboost::broker_kind::redis_stream}) {
    CAPTURE(kind);
    auto broker_of = [&](std::string url, std::map<std::string, funboost::transport_value> extra) {
      auto o = with_url(std::move(url), std::move(extra));
      o.broker_kind = kind;
      o.logging.file_dir = "";
      return funboost::make_broker(o);
    };
    CHECK(broker_of("", {})->address() == "redis://127.0.0.1:6379/7");
    CHECK(broker_of("", {{"db", 3LL}})->address() == "redis://127.0.0.1:6379/3");
    CHECK(broker_of("redis://:s3cret@10.0.0.5:6380/2", {{"db", 5LL}})->address()
          == "redis://:***@10.0.0.5:6380/5");
    CHECK(broker_of("unix:///run/r.sock?password=s3cret", {})->address()
          == "unix:///run/r.sock?db=7");

    // What the queue's log lines and push receipts say (queue_context::broker_address).
    funboost::detail::queue_context ctx;
    ctx.options = with_url("");
    ctx.options.broker_kind = kind;
    ctx.broker = broker_of("", {});
    CHECK(ctx.broker_address() == "redis://127.0.0.1:6379/7");
  }
}

TEST_CASE("redis: a URL's stray bytes reach neither an error nor the address raw (found by "
          "fuzz_redis_url)") {
  using namespace std::string_literals;
  // A newline in the URL started a new log line inside the error; a NUL cut what() short.
  CHECK_THROWS_WITH_AS(parse_redis_address(with_url("redis://:pw@host:63\n79/7\0x"s)),
                       "redis broker 'redis' for queue 'q1': bad broker URL "
                       "'redis://:***@host:63\\n79/7\\x00x': the port must be a number "
                       "from 1 to 65535. Use redis://[:password@]host[:port][/db] or "
                       "unix:///path/to/redis.sock[?db=N]",
                       funboost::broker_error);
  CHECK(parse_redis_address(with_url("redis://us\ter:pw@ho\nst:1/2")).display()
        == "redis://us\\ter:***@ho\\nst:1/2");
}
