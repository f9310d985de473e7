// JSON encoding and decoding of function arguments and results in funboost's wire format.
//
// Supported out of the box: integers, floating point, bool, std::string, std::vector<T>,
// std::map<std::string, T>, std::optional<T> and any nesting of them.
//
// The one customization point for your own types is funboost::fields<T>: list the members
// and their JSON names, and T encodes and decodes like any built-in type:
//
//   struct point { int x; int y; };
//   template <> struct funboost::fields<point> {
//     static constexpr const char* name = "point";          // used in error messages
//     static constexpr auto list = std::make_tuple(funboost::field("x", &point::x),
//                                                  funboost::field("y", &point::y));
//   };
#pragma once

#include <charconv>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

#include <simdjson.h>

namespace funboost {

// -- the customization point --------------------------------------------------------------

template <class Class, class Member>
struct field_ref {
  const char* name;
  Member Class::*member;
};

/// Names one member of a user type for funboost::fields<T>.
template <class Class, class Member>
constexpr field_ref<Class, Member> field(const char* name, Member Class::*member) {
  return {name, member};
}

/// Specialize with `static constexpr auto list = std::make_tuple(field(...), ...)` and
/// optionally `static constexpr const char* name`.
template <class T>
struct fields;

namespace detail {
template <class T, class = void>
struct has_fields : std::false_type {};
template <class T>
struct has_fields<T, std::void_t<decltype(fields<T>::list)>> : std::true_type {};
template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};
template <class T>
struct is_string_map : std::false_type {};
template <class T, class C, class A>
struct is_string_map<std::map<std::string, T, C, A>> : std::true_type {};
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
} // namespace detail

// -- type names for error messages --------------------------------------------------------

template <class T>
std::string type_name() {
  using detail::is_optional;
  if constexpr (std::is_same_v<T, bool>) {
    return "bool";
  } else if constexpr (std::is_integral_v<T>) {
    return std::string{std::is_signed_v<T> ? "int" : "uint"} + std::to_string(8 * sizeof(T));
  } else if constexpr (std::is_floating_point_v<T>) {
    return sizeof(T) == 4 ? "float" : "double";
  } else if constexpr (std::is_same_v<T, std::string>) {
    return "string";
  } else if constexpr (detail::is_vector<T>::value) {
    return "vector<" + type_name<typename T::value_type>() + ">";
  } else if constexpr (detail::is_string_map<T>::value) {
    return "map<string, " + type_name<typename T::mapped_type>() + ">";
  } else if constexpr (is_optional<T>::value) {
    return "optional<" + type_name<typename T::value_type>() + ">";
  } else if constexpr (detail::has_fields<T>::value) {
    if constexpr (requires { fields<T>::name; })
      return fields<T>::name;
    else
      return "object";
  } else {
    static_assert(sizeof(T) == 0, "funboost: no JSON codec for this type; specialize "
                                  "funboost::fields<T> (see funboost/codec.hpp)");
  }
}

// -- errors -------------------------------------------------------------------------------

/// A value in a message does not fit the parameter type. `path` is the argument name and
/// any nested position, e.g. "points[2].y".
class decode_error : public std::runtime_error {
public:
  decode_error(std::string path, std::string expected, std::string found)
    : std::runtime_error("argument '" + path + "' expected " + expected + " but the message has "
                         + found),
      path_(std::move(path)), expected_(std::move(expected)), found_(std::move(found)) {}
  const std::string& path() const noexcept { return path_; }
  const std::string& expected() const noexcept { return expected_; }
  const std::string& found() const noexcept { return found_; }

  /// A key of the message that names none of the function's parameters. Python funboost's
  /// consumer fails such a task too (a TypeError for the unexpected keyword argument), so a
  /// misspelt argument is never silently dropped.
  static decode_error unknown_argument(const std::string& name,
                                       const std::vector<std::string>& parameters) {
    std::string list;
    for (const auto& p : parameters)
      list += (list.empty() ? "" : ", ") + p;
    return decode_error{whole_text{},
                        "unknown argument '" + name + "': the function takes (" + list
                          + "); remove it from the message or fix its name",
                        name};
  }

private:
  struct whole_text {};
  decode_error(whole_text, const std::string& text, std::string path)
    : std::runtime_error(text), path_(std::move(path)), expected_("a parameter of the function"),
      found_("an unknown argument") {}

  std::string path_, expected_, found_;
};

// -- writing ------------------------------------------------------------------------------

/// Appends compact JSON to a string. Numbers use the shortest exact representation.
class json_writer {
public:
  explicit json_writer(std::string& out) : out_(out) {}

  void raw(std::string_view text) { out_.append(text); }
  void string(std::string_view text); // quoted and escaped
  void key(std::string_view name) {
    string(name);
    out_.push_back(':');
  }
  void null() { out_.append("null"); }
  void boolean(bool b) { out_.append(b ? "true" : "false"); }
  template <class I>
  void integer(I value) {
    char buf[24];
    auto res = std::to_chars(buf, buf + sizeof(buf), value);
    out_.append(buf, res.ptr);
  }
  void number(double value); // non-finite values become null, as JSON has no NaN
  std::string& buffer() { return out_; }

private:
  std::string& out_;
};

