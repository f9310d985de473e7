// amqp:// URLs are parsed as RabbitMQ documents them, and what cannot work (a bad URL, a port
// nobody listens on) fails at once with an error naming the broker, the queue and the address.
#include <doctest/doctest.h>

#include <filesystem>
#include <stdexcept>

#include <funboost/funboost.hpp>

#include "brokers/rabbitmq/amqp_url.hpp"
#include "core/log_text.hpp"
#include "rabbitmq/rabbitmq_server.hpp"
#include "support/fixtures.hpp"
#include "support/log_capture.hpp"
#include "support/silent_listener.hpp"

using namespace std::chrono_literals;
using funboost::brokers::rabbitmq::parse_amqp_url;
using funboost::detail::redact_url;

TEST_CASE("a full URL is split into user, password, host, port and vhost") {
  auto u = parse_amqp_url("amqp://alice:s3cret@mq.example.com:5673/orders");
  CHECK(u.user == "alice");
  CHECK(u.password == "s3cret");
  CHECK(u.host == "mq.example.com");
  CHECK(u.port == 5673);
  CHECK(u.vhost == "orders");
}

TEST_CASE("defaults: guest on 127.0.0.1:5672, vhost /") {
  auto empty = parse_amqp_url("");
  CHECK(empty.user == "guest");
  CHECK(empty.password == "guest");
  CHECK(empty.host == "127.0.0.1");
  CHECK(empty.port == 5672);
  CHECK(empty.vhost == "/");
  auto host_only = parse_amqp_url("amqp://broker");
  CHECK(host_only.host == "broker");
  CHECK(host_only.port == 5672);
  CHECK(host_only.vhost == "/");
  CHECK(parse_amqp_url("amqp://broker:1234/").vhost == "/");
  CHECK(parse_amqp_url("amqp://broker:1234/").port == 1234);
}

TEST_CASE("percent-encoding is decoded in user, password and vhost") {
  auto u = parse_amqp_url("amqp://us%40er:p%3Ass%2Fw%25rd@host:5672/%2F");
  CHECK(u.user == "us@er");
  CHECK(u.password == "p:ss/w%rd");
  CHECK(u.vhost == "/");
  CHECK(parse_amqp_url("amqp://h/my%2fvhost").vhost == "my/vhost");
  CHECK(parse_amqp_url("amqp://user@h").password.empty());
}

TEST_CASE("an IPv6 host is written in brackets") {
  auto u = parse_amqp_url("amqp://guest:guest@[::1]:5680/v");
  CHECK(u.host == "::1");
  CHECK(u.port == 5680);
  CHECK(u.vhost == "v");
}

TEST_CASE("bad URLs are rejected with the reason and the expected form") {
  for (const char* bad : {"http://host:5672/", "amqp://host:notaport/", "amqp://host:70000/",
                          "amqp://host/a/b", "amqp://h/%zz", "amqp://[::1/", "amqps://h/"}) {
    CAPTURE(bad);
    try {
      parse_amqp_url(bad);
      FAIL("accepted");
    } catch (const std::invalid_argument& e) {
      std::string text = e.what();
      CHECK(text.find("amqp://user:password@host:port/vhost") != std::string::npos);
    }
  }
}

TEST_CASE("passwords never reach error texts") {
  CHECK(redact_url("amqp://bob:hunter2@h:1/v") == "amqp://bob:***@h:1/v");
  CHECK(redact_url("amqp://h:1/v") == "amqp://h:1/v");
  try {
    parse_amqp_url("amqp://bob:hunter2@h:port/v");
    FAIL("accepted");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string{e.what()}.find("hunter2") == std::string::npos);
  }
}

namespace {

/// What make_broker(options)->connect() throws, as text ("" if it does not throw).
std::string connect_error(const std::string& queue, const std::string& url) {
  funboost::booster_options o;
  o.queue_name = queue;
  o.broker_kind = funboost::broker_kind::rabbitmq;
  o.broker.url = url;
  o.broker.transport_options["connect_timeout_ms"] = 2000LL;
  try {
    auto conn = funboost::make_broker(o)->connect();
  } catch (const funboost::broker_error& e) {
    return e.what();
  }
  return {};
}

} // namespace

TEST_CASE("a broker names the address it really uses, never its password: guest on "
          "127.0.0.1:5672 for an empty URL") {
  auto broker_of = [](const std::string& url) {
    funboost::booster_options o;
    o.queue_name = "q_address";
    o.broker_kind = funboost::broker_kind::rabbitmq;
    o.broker.url = url;
    return funboost::make_broker(o);
  };
  CHECK(broker_of("")->address() == "amqp://guest:***@127.0.0.1:5672/");
  CHECK(broker_of("amqp://alice:Rabbit-Secret@10.0.0.5:5673/orders")->address()
        == "amqp://alice:***@10.0.0.5:5673/orders");
  CHECK(broker_of("amqp://bob@[::1]")->address() == "amqp://bob@[::1]:5672/");
}

