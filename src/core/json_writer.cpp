#include <funboost/codec.hpp>

#include <cmath>
#include <cstdio>
#include <cxxabi.h>
#include <memory>
#include <typeinfo>

#include <funboost/function_binding.hpp>
#include <funboost/task_exceptions.hpp>

namespace funboost {

namespace {
bool needs_escape(char c) {
  return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
}
} // namespace

void json_writer::string(std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  out_.push_back('"');
  std::size_t run = 0; // start of the pending run of characters that need no escaping
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (!needs_escape(c))
      continue; // UTF-8 and plain ASCII pass through in one append below
    out_.append(text.data() + run, i - run);
    run = i + 1;
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
      default: {
        auto u = static_cast<unsigned char>(c);
        char esc[] = {'\\', 'u', '0', '0', hex[u >> 4], hex[u & 0xf]};
        out_.append(esc, sizeof(esc));
      }
    }
  }
  out_.append(text.data() + run, text.size() - run);
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

void describe_current_exception(call_outcome& out) {
  auto& type = out.exception_type;
  auto& message = out.exception_message;
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
  } catch (const requeue_task& e) {
    message = e.what();
    out.asked = call_outcome::request::requeue;
  } catch (const dead_letter& e) {
    message = e.what();
    out.asked = call_outcome::request::dead_letter;
  } catch (const std::exception& e) {
    message = e.what();
  } catch (...) {
    message = "(not a std::exception)";
  }
}

} // namespace detail

} // namespace funboost
