// Filling a queue for the broker benchmarks: push_many of no-op tasks f(int).
#pragma once

#include <algorithm>
#include <chrono>
#include <utility>
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

/// Times push_many of `n` tasks in batches of `batch` (the arguments are built beforehand, so
/// only publishing is timed). Returns {accepted, seconds}.
template <class Booster>
std::pair<int, double> timed_push_many(const Booster& b, int n, int batch) {
  std::vector<std::vector<std::tuple<int>>> batches;
  for (int i = 0; i < n; i += batch)
    batches.push_back(calls(i, std::min(batch, n - i)));
  int published = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (const auto& one_batch : batches)
    for (auto& r : b.push_many(one_batch))
      published += r.published() ? 1 : 0;
  return {published, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
}

} // namespace bench
