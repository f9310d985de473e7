// Text made for logs and errors (src/core/log_text.*): URLs lose their secrets.
#include <doctest/doctest.h>

#include "core/log_text.hpp"

using funboost::detail::redact_url;

TEST_CASE("redact_url hides the password of every broker URL form and keeps user, host, port, "
          "db and vhost") {
  CHECK(redact_url("redis://:secret@127.0.0.1:6379/7") == "redis://:***@127.0.0.1:6379/7");
  CHECK(redact_url("redis://user:secret@redis.example:6380/3")
        == "redis://user:***@redis.example:6380/3");
  CHECK(redact_url("rediss://user:secret@redis.example:6380/3")
        == "rediss://user:***@redis.example:6380/3");
  CHECK(redact_url("amqp://user:secret@mq.example:5672/orders")
        == "amqp://user:***@mq.example:5672/orders");
  CHECK(redact_url("amqps://user:secret@mq.example/") == "amqps://user:***@mq.example/");
  CHECK(redact_url("redis://user:secret@[::1]:6379/7") == "redis://user:***@[::1]:6379/7");
  // Redis clients read a lone name before '@' as the password; AMQP reads it as the user.
  CHECK(redact_url("redis://secret@127.0.0.1:6379") == "redis://***@127.0.0.1:6379");
  CHECK(redact_url("amqp://guest@127.0.0.1/") == "amqp://guest@127.0.0.1/");
  // Query parameters that carry a secret (the unix socket form takes ?password=).
  CHECK(redact_url("unix:///run/redis.sock?db=3&password=secret")
        == "unix:///run/redis.sock?db=3&password=***");
  CHECK(redact_url("unix:///run/redis.sock?Password=secret&db=3")
        == "unix:///run/redis.sock?Password=***&db=3");
}

TEST_CASE("redact_url hides passwords that hold unencoded '@', '/', ':' or '?'") {
  CHECK(redact_url("redis://:se@cr/et@host:1/7") == "redis://:***@host:1/7");
  CHECK(redact_url("amqp://bob:a:b?c@host:1/v") == "amqp://bob:***@host:1/v");
  CHECK(redact_url("redis://:p%40ss@host:1/7") == "redis://:***@host:1/7");
}

TEST_CASE("redact_url leaves URLs without credentials and plain words unchanged") {
  for (const char* same : {"", "redis://127.0.0.1:6379/7", "amqp://127.0.0.1:5672/",
                           "unix:///run/redis.sock?db=4", "in-process", "redis://[::1]:7000"}) {
    CAPTURE(same);
    CHECK(redact_url(same) == same);
  }
}
