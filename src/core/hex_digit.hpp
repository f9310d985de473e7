// The value of one hexadecimal digit: what URL %-escapes and JSON \u escapes are made of.
#pragma once

namespace funboost::detail {

/// 0..15, or -1 when `c` is not a hexadecimal digit.
constexpr int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

} // namespace funboost::detail
