// The pending pushes of a booster in publish_mode::pipelined: push() appends and returns; the
// queue's push_feeder actor (actors/push_feeder.hpp) takes everything pending as one batch for
// the publisher actor, and takes the next batch once the broker answered, so a loop of push()
// calls costs one broker round trip per batch instead of one per push. Bounded: a push that
// would exceed max_pending waits until the broker has caught up.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <funboost/async_result.hpp>

namespace funboost::detail {

class push_pipeline {
public:
  struct batch {
    std::vector<std::string> bodies;
    std::vector<std::string> task_ids;
    std::vector<std::shared_ptr<result_slot>> slots;
    bool empty() const { return bodies.empty(); }
  };

  explicit push_pipeline(std::size_t max_pending) : max_pending_(max_pending) {}

  /// Appends the pushes, whose slots the caller marked publish_pending. Returns true when the
  /// feeder is idle and must be woken for them.
  bool add(std::vector<std::string>& bodies, std::vector<std::string>& task_ids,
           const std::vector<std::shared_ptr<result_slot>>& slots);

  /// For the feeder: everything pending, as one batch. An empty batch means the feeder goes
  /// idle (the next add() wakes it).
  batch take();

  /// For the feeder: the broker answered for `count` messages of the batch in flight.
  void answered(std::size_t count);

  /// Blocks until every push so far has been answered by the broker (or kept in the outbox).
  void flush();

private:
  const std::size_t max_pending_;
  std::mutex mutex_;
  std::condition_variable changed_;
  batch pending_;
  std::size_t in_flight_ = 0; // taken by the feeder, not yet answered
  bool feeding_ = false;      // the feeder has work or a batch out
};

} // namespace funboost::detail
