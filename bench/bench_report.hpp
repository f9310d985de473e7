// Benchmarks print one JSON object per figure, on its own line; bench/run adds the table.
#pragma once

#include <cstdio>
#include <string>

namespace bench {

/// target_op is ">=" or "<=": how the figure compares with its target.
inline void report(const std::string& name, double value, const std::string& unit, double target,
                   const char* target_op, const std::string& note = "") {
  bool met = target_op[0] == '>' ? value >= target : value <= target;
  std::printf("{\"name\":\"%s\",\"value\":%.3f,\"unit\":\"%s\",\"target\":\"%s %.0f\","
              "\"met\":%s,\"note\":\"%s\"}\n",
              name.c_str(), value, unit.c_str(), target_op, target, met ? "true" : "false",
              note.c_str());
  std::fflush(stdout);
}

} // namespace bench
