#include "core/dead_letter_reason.hpp"

#include <cstddef>
#include <optional>

#include <funboost/codec.hpp>

#include "core/json_scanner.hpp"

namespace funboost::detail {

std::string with_dead_letter_reason(std::string_view body, std::string_view reason) {
  std::string field;
  json_writer w{field};
  w.string("dead_letter_reason");
  field += ':';
  w.string(reason);

  json_scanner sc{body};
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
        json_scanner probe = sc;
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