TEST_CASE("a URL's stray bytes reach neither an error nor the address raw (found by "
          "fuzz_amqp_url)") {
  using namespace std::string_literals;
  // A NUL cut the error's what() short, before the form to use; a newline forged a line.
  try {
    (void) parse_amqp_url("amqp://guest:gu\0\0\0" "27.0.0.1:5672/"s);
    FAIL("accepted");
  } catch (const std::invalid_argument& e) {
    std::string text = e.what();
    CAPTURE(text);
    CHECK(text.find("the form is amqp://user:password@host:port/vhost") != std::string::npos);
    CHECK(text.find('\0') == std::string::npos);
  }
  CHECK(parse_amqp_url("amqp://u:p@h\n:5672/\x01v").display() == "amqp://u:***@h\\n:5672/\\x01v");
}

TEST_CASE("a bad URL gives a broker_error naming the broker, the queue and the URL") {
  auto text = connect_error("q_bad_url", "amqp://guest:topsecret@127.0.0.1:99999/");
  INFO(text);
  CHECK(text.find("rabbitmq") != std::string::npos);
  CHECK(text.find("q_bad_url") != std::string::npos);
  CHECK(text.find("127.0.0.1:99999") != std::string::npos);
  CHECK(text.find("port") != std::string::npos);
  CHECK(text.find("topsecret") == std::string::npos);
}

TEST_CASE("a refused connection gives a broker_error naming the broker, queue and address") {
  int port = rabbitmq_test::free_port(); // nobody listens there
  auto text = connect_error("q_refused", "amqp://guest:guest@127.0.0.1:" + std::to_string(port)
                                           + "/");
  INFO(text);
  CHECK(text.find("rabbitmq") != std::string::npos);
  CHECK(text.find("q_refused") != std::string::npos);
  CHECK(text.find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
  CHECK(text.find("refused") != std::string::npos);
  CHECK(text.find("is rabbitmq-server running") != std::string::npos);
}

TEST_CASE("an unresolvable host says so") {
  auto text = connect_error("q_nohost", "amqp://guest:guest@no-such-host.invalid:5672/");
  INFO(text);
  CHECK(text.find("q_nohost") != std::string::npos);
  CHECK(text.find("no-such-host.invalid") != std::string::npos);
  CHECK(text.find("resolve") != std::string::npos);
}

TEST_CASE("a consumer whose RabbitMQ is unreachable logs the address and never the password") {
  test_support::log_capture logs;
  logs.clear();
  auto address = "127.0.0.1:" + std::to_string(rabbitmq_test::free_port()); // nobody listens
  funboost::runtime rt;
  funboost::booster_options o;
  o.queue_name = "q_log_unreachable";
  o.broker_kind = funboost::broker_kind::rabbitmq;
  o.broker.url = "amqp://alice:Rabbit-Secret@" + address + "/orders";
  o.broker.outbox_dir = std::filesystem::temp_directory_path() / "funboost_test_rabbitmq_logs";
  o.logging.level = funboost::log_level::trace;
  o.logging.file_dir = "";
  o.restart_backoff = 100ms;
  o.restart_backoff_max = 400ms;
  o.publish_retries = 0;
  auto b = rt.boost([](int x) { return x; }, o);
  std::string push_error;
  try {
    (void) b.push(1).get(10s);
  } catch (const funboost::publish_error& e) {
    push_error = e.what();
  }
  b.consume();
  CHECK(test_support::wait_until(
    [&] { return logs.containing("queue 'q_log_unreachable': fetcher 0").size() >= 2; }, 60s));
  b.stop();
  auto lines = logs.lines();
  REQUIRE_FALSE(lines.empty());
  for (const auto& line : lines) {
    CAPTURE(line);
    CHECK(line.find("Rabbit-Secret") == std::string::npos);
  }
  CHECK_FALSE(logs.containing(address).empty());
  CAPTURE(push_error);
  CHECK(push_error.find("Rabbit-Secret") == std::string::npos);
  CHECK(push_error.find(address) != std::string::npos);
  std::filesystem::remove_all(o.broker.outbox_dir);
}

TEST_CASE("a host that never answers the TCP connect is a connect timeout, not a lost connection") {
  test_support::silent_listener silent;
  auto address = "127.0.0.1:" + std::to_string(silent.port());
  funboost::booster_options o;
  o.queue_name = "q_connect_timeout";
  o.broker_kind = funboost::broker_kind::rabbitmq;
  o.broker.url = "amqp://guest:guest@" + address + "/";
  o.broker.transport_options["connect_timeout_ms"] = 300LL;
  std::string text;
  try {
    funboost::make_broker(o)->connect();
  } catch (const funboost::broker_error& e) {
    text = e.what();
  }
  CAPTURE(text);
  CHECK(text.find(address) != std::string::npos);
  CHECK(text.find("timed out: no answer within 300 ms (connect_timeout_ms)") != std::string::npos);
  CHECK(text.find("lost") == std::string::npos);
  CHECK(text.find("refused") == std::string::npos);
}
