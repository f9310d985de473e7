// Filling a queue for the broker benchmarks: push_many of no-op tasks f(int).
#pragma once

#include <algorithm>
#include <tuple>
#include <vector>

namespace bench {

/// Arguments for `count` tasks numbered from `from`.
inline std::vector<std::tuple<int>> calls(int from, int count) {
  std::vector<std::tuple<int>> v;
  v.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i)
    v.emplace_back(from + i);
  return v;
}

/// push_many in batches of `batch`; returns how many the broker accepted.
template <class Booster>
int fill(const Booster& b, int n, int batch) {
  int published = 0;
  for (int i = 0; i < n; i += batch)
    for (auto& r : b.push_many(calls(i, std::min(batch, n - i))))
      published += r.published() ? 1 : 0;
  return published;
}

} // namespace bench
