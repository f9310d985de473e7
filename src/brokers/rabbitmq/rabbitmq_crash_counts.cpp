#include "brokers/rabbitmq/rabbitmq_crash_counts.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace funboost::brokers::rabbitmq {

namespace {

constexpr std::string_view mark_prefix = "funboost_crash_running.";

/// FNV-1a, 64 bits: a stable name for a body across processes and builds (std::hash is not).
uint64_t fnv1a(std::string_view text) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

} // namespace

uint32_t crash_count_of(const amqp_basic_properties_t& props) {
  if (!(props._flags & AMQP_BASIC_HEADERS_FLAG))
    return 0;
  const auto& table = props.headers;
  for (int i = 0; i < table.num_entries; ++i) {
    const auto& e = table.entries[i];
    if (e.key.len != std::strlen(crash_header)
        || std::memcmp(e.key.bytes, crash_header, e.key.len) != 0)
      continue;
    int64_t n = 0;
    switch (e.value.kind) {
      case AMQP_FIELD_KIND_I8: n = e.value.value.i8; break;
      case AMQP_FIELD_KIND_U8: n = e.value.value.u8; break;
      case AMQP_FIELD_KIND_I16: n = e.value.value.i16; break;
      case AMQP_FIELD_KIND_U16: n = e.value.value.u16; break;
      case AMQP_FIELD_KIND_I32: n = e.value.value.i32; break;
      case AMQP_FIELD_KIND_U32: n = e.value.value.u32; break;
      case AMQP_FIELD_KIND_I64: n = e.value.value.i64; break;
      case AMQP_FIELD_KIND_U64:
        n = static_cast<int64_t>(std::min<uint64_t>(e.value.value.u64, UINT32_MAX));
        break;
      default: return 0;
    }
    return static_cast<uint32_t>(std::clamp<int64_t>(n, 0, UINT32_MAX));
  }
  return 0;
}

std::string mark_queue_name(const std::string& queue, std::string_view body) {
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(fnv1a(body)));
  std::string name = std::string{mark_prefix} + queue + "." + hash;
  if (name.size() <= 255)
    return name;
  std::string both = queue;
  both += '\n';
  both += body;
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(fnv1a(both)));
  return std::string{mark_prefix} + hash;
}

bool is_mark_queue(const std::string& name) {
  return name.compare(0, mark_prefix.size(), mark_prefix) == 0;
}

} // namespace funboost::brokers::rabbitmq
