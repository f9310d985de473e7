// Text made for logs and errors (src/core/log_text.*, json_problem.*): URLs lose their secrets,
// message text is escaped, and a message that cannot be read is described by what is wrong.
#include <doctest/doctest.h>

#include <string>

#include "core/json_problem.hpp"
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

TEST_CASE("escape_for_log keeps valid UTF-8 and escapes invalid bytes and control characters") {
  using funboost::detail::escape_for_log;
  CHECK(escape_for_log("plain {\"x\":1}") == "plain {\"x\":1}");
  CHECK(escape_for_log("h\xc3\xa9llo \xe4\xb8\xad \xf0\x9f\x98\x80") == "h\xc3\xa9llo \xe4\xb8\xad \xf0\x9f\x98\x80");
  CHECK(escape_for_log("a\xff" "b\xc3") == "a\\xffb\\xc3");          // a stray byte, a cut character
  CHECK(escape_for_log("\xed\xa0\x80") == "\\xed\\xa0\\x80");         // an encoded surrogate
  CHECK(escape_for_log("\xc0\xaf") == "\\xc0\\xaf");                  // an overlong '/'
  CHECK(escape_for_log("line1\nline2\r\tend") == "line1\\nline2\\r\\tend");
  CHECK(escape_for_log(std::string_view{"\x1b[31mred\x00", 9}) == "\\x1b[31mred\\x00");
  CHECK(escape_for_log("\xc2\x85" "x") == "\\u0085x");                // a C1 control (NEL)
}

TEST_CASE("escape_for_log cuts long text at a character boundary and says how long it was") {
  using funboost::detail::escape_for_log;
  CHECK(escape_for_log("abcdef", 4) == "abcd... (6 bytes)");
  // The 2-byte character would cross the limit: it is left out whole, never cut in half.
  CHECK(escape_for_log("abc\xc3\xa9z", 4) == "abc... (6 bytes)");
  CHECK(escape_for_log("abc", 3) == "abc");
}

namespace {

std::string problem_of(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  std::string problem;
  CHECK_FALSE(funboost::detail::parse_message(parser, body, object, problem));
  return problem;
}

} // namespace

TEST_CASE("a message body that is not a JSON object is described by what is wrong with it") {
  CHECK(problem_of(R"({"x":123456789012345678901234567890})")
        == "a number out of range at offset 5 (123456789012345678901234567890): integers must "
           "fit in 64 bits (-2^63 to 2^64-1) and other numbers in a double; send bigger numbers "
           "as strings");
  CHECK(problem_of(R"({"x":-9223372036854775809})").starts_with("a number out of range at offset 5 (-9223372036854775809)"));
  CHECK(problem_of(R"({"x":1,"y":[1e400]})").starts_with("a number out of range at offset 12 (1e400)"));
  CHECK(problem_of(std::string(100000, '[') + std::string(100000, ']'))
        == "nesting too deep: depth 1025 at offset 1024, the limit is 1024 levels of objects "
           "and arrays");
  std::string objects;
  for (int i = 0; i < 2000; ++i)
    objects += R"({"a":)";
  CHECK(problem_of(objects + "1" + std::string(2000, '}')).starts_with("nesting too deep: depth 1025 at offset 5120"));
  CHECK(problem_of(R"({"x":1,})").starts_with("invalid JSON at offset 7 (expected '\"' to start an object key): "));
  CHECK(problem_of(R"({"x" 1})").starts_with("invalid JSON at offset 5 (expected ':' after an object key): "));
  CHECK(problem_of(R"({"x":1 "y":2})").starts_with("invalid JSON at offset 7 (expected ',' or '}', found '\"'): "));
  CHECK(problem_of(R"({"x":"abc)").starts_with("invalid JSON at offset 5 (a string that is never closed): "));
  CHECK(problem_of("{\"x\":\"a\tb\"}").starts_with("invalid JSON at offset 7 (a control character inside a string"));
  CHECK(problem_of(R"({"x":tru})").starts_with("invalid JSON at offset 5 (unexpected 't' where a value should be): "));
  CHECK(problem_of(R"({"x":1} {"y":2})").starts_with("invalid JSON at offset 8 (more text after the JSON value): "));
  CHECK(problem_of("not json").starts_with("invalid JSON at offset 0 (unexpected 'n' where a value should be): "));
  CHECK(problem_of("{\"x\":\"\xff\"}") == "invalid UTF-8 at offset 6: JSON text must be UTF-8");
  CHECK(problem_of("  ") == "the message is empty (no JSON value)");
  CHECK(problem_of("[1,2]") == "it is JSON but not an object: an array (funboost messages are "
                               "objects like {\"x\":1,\"y\":2,\"extra\":{...}})");
  CHECK(problem_of(R"("text")").starts_with("it is JSON but not an object: a string"));
}

TEST_CASE("a body's bytes never reach the log raw through its description (found by "
          "fuzz_message)") {
  // The description is logged as it is: the first byte of a character after '\\' broke the
  // line's UTF-8, a newline after it started a new line.
  CHECK(problem_of("{\"x\":\"\\\xc3\xa9\"}").starts_with(
    "invalid JSON at offset 6 (an unknown escape \\\\xc3 inside a string): "));
  CHECK(problem_of("{\"x\":\"\\\n\"}").starts_with(
    "invalid JSON at offset 6 (an unknown escape \\\\n inside a string): "));
  CHECK(problem_of(R"({"x":"\q"})").starts_with("invalid JSON at offset 6 (an unknown escape \\q "));
}

TEST_CASE("redact_url gives one clean line whatever bytes the URL holds (found by the URL fuzz "
          "targets)") {
  // A NUL cut exception texts short, a newline started a forged log line.
  using namespace std::string_literals;
  CHECK(redact_url("amqp://guest:gu\0\0@h\n:1/"s) == "amqp://guest:***@h\\n:1/");
  CHECK(redact_url("redis://h:63\0\n79/7"s) == "redis://h:63\\x00\\n79/7");
  CHECK(redact_url("redis://h/\xff") == "redis://h/\\xff");
}

TEST_CASE("find_json_problem finds nothing wrong in JSON the parser accepts") {
  for (const char* ok : {R"({"x":1,"y":[1.5e3,-0,true,false,null,"\u00e9\ud83d\ude00"],"z":{}})",
                         "[]", " 0 ", R"({"x":18446744073709551615,"y":-9223372036854775808})",
                         R"({"tiny":1e-400})"}) {
    CAPTURE(ok);
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    REQUIRE_FALSE(parser.parse(std::string{ok}).get(root));
    CHECK_FALSE(funboost::detail::find_json_problem(ok, parser.max_depth()).found);
  }
}
