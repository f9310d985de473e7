#include "core/json_problem.hpp"

#include <charconv>
#include <cstdint>
#include <vector>

#include <funboost/codec.hpp>

#include "core/hex_digit.hpp"
#include "core/log_text.hpp"

namespace funboost::detail {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

/// A double literal that does not fit: true for overflow (1e400), false for underflow
/// (1e-400, which parsers read as 0). `literal` is a valid JSON number.
bool overflows_double(std::string_view literal) {
  double ignored = 0;
  auto res = std::from_chars(literal.data(), literal.data() + literal.size(), ignored);
  if (res.ec != std::errc::result_out_of_range)
    return false;
  // The decimal magnitude: digits before the point (leading zeros aside) plus the exponent.
  long long magnitude = 0;
  std::size_t i = literal.starts_with('-') ? 1 : 0;
  bool leading = true;
  for (; i < literal.size() && is_digit(literal[i]); ++i) {
    leading = leading && literal[i] == '0';
    if (!leading)
      ++magnitude;
  }
  if (leading && i < literal.size() && literal[i] == '.')
    for (++i; i < literal.size() && literal[i] == '0'; ++i)
      --magnitude; // 0.000123: the point moves right
  auto e = literal.find_first_of("eE");
  if (e != std::string_view::npos) {
    long long exponent = 0;
    auto digits = literal.substr(e + 1);
    bool negative = digits.starts_with('-');
    if (digits.starts_with('-') || digits.starts_with('+'))
      digits.remove_prefix(1);
    for (char c : digits)
      exponent = std::min<long long>(exponent * 10 + (c - '0'), 1'000'000'000);
    magnitude += negative ? -exponent : exponent;
  }
  return magnitude > 0;
}

/// An integer literal outside int64 (negative) or uint64 (positive), as simdjson refuses it.
bool overflows_integer(std::string_view literal) {
  std::errc ec{};
  if (literal.starts_with('-')) {
    int64_t v = 0;
    ec = std::from_chars(literal.data(), literal.data() + literal.size(), v).ec;
  } else {
    uint64_t v = 0;
    ec = std::from_chars(literal.data(), literal.data() + literal.size(), v).ec;
  }
  return ec == std::errc::result_out_of_range;
}

/// One pass over the text with an explicit stack of open containers: 100,000 levels of
/// nesting cost a vector, not the thread's stack.
class walker {
public:
  walker(std::string_view text, std::size_t max_depth) : text_(text), max_depth_(max_depth) {}

  json_problem run() {
    skip_space();
    if (pos_ == text_.size()) {
      fail(pos_, "no JSON value, the text is empty or blank");
      return problem_;
    }
    bool want_value = true;
    while (!problem_.found) {
      if (want_value) {
        want_value = value();
        continue;
      }
      if (!after_value())
        break;
      want_value = !closed_;
    }
    return problem_;
  }

private:
  /// Reads one value, or opens a container. Returns true when a value is wanted next (an
  /// opened container that is not empty), false when a value ended.
  bool value() {
    skip_space();
    if (pos_ == text_.size())
      return fail(pos_, "unexpected end of the text where a value should be");
    char c = text_[pos_];
    if (c == '{' || c == '[') {
      if (stack_.size() + 1 > max_depth_) {
        problem_.too_deep = true;
        return fail(pos_, "nesting too deep");
      }
      stack_.push_back(c);
      ++pos_;
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == (c == '{' ? '}' : ']')) {
        ++pos_;
        stack_.pop_back();
        return false;
      }
      return c == '{' ? member_key() : true;
    }
    if (c == '"')
      string();
    else if (c == '-' || is_digit(c))
      number();
    else if (c == 't')
      word("true");
    else if (c == 'f')
      word("false");
    else if (c == 'n')
      word("null");
    else
      fail(pos_, "unexpected " + shown(c) + " where a value should be");
    return false;
  }

  /// After a value: the end, a ',' or the container's closing bracket. Returns false when the
  /// walk is over (the end of the text or a problem); sets closed_ when a container closed.
  bool after_value() {
    closed_ = false;
    skip_space();
    if (stack_.empty()) {
      if (pos_ != text_.size())
        fail(pos_, "more text after the JSON value");
      return false;
    }
    char close = stack_.back() == '{' ? '}' : ']';
    if (pos_ == text_.size())
      return fail(pos_, std::string{"unexpected end of the text, '"} + close + "' is missing");
    if (text_[pos_] == close) {
      ++pos_;
      stack_.pop_back();
      closed_ = true;
      return true;
    }
    if (text_[pos_] != ',')
      return fail(pos_, std::string{"expected ',' or '"} + close + "', found " + shown(text_[pos_]));
    ++pos_;
    if (stack_.back() == '{')
      return member_key();
    return true;
  }

  /// `"key" :` inside an object.
  bool member_key() {
    skip_space();
    if (pos_ == text_.size() || text_[pos_] != '"')
      return fail(pos_, "expected '\"' to start an object key");
    if (!string())
      return false;
    skip_space();
    if (pos_ == text_.size() || text_[pos_] != ':')
      return fail(pos_, "expected ':' after an object key");
    ++pos_;
    return true;
  }

  bool string() {
    auto start = pos_++;
    while (pos_ < text_.size()) {
      auto c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c == '\\') {
        if (!escape())
          return false;
        continue;
      }
      if (c < 0x20)
        return fail(pos_, "a control character inside a string (write it as \\u00XX)");
      auto len = utf8_char_length(text_, pos_);
      if (len == 0)
        return fail(pos_, "invalid UTF-8 inside a string");
      pos_ += len;
    }
    return fail(start, "a string that is never closed");
  }