template <class T>
void encode(json_writer& w, const T& value) {
  if constexpr (std::is_same_v<T, bool>) {
    w.boolean(value);
  } else if constexpr (std::is_integral_v<T>) {
    w.integer(value);
  } else if constexpr (std::is_floating_point_v<T>) {
    w.number(static_cast<double>(value));
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    w.string(std::string_view{value});
  } else if constexpr (detail::is_vector<T>::value) {
    w.raw("[");
    bool first = true;
    for (const auto& item : value) {
      if (!first)
        w.raw(",");
      first = false;
      encode(w, item);
    }
    w.raw("]");
  } else if constexpr (detail::is_string_map<T>::value) {
    w.raw("{");
    bool first = true;
    for (const auto& [k, v] : value) {
      if (!first)
        w.raw(",");
      first = false;
      w.key(k);
      encode(w, v);
    }
    w.raw("}");
  } else if constexpr (detail::is_optional<T>::value) {
    if (value)
      encode(w, *value);
    else
      w.null();
  } else if constexpr (detail::has_fields<T>::value) {
    w.raw("{");
    bool first = true;
    std::apply(
      [&](const auto&... f) {
        ((w.raw(first ? "" : ","), first = false, w.key(f.name), encode(w, value.*(f.member))),
         ...);
      },
      fields<T>::list);
    w.raw("}");
  } else {
    (void) type_name<T>(); // triggers the readable static_assert
  }
}

template <class T>
std::string to_json(const T& value) {
  std::string out;
  json_writer w{out};
  encode(w, value);
  return out;
}

// -- reading ------------------------------------------------------------------------------

namespace detail {
std::string json_type_name(simdjson::dom::element_type t);

template <class T>
[[noreturn]] void fail(const std::string& path, simdjson::dom::element value) {
  throw decode_error(path, type_name<T>(), json_type_name(value.type()));
}
} // namespace detail

/// Decodes one JSON value into T, or throws decode_error naming `path`.
template <class T>
void decode(simdjson::dom::element value, const std::string& path, T& out) {
  using simdjson::dom::element_type;
  if constexpr (std::is_same_v<T, bool>) {
    if (!value.is_bool())
      detail::fail<T>(path, value);
    out = value.get_bool().value_unsafe();
  } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    int64_t v;
    if (value.get_int64().get(v))
      detail::fail<T>(path, value);
    if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max())
      throw decode_error(path, type_name<T>(), "the out-of-range number " + std::to_string(v));
    out = static_cast<T>(v);
  } else if constexpr (std::is_integral_v<T>) {
    uint64_t v;
    if (value.get_uint64().get(v))
      detail::fail<T>(path, value);
    if (v > std::numeric_limits<T>::max())
      throw decode_error(path, type_name<T>(), "the out-of-range number " + std::to_string(v));
    out = static_cast<T>(v);
  } else if constexpr (std::is_floating_point_v<T>) {
    double v; // get_double accepts integers too, as Python's json does
    if (value.get_double().get(v))
      detail::fail<T>(path, value);
    out = static_cast<T>(v);
  } else if constexpr (std::is_same_v<T, std::string>) {
    std::string_view v;
    if (value.get_string().get(v))
      detail::fail<T>(path, value);
    out.assign(v);
  } else if constexpr (detail::is_vector<T>::value) {
    simdjson::dom::array arr;
    if (value.get_array().get(arr))
      detail::fail<T>(path, value);
    out.clear();
    out.reserve(arr.size());
    std::size_t i = 0;
    for (auto item : arr) {
      typename T::value_type v{};
      decode(item, path + "[" + std::to_string(i++) + "]", v);
      out.push_back(std::move(v));
    }
  } else if constexpr (detail::is_string_map<T>::value) {
    simdjson::dom::object obj;
    if (value.get_object().get(obj))
      detail::fail<T>(path, value);
    out.clear();
    for (auto [k, v] : obj) {
      typename T::mapped_type m{};
      decode(v, path + "." + std::string{k}, m);
      out.emplace(std::string{k}, std::move(m));
    }
  } else if constexpr (detail::is_optional<T>::value) {
    if (value.is_null()) {
      out.reset();
      return;
    }
    typename T::value_type v{};
    decode(value, path, v);
    out = std::move(v);
  } else if constexpr (detail::has_fields<T>::value) {
    simdjson::dom::object obj;
    if (value.get_object().get(obj))
      detail::fail<T>(path, value);
    std::apply([&](const auto&... f) { (decode_member(obj, path, f, out), ...); },
               fields<T>::list);
  } else {
    (void) type_name<T>();
  }
}

/// Decodes member `f` of a user struct; a missing member is an error unless it is optional.
template <class T, class Class, class Member>
void decode_member(simdjson::dom::object obj, const std::string& path,
                   const field_ref<Class, Member>& f, T& out) {
  simdjson::dom::element member;
  auto member_path = path + "." + f.name;
  if (obj.at_key(f.name).get(member)) {
    if constexpr (detail::is_optional<Member>::value) {
      (out.*(f.member)).reset();
      return;
    } else {
      throw decode_error(member_path, type_name<Member>(), "no such key");
    }
  }
  decode(member, member_path, out.*(f.member));
}

/// Parses a JSON text and decodes it into T. Throws decode_error on any mismatch.
template <class T>
T from_json(std::string_view text) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(text.data(), text.size()).get(root))
    throw decode_error("result", type_name<T>(), "text that is not JSON");
  T out{};
  decode(root, "result", out);
  return out;
}

} // namespace funboost
