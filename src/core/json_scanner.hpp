// A minimal scanner over JSON text: just enough to find where a message's members and its
// "extra" object sit, to edit a message without re-encoding it (a parse and re-encode would
// change number formatting and key order, which funboost's tools display).
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace funboost::detail {

class json_scanner {
public:
  explicit json_scanner(std::string_view text) : s_(text) {}

  std::size_t pos() const { return i_; }
  bool done() const { return i_ >= s_.size(); }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_space() {
    while (i_ < s_.size()
           && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t'))
      ++i_;
  }
  bool eat(char c) {
    skip_space();
    if (peek() != c)
      return false;
    ++i_;
    return true;
  }

  /// A string token; returns its raw text between the quotes (escapes left as they are).
  std::optional<std::string_view> string() {
    skip_space();
    if (peek() != '"')
      return std::nullopt;
    auto start = ++i_;
    while (i_ < s_.size() && s_[i_] != '"')
      i_ += s_[i_] == '\\' ? 2 : 1;
    if (i_ >= s_.size())
      return std::nullopt;
    return s_.substr(start, i_++ - start);
  }

  /// Skips one value of any kind; nesting is followed by a depth count, not recursion, so a
  /// hostile message cannot exhaust the stack.
  bool skip_value() {
    skip_space();
    std::size_t depth = 0;
    do {
      if (done())
        return false;
      char c = peek();
      if (c == '"') {
        if (!string())
          return false;
      } else if (c == '{' || c == '[') {
        ++depth;
        ++i_;
      } else if (c == '}' || c == ']') {
        if (depth == 0)
          return false;
        --depth;
        ++i_;
      } else {
        ++i_; // numbers, literals, commas and colons inside containers
      }
      skip_space();
      // A scalar at depth 0 ends at the next separator.
      if (depth == 0 && (peek() == ',' || peek() == '}' || peek() == ']'))
        return true;
    } while (depth > 0 || !done());
    return depth == 0;
  }

private:
  std::string_view s_;
  std::size_t i_ = 0;
};

/// `body` without the members of its "extra" object named in `keys` (the rest byte for byte).
/// A body that is not a JSON object, or has no such member, comes back unchanged.
std::string without_extra_keys(std::string_view body, std::initializer_list<std::string_view> keys);

} // namespace funboost::detail
