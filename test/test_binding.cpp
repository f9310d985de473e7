// Function binding: arguments decoded by name into every supported parameter type, results
// encoded, and every error path names the argument and the expected type.
#include <doctest/doctest.h>

#include <functional>
#include <stdexcept>

#include <funboost/function_binding.hpp>

namespace {

struct item {
  std::string sku;
  int quantity = 0;
};

} // namespace

template <>
struct funboost::fields<item> {
  static constexpr const char* name = "item";
  static constexpr auto list = std::make_tuple(funboost::field("sku", &item::sku),
                                               funboost::field("quantity", &item::quantity));
};

namespace {

funboost::call_outcome call(const funboost::task_function& fn, const std::string& json) {
  static simdjson::dom::parser parser;
  simdjson::dom::object message = parser.parse(json).get_object();
  return fn(message);
}

template <class R, class... Args, class F>
funboost::task_function bind(F f, std::vector<std::string> names) {
  return funboost::bind_function<R, Args...>(std::move(f), std::move(names));
}

} // namespace

TEST_CASE("every supported parameter type is decoded by argument name") {
  auto fn = bind<std::string, int, double, bool, std::string, std::vector<int>,
                 std::map<std::string, int>, std::optional<int>, std::vector<item>,
                 uint8_t>(
    [](int i, double d, bool b, std::string s, std::vector<int> v, std::map<std::string, int> m,
       std::optional<int> o, std::vector<item> items, uint8_t small) {
      int total = i + static_cast<int>(d * 10) + (b ? 1000 : 0) + static_cast<int>(s.size())
                  + small;
      for (int x : v)
        total += x;
      for (auto& [k, x] : m)
        total += x;
      total += o.value_or(-1);
      for (auto& it : items)
        total += it.quantity;
      return std::to_string(total) + ":" + items.at(1).sku;
    },
    {"i", "d", "b", "s", "v", "m", "o", "items", "small"});
  auto out = call(fn, R"({"s":"abc","i":1,"d":2.5,"b":true,"v":[1,2],"m":{"a":10},)"
                      R"("items":[{"sku":"A","quantity":3},{"sku":"B","quantity":4}],"small":200,)"
                      R"("extra":{"task_id":"t"}})");
  REQUIRE(out.ok);
  // 1 + 25 + 1000 + 3 + 200 + 3 + 10 + (-1, o missing) + 7
  CHECK(out.result_json == "\"1248:B\"");
}

TEST_CASE("floating-point parameters accept JSON integers, as Python's json writes 2 for 2.0") {
  auto fn = bind<double, double>([](double d) { return d / 2; }, {"d"});
  CHECK(call(fn, R"({"d":3})").result_json == "1.5");
}

TEST_CASE("void functions succeed with a null result") {
  int seen = 0;
  auto fn = bind<void, int>([&](int a) { seen = a; }, {"a"});
  auto out = call(fn, R"({"a":9})");
  CHECK(out.ok);
  CHECK(out.result_json == "null");
  CHECK(seen == 9);
}

TEST_CASE("a missing argument is a decode error naming it and its type") {
  auto fn = bind<int, int, int>([](int x, int y) { return x + y; }, {"x", "y"});
  CHECK_THROWS_WITH_AS(call(fn, R"({"x":1})"),
                       "argument 'y' expected int32 but the message has no such key",
                       funboost::decode_error);
}

TEST_CASE("an argument the function does not take is a decode error naming it and the "
          "parameters; extra is funboost's and allowed") {
  auto fn = bind<int, int, int>([](int x, int y) { return x + y; }, {"x", "y"});
  CHECK_THROWS_WITH_AS(call(fn, R"({"x":1,"y":2,"z":3})"),
                       "unknown argument 'z': the function takes (x, y); remove it from the "
                       "message or fix its name",
                       funboost::decode_error);
  CHECK(call(fn, R"({"x":1,"y":2,"extra":{"task_id":"t"}})").result_json == "3");
}

