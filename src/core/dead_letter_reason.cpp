#include "core/dead_letter_reason.hpp"

#include <cstddef>
#include <optional>

#include <funboost/codec.hpp>

namespace funboost::detail {

namespace {

/// A minimal scanner over JSON text: just enough to find where the top-level object's members
/// and its "extra" object start, without re-encoding the message (a parse and re-encode would
/// change number formatting and key order, which funboost's tools display).
class scanner {
public:
  explicit scanner(std::string_view text) : s_(text) {}

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

} // namespace

std::string with_dead_letter_reason(std::string_view body, std::string_view reason) {
  std::string field;
  json_writer w{field};
  w.string("dead_letter_reason");
  field += ':';
  w.string(reason);

  scanner sc{body};
  if (!sc.eat('{'))
    return std::string{body};
  std::size_t members = 0;
  std::optional<std::size_t> extra_open; // just after extra's '{'
  bool extra_empty = false;
  if (!sc.eat('}')) {
    for (;;) {
      auto key = sc.string();
      if (!key || !sc.eat(':'))
        return std::string{body};
      ++members;
      sc.skip_space();
      if (*key == "extra" && sc.peek() == '{') {
        scanner probe = sc;
        probe.eat('{');
        extra_open = probe.pos();
        extra_empty = probe.eat('}');
      }
      if (!sc.skip_value())
        return std::string{body};
      if (sc.eat(','))
        continue;
      if (sc.eat('}'))
        break;
      return std::string{body};
    }
  }
  auto close = sc.pos() - 1; // the top-level '}'
  sc.skip_space();
  if (!sc.done())
    return std::string{body};

  std::string out{body};
  if (extra_open)
    out.insert(*extra_open, extra_empty ? field : field + ",");
  else
    out.insert(close, (members > 0 ? ",\"extra\":{" : "\"extra\":{") + field + "}");
  return out;
}

} // namespace funboost::detail
