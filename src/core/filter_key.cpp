#include "core/filter_key.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include <funboost/codec.hpp>

namespace funboost::detail {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

constexpr char hex_digits[] = "0123456789abcdef";

void append_u_escape(std::string& out, uint32_t unit) {
  char esc[] = {'\\', 'u', hex_digits[(unit >> 12) & 0xf], hex_digits[(unit >> 8) & 0xf],
                hex_digits[(unit >> 4) & 0xf], hex_digits[unit & 0xf]};
  out.append(esc, sizeof(esc));
}

/// Decodes one UTF-8 sequence at `text[i]`; advances `i`. An invalid sequence gives U+FFFD and
/// skips one byte.
uint32_t next_code_point(std::string_view text, std::size_t& i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char lead = byte(i);
  if (lead < 0x80) {
    ++i;
    return lead;
  }
  // The number of continuation bytes; -1 for a byte that cannot start a sequence.
  int extra = lead >= 0xf5 ? -1 : lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : lead >= 0xc2 ? 1 : -1;
  if (extra < 0 || i + static_cast<std::size_t>(extra) >= text.size()) {
    ++i;
    return 0xfffd;
  }
  uint32_t cp = lead & (0x3f >> extra);
  for (int k = 1; k <= extra; ++k) {
    unsigned char c = byte(i + static_cast<std::size_t>(k));
    if ((c & 0xc0) != 0x80) {
      ++i;
      return 0xfffd;
    }
    cp = (cp << 6) | (c & 0x3f);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
  static constexpr uint32_t smallest[] = {0, 0x80, 0x800, 0x10000};
  if (cp < smallest[extra] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
    ++i;
    return 0xfffd;
  }
  i += static_cast<std::size_t>(extra) + 1;
  return cp;
}

void write_value(std::string& out, element value);

/// An object's members as Python's dict holds them: a repeated key keeps the place of its first
/// occurrence and the value of its last. `skip_extra` leaves out the top-level "extra".
std::vector<std::pair<std::string_view, element>> members(simdjson::dom::object object,
                                                          bool skip_extra) {
  std::vector<std::pair<std::string_view, element>> out;
  out.reserve(object.size());
  std::unordered_map<std::string_view, std::size_t> index; // used past a few members only
  constexpr std::size_t linear_limit = 16;
  for (auto field : object) {
    if (skip_extra && field.key == "extra")
      continue;
    std::size_t at = out.size();
    if (out.size() < linear_limit) {
      for (std::size_t k = 0; k < out.size(); ++k)
        if (out[k].first == field.key) {
          at = k;
          break;
        }
    } else {
      if (index.empty())
        for (std::size_t k = 0; k < out.size(); ++k)
          index.emplace(out[k].first, k);
      auto [it, added] = index.emplace(field.key, out.size());
      if (!added)
        at = it->second;
    }
    if (at == out.size())
      out.emplace_back(field.key, field.value);
    else
      out[at].second = field.value;
  }
  return out;
}

void write_members(std::string& out, const std::vector<std::pair<std::string_view, element>>& m) {
  out.push_back('{');
  bool first = true;
  for (const auto& [key, value] : m) {
    if (!first)
      out.append(", ");
    first = false;
    append_python_json_string(out, key);
    out.append(": ");
    write_value(out, value);
  }
  out.push_back('}');
}

void write_value(std::string& out, element value) {
  json_writer w{out};
  switch (value.type()) {
    case element_type::OBJECT:
      // json.dumps without sort_keys: nested objects keep the message's order.
      write_members(out, members(value.get_object().value_unsafe(), false));
      break;
    case element_type::ARRAY: {
      simdjson::dom::array array = value.get_array().value_unsafe(); // a copy: the result dies
      out.push_back('[');
      bool first = true;
      for (auto item : array) {
        if (!first)
          out.append(", ");
        first = false;
        write_value(out, item);
      }
      out.push_back(']');
      break;
    }
    case element_type::INT64:
      w.integer(value.get_int64().value_unsafe());
      break;
    case element_type::UINT64:
      w.integer(value.get_uint64().value_unsafe());
      break;
    case element_type::DOUBLE:
      // JSON has no NaN or infinity, so repr() is json.dumps's text here.
      out.append(python_float_repr(value.get_double().value_unsafe()));
      break;
    case element_type::STRING:
      append_python_json_string(out, value.get_string().value_unsafe());
      break;
    case element_type::BOOL:
      w.boolean(value.get_bool().value_unsafe());
      break;
    case element_type::NULL_VALUE:
      w.null();
      break;
  }
}

} // namespace

void append_python_json_string(std::string& out, std::string_view utf8) {
  out.push_back('"');
  std::size_t i = 0;
  while (i < utf8.size()) {
    auto c = static_cast<unsigned char>(utf8[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      // A run of printable ASCII in one append.
      std::size_t end = i + 1;
      while (end < utf8.size()) {
        auto d = static_cast<unsigned char>(utf8[end]);
        if (d < 0x20 || d >= 0x7f || d == '"' || d == '\\')
          break;
        ++end;
      }
      out.append(utf8.data() + i, end - i);
      i = end;
      continue;
    }
    switch (c) {
      case '"':
        out.append("\\\"");
        ++i;
        continue;
      case '\\':
        out.append("\\\\");
        ++i;
        continue;
      case '\n':
        out.append("\\n");
        ++i;
        continue;
      case '\r':
        out.append("\\r");
        ++i;
        continue;
      case '\t':
        out.append("\\t");
        ++i;
        continue;
      case '\b':
        out.append("\\b");
        ++i;
        continue;
      case '\f':
        out.append("\\f");
        ++i;
        continue;
      default:
        break;
    }
    uint32_t cp = next_code_point(utf8, i);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      append_u_escape(out, 0xd800 | (cp >> 10));
      append_u_escape(out, 0xdc00 | (cp & 0x3ff));
    } else {
      append_u_escape(out, cp);
    }
  }
  out.push_back('"');
}

std::string python_float_repr(double value) {
  if (std::isnan(value))
    return "nan";
  if (std::isinf(value))
    return value < 0 ? "-inf" : "inf";
  // The shortest digits that read back to `value` (Python's repr picks the same ones: the
  // shortest, and of those the closest), laid out by Python's rules below.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific);
  std::string_view text{buf, static_cast<std::size_t>(res.ptr - buf)};
  std::string out;
  if (text.front() == '-') {
    out.push_back('-');
    text.remove_prefix(1);
  }
  auto e = text.find('e');
  std::string digits;
  for (char c : text.substr(0, e))
    if (c != '.')
      digits.push_back(c);
  auto exp_text = text.substr(e + 1);
  bool negative_exp = exp_text.front() == '-';
  exp_text.remove_prefix(1); // the sign: to_chars always writes one
  int exponent = 0;
  std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exponent);
  if (negative_exp)
    exponent = -exponent;
  // value = 0.DIGITS x 10^decpt, as CPython's float_repr_style 'short' counts it.
  int decpt = exponent + 1;
  auto n = static_cast<int>(digits.size());
  if (decpt <= -4 || decpt > 16) {
    out.push_back(digits[0]);
    if (n > 1) {
      out.push_back('.');
      out.append(digits, 1);
    }
    out.push_back('e');
    out.push_back(exponent < 0 ? '-' : '+');
    int magnitude = exponent < 0 ? -exponent : exponent;
    if (magnitude < 10)
      out.push_back('0');
    out.append(std::to_string(magnitude));
  } else if (decpt <= 0) {
    out.append("0.");
    out.append(static_cast<std::size_t>(-decpt), '0');
    out.append(digits);
  } else if (decpt < n) {
    out.append(digits, 0, static_cast<std::size_t>(decpt));
    out.push_back('.');
    out.append(digits, static_cast<std::size_t>(decpt));
  } else {
    out.append(digits);
    out.append(static_cast<std::size_t>(decpt - n), '0');
    out.append(".0");
  }
  return out;
}