TEST_CASE("a wrong type is a decode error naming argument, expected and found") {
  auto fn = bind<int, int, int>([](int x, int y) { return x + y; }, {"x", "y"});
  try {
    call(fn, R"({"x":"a","y":2})");
    FAIL("expected a decode_error");
  } catch (const funboost::decode_error& e) {
    CHECK(e.path() == "x");
    CHECK(e.expected() == "int32");
    CHECK(e.found() == "a string");
  }
}

TEST_CASE("nested decode errors carry the full path") {
  auto fn = bind<int, std::vector<item>>([](std::vector<item> v) { return int(v.size()); },
                                         {"items"});
  CHECK_THROWS_WITH_AS(call(fn, R"({"items":[{"sku":"A","quantity":1},{"sku":"B","quantity":"x"}]})"),
                       "argument 'items[1].quantity' expected int32 but the message has a string",
                       funboost::decode_error);
  auto maps = bind<int, std::map<std::string, std::vector<bool>>>(
    [](std::map<std::string, std::vector<bool>> m) { return int(m.size()); }, {"m"});
  CHECK_THROWS_WITH_AS(call(maps, R"({"m":{"k":[true,1]}})"),
                       "argument 'm.k[1]' expected bool but the message has an integer",
                       funboost::decode_error);
}

TEST_CASE("integers out of the parameter's range are rejected, not truncated") {
  auto fn = bind<int, int8_t>([](int8_t v) { return int(v); }, {"v"});
  CHECK_THROWS_AS(call(fn, R"({"v":300})"), funboost::decode_error);
  auto u = bind<int, unsigned>([](unsigned v) { return int(v); }, {"v"});
  CHECK_THROWS_AS(call(u, R"({"v":-1})"), funboost::decode_error);
  CHECK(call(fn, R"({"v":-128})").result_json == "-128");
}

TEST_CASE("null is accepted only for optional parameters") {
  auto opt = bind<int, std::optional<int>>([](std::optional<int> v) { return v.value_or(-1); },
                                           {"v"});
  CHECK(call(opt, R"({"v":null})").result_json == "-1");
  auto plain = bind<int, int>([](int v) { return v; }, {"v"});
  CHECK_THROWS_WITH_AS(call(plain, R"({"v":null})"),
                       "argument 'v' expected int32 but the message has null",
                       funboost::decode_error);
}

TEST_CASE("an exception from the function is a failed call with its type and message") {
  auto fn = bind<int, int>(
    [](int v) -> int { throw std::out_of_range("value " + std::to_string(v) + " too big"); },
    {"v"});
  auto out = call(fn, R"({"v":5})");
  CHECK_FALSE(out.ok);
  CHECK(out.exception_type == "std::out_of_range");
  CHECK(out.exception_message == "value 5 too big");
  auto odd = bind<int, int>([](int) -> int { throw 42; }, {"v"});
  auto odd_out = call(odd, R"({"v":5})");
  CHECK_FALSE(odd_out.ok);
  CHECK(odd_out.exception_type == "int");
}

namespace {
struct calculator {
  int base = 100;
  int add(int x) const { return base + x; }
};
int free_function(int a, int b) {
  return a * b;
}
} // namespace

TEST_CASE("signatures are deduced for functions, lambdas, std::function and member pointers") {
  static_assert(std::is_same_v<funboost::signature_of<decltype(&free_function)>::type, int(int, int)>);
  auto lambda = [](std::string s) { return s.size(); };
  static_assert(std::is_same_v<funboost::signature_of<decltype(lambda)>::type,
                               std::size_t(std::string)>);
  static_assert(std::is_same_v<funboost::signature_of<std::function<void(double)>>::type,
                               void(double)>);
  calculator c;
  // Bound member functions name their signature: rt.boost<int(int)>(std::bind_front(...)).
  auto fn = bind<int, int>(std::bind_front(&calculator::add, &c), {"x"});
  CHECK(call(fn, R"({"x":1})").result_json == "101");
}
