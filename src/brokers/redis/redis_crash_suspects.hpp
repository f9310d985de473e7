// The poison-task bookkeeping of one consuming connection, for both Redis kinds: which fetched
// messages already have crash counts (suspects, by delivery tag, with the body that keys their
// count in funboost_crash_deliveries:{q}) and which one is marked running alone
// (funboost_crash_running:{q}). It only says which commands to send; the connection sends them
// with its own (see broker_connection::mark_running and max_crash_deliveries).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "brokers/redis/redis_connection.hpp"

namespace funboost::brokers::redis {

class crash_suspects {
public:
  /// The two hashes and who this connection is in them.
  struct keys {
    std::string counts;   // funboost_crash_deliveries:{q}
    std::string marks;    // funboost_crash_running:{q}
    std::string consumer; // the consumer id
  };

  /// A message fetched with a crash count.
  void add(uint64_t tag, std::string body) { bodies_.emplace(tag, std::move(body)); }

  /// The HSET that marks `tag` running alone, if it is a suspect (only suspects run alone).
  std::optional<command> mark(uint64_t tag, const keys& k) {
    auto i = bodies_.find(tag);
    if (i == bodies_.end())
      return std::nullopt;
    marked_ = tag;
    return command{"HSET", k.marks, k.consumer, i->second};
  }

  /// Finished (acked, dead-lettered): their counts go, and the mark if it is theirs.
  void finished(std::span<const uint64_t> tags, const keys& k, std::vector<command>& out) {
    if (bodies_.empty() && marked_ == 0)
      return;
    command counts{"HDEL", k.counts};
    for (auto tag : tags) {
      unmark_if(tag, k, out);
      if (auto i = bodies_.find(tag); i != bodies_.end()) {
        counts.push_back(std::move(i->second));
        bodies_.erase(i);
      }
    }
    if (counts.size() > 2)
      out.push_back(std::move(counts));
  }

  /// Given back unfinished (a graceful stop): no death to blame, so the mark goes; the count
  /// stays, it is still a suspect for the next consumer.
  void given_back(uint64_t tag, const keys& k, std::vector<command>& out) {
    unmark_if(tag, k, out);
    bodies_.erase(tag);
  }

private:
  void unmark_if(uint64_t tag, const keys& k, std::vector<command>& out) {
    if (tag != 0 && tag == marked_) {
      out.push_back({"HDEL", k.marks, k.consumer});
      marked_ = 0;
    }
  }

  std::unordered_map<uint64_t, std::string> bodies_;
  uint64_t marked_ = 0; // the tag marked running, 0 = none
};

} // namespace funboost::brokers::redis
