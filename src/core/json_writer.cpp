#include <funboost/codec.hpp>

#include <cmath>
#include <cstdio>
#include <cxxabi.h>
#include <memory>
#include <typeinfo>

#include <funboost/function_binding.hpp>

namespace funboost {

void json_writer::string(std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  out_.push_back('"');
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out_.append("\\\"");
        break;
      case '\\':
        out_.append("\\\\");
        break;
      case '\n':
        out_.append("\\n");
        break;
      case '\r':
        out_.append("\\r");
        break;
      case '\t':
        out_.append("\\t");
        break;
      default:
        if (u < 0x20) {
          char esc[] = {'\\', 'u', '0', '0', hex[u >> 4], hex[u & 0xf]};
          out_.append(esc, sizeof(esc));
        } else {
          out_.push_back(c); // UTF-8 passes through unchanged
        }
    }
  }
  out_.push_back('"');
}

void json_writer::number(double value) {
  if (!std::isfinite(value)) {
    null();
    return;
  }
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof(buf), value);
  out_.append(buf, res.ptr);
}

namespace detail {

std::string json_type_name(simdjson::dom::element_type t) {
  using simdjson::dom::element_type;
  switch (t) {
    case element_type::ARRAY:
      return "an array";
    case element_type::OBJECT:
      return "an object";
    case element_type::INT64:
    case element_type::UINT64:
      return "an integer";
    case element_type::DOUBLE:
      return "a floating-point number";
    case element_type::STRING:
      return "a string";
    case element_type::BOOL:
      return "a bool";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "an unknown JSON value";
}

void describe_current_exception(std::string& type, std::string& message) {
  auto* info = abi::__cxa_current_exception_type();
  if (info != nullptr) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> name{
      abi::__cxa_demangle(info->name(), nullptr, nullptr, &status), std::free};
    type = status == 0 && name ? name.get() : info->name();
  } else {
    type = "unknown";
  }
  try {
    throw;
  } catch (const std::exception& e) {
    message = e.what();
  } catch (...) {
    message = "(not a std::exception)";
  }
}

} // namespace detail

} // namespace funboost