std::string filter_value(simdjson::dom::object message) {
  auto args = members(message, true);
  // Python's sorted() on str: by code point, which is the byte order of UTF-8. Keys are unique
  // here, so the order is total.
  std::sort(args.begin(), args.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out;
  write_members(out, args);
  return out;
}

std::optional<std::string> filter_str_override(simdjson::dom::object message) {
  simdjson::dom::object extra;
  if (message["extra"].get_object().get(extra))
    return std::nullopt;
  element value;
  if (extra["filter_str"].get(value))
    return std::nullopt;
  std::string out;
  json_writer w{out};
  switch (value.type()) {
    case element_type::STRING: {
      auto text = value.get_string().value_unsafe();
      if (text.empty())
        return std::nullopt;
      return std::string{text};
    }
    case element_type::INT64:
      if (value.get_int64().value_unsafe() == 0)
        return std::nullopt;
      w.integer(value.get_int64().value_unsafe());
      return out;
    case element_type::UINT64: // never 0: simdjson gives int64 for what fits
      w.integer(value.get_uint64().value_unsafe());
      return out;
    case element_type::DOUBLE: {
      double d = value.get_double().value_unsafe();
      if (d == 0)
        return std::nullopt;
      return python_float_repr(d);
    }
    default:
      return std::nullopt;
  }
}

std::string task_filter_value(simdjson::dom::object message) {
  if (auto text = filter_str_override(message))
    return std::move(*text);
  return filter_value(message);
}

} // namespace funboost::detail
