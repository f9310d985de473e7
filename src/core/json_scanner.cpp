#include "core/json_scanner.hpp"

#include <algorithm>
#include <utility>
#include <vector>

namespace funboost::detail {

namespace {

/// A raw key (escapes as written) decoded far enough to compare with ASCII names: a producer
/// may write "count\u0064own", which every JSON reader takes for "countdown". Non-ASCII
/// escapes become '?' (no ASCII name matches them).
std::string decoded_key(std::string_view raw) {
  std::string out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\' || i + 1 >= raw.size()) {
      out.push_back(raw[i]);
      continue;
    }
    char c = raw[++i];
    if (c != 'u') {
      out.push_back(c == 'b' ? '\b' : c == 'f' ? '\f' : c == 'n' ? '\n' : c == 'r' ? '\r'
                    : c == 't' ? '\t' : c);
      continue;
    }
    unsigned code = 0;
    for (int k = 0; k < 4 && i + 1 < raw.size(); ++k) {
      char h = raw[++i];
      code = code * 16 + static_cast<unsigned>(h >= 'a' ? h - 'a' + 10 : h >= 'A' ? h - 'A' + 10 : h - '0');
    }
    out.push_back(code < 0x80 ? static_cast<char>(code) : '?');
  }
  return out;
}

bool named_in(std::string_view raw, std::initializer_list<std::string_view> keys) {
  if (raw.find('\\') == std::string_view::npos)
    return std::find(keys.begin(), keys.end(), raw) != keys.end();
  auto key = decoded_key(raw);
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

/// `body` with the members named in `keys` left out of the object whose '{' `sc` is at.
std::string without_members(std::string_view body, json_scanner sc,
                            std::initializer_list<std::string_view> keys) {
  sc.eat('{');
  auto open = sc.pos(); // just after '{'
  if (sc.eat('}'))
    return std::string{body};
  std::vector<std::pair<std::size_t, std::size_t>> kept; // [start, end) of each member kept
  bool removed = false;
  for (;;) {
    auto start = sc.pos(); // with the whitespace before the member, as the producer wrote it
    auto key = sc.string();
    if (!key || !sc.eat(':') || !sc.skip_value())
      return std::string{body};
    if (named_in(*key, keys))
      removed = true;
    else
      kept.emplace_back(start, sc.pos());
    if (sc.eat(','))
      continue;
    if (sc.eat('}'))
      break;
    return std::string{body};
  }
  if (!removed)
    return std::string{body};
  auto close = sc.pos() - 1; // the object's '}'
  std::string out{body.substr(0, open)};
  for (std::size_t i = 0; i < kept.size(); ++i) {
    auto member = body.substr(kept[i].first, kept[i].second - kept[i].first);
    if (i == 0) // no space after '{' when the first member went: `{"b": 2}`, not `{ "b": 2}`
      member.remove_prefix(std::min(member.find_first_not_of(" \t\r\n"), member.size()));
    else
      out.push_back(',');
    out.append(member);
  }
  out.append(body.substr(close));
  return out;
}

} // namespace

std::string without_extra_keys(std::string_view body,
                               std::initializer_list<std::string_view> keys) {
  json_scanner sc{body};
  if (!sc.eat('{') || sc.eat('}'))
    return std::string{body};
  for (;;) {
    auto key = sc.string();
    if (!key || !sc.eat(':'))
      return std::string{body};
    sc.skip_space();
    if (named_in(*key, {"extra"}) && sc.peek() == '{')
      return without_members(body, sc, keys);
    if (!sc.skip_value() || !sc.eat(','))
      return std::string{body}; // the end, or not JSON: no extra to edit
  }
}

} // namespace funboost::detail