  bool escape() {
    auto at = pos_;
    if (pos_ + 1 >= text_.size())
      return fail(at, "an escape at the end of the text");
    char e = text_[pos_ + 1];
    if (e != 'u') {
      if (std::string_view{"\"\\/bfnrt"}.find(e) == std::string_view::npos)
        return fail(at, "an unknown escape \\" + escape_for_log(std::string_view{&e, 1})
                          + " inside a string"); // e may be any byte: keep the line clean
      pos_ += 2;
      return true;
    }
    int code = unicode_escape(pos_);
    if (code < 0)
      return fail(at, "\\u must be followed by four hex digits");
    pos_ += 6;
    if (code >= 0xDC00 && code <= 0xDFFF)
      return fail(at, "a lone low surrogate \\u escape");
    if (code >= 0xD800 && code <= 0xDBFF) {
      int low = text_.substr(pos_).starts_with("\\u") ? unicode_escape(pos_) : -1;
      if (low < 0xDC00 || low > 0xDFFF)
        return fail(at, "a high surrogate \\u escape without its low surrogate");
      pos_ += 6;
    }
    return true;
  }

  /// The code of "\uXXXX" at `at`, or -1.
  int unicode_escape(std::size_t at) const {
    if (at + 6 > text_.size())
      return -1;
    int code = 0;
    for (std::size_t i = at + 2; i < at + 6; ++i) {
      int d = detail::hex_digit(text_[i]);
      if (d < 0)
        return -1;
      code = code * 16 + d;
    }
    return code;
  }

  bool number() {
    auto start = pos_;
    auto digits = [&] {
      auto from = pos_;
      while (pos_ < text_.size() && is_digit(text_[pos_]))
        ++pos_;
      return pos_ > from;
    };
    if (text_[pos_] == '-')
      ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '0')
      ++pos_;
    else if (!digits())
      return fail(start, "a number without digits");
    bool integer = true;
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      integer = false;
      if (!digits())
        return fail(start, "a number with no digit after '.'");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      integer = false;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-'))
        ++pos_;
      if (!digits())
        return fail(start, "a number with no digit in its exponent");
    }
    auto literal = text_.substr(start, pos_ - start);
    if (integer ? overflows_integer(literal) : overflows_double(literal)) {
      problem_.number_out_of_range = true;
      return fail(start, "a number out of range");
    }
    return true;
  }

  void word(std::string_view w) {
    if (text_.substr(pos_, w.size()) == w)
      pos_ += w.size();
    else
      fail(pos_, "unexpected " + shown(text_[pos_]) + " where a value should be");
  }

  void skip_space() {
    while (pos_ < text_.size()
           && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n'
               || text_[pos_] == '\r'))
      ++pos_;
  }

  /// A character as a log line may show it: 'x', or \xNN for bytes that are not printable.
  static std::string shown(char c) {
    std::string out{"'"}; // (built in steps: GCC 12 warns falsely on "'" + std::string&&)
    out += escape_for_log(std::string_view{&c, 1});
    out += '\'';
    return out;
  }

  bool fail(std::size_t at, std::string what) {
    problem_.found = true;
    problem_.offset = at;
    problem_.what = std::move(what);
    problem_.depth = stack_.size() + (problem_.too_deep ? 1 : 0);
    return false;
  }

  std::string_view text_;
  std::size_t max_depth_;
  std::size_t pos_ = 0;
  std::vector<char> stack_; // '{' or '[' of every open container
  bool closed_ = false;
  json_problem problem_;
};

/// The number at `offset`, shortened for a log line.
std::string number_at(std::string_view text, std::size_t offset) {
  auto end = text.find_first_not_of("+-0123456789.eE", offset);
  auto literal = text.substr(offset, end == std::string_view::npos ? end : end - offset);
  if (literal.size() > 40)
    return std::string{literal.substr(0, 40)} + "... (" + std::to_string(literal.size())
           + " characters)";
  return std::string{literal};
}

std::size_t first_invalid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    auto len = utf8_char_length(text, i);
    if (len == 0)
      return i;
    i += len;
  }
  return text.size();
}

} // namespace

json_problem find_json_problem(std::string_view text, std::size_t max_depth) {
  return walker{text, max_depth}.run();
}

std::string describe_json_error(std::string_view text, simdjson::error_code error,
                                std::size_t max_depth) {
  std::string parser_says = simdjson::error_message(error);
  if (error == simdjson::EMPTY)
    return "the message is empty (no JSON value)";
  if (error == simdjson::UTF8_ERROR)
    return "invalid UTF-8 at offset " + std::to_string(first_invalid_utf8(text))
           + ": JSON text must be UTF-8";
  auto p = find_json_problem(text, max_depth);
  auto at = [&] { return " at offset " + std::to_string(p.offset); };
  if (p.too_deep)
    return "nesting too deep: depth " + std::to_string(p.depth) + at() + ", the limit is "
           + std::to_string(max_depth) + " levels of objects and arrays";
  if (error == simdjson::DEPTH_ERROR)
    return "nesting too deep: more than " + std::to_string(max_depth)
           + " levels of objects and arrays";
  if (p.number_out_of_range)
    return "a number out of range" + at() + " (" + number_at(text, p.offset)
           + "): integers must fit in 64 bits (-2^63 to 2^64-1) and other numbers in a "
             "double; send bigger numbers as strings";
  if (p.found)
    return "invalid JSON" + at() + " (" + p.what + "): " + parser_says;
  return "invalid JSON: " + parser_says;
}

bool parse_message(simdjson::dom::parser& parser, const std::string& body,
                   simdjson::dom::object& out, std::string& problem) {
  simdjson::dom::element root;
  if (auto error = parser.parse(body).get(root)) {
    problem = describe_json_error(body, error, parser.max_depth());
    return false;
  }
  if (root.get_object().get(out)) {
    problem = "it is JSON but not an object: " + json_type_name(root.type())
              + " (funboost messages are objects like {\"x\":1,\"y\":2,\"extra\":{...}})";
    return false;
  }
  return true;
}

} // namespace funboost::detail
