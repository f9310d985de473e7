#include "core/result_registry.hpp"

#include "results/result_store.hpp"

#include <array>
#include <deque>
#include <functional>
#include <mutex>
#include <unordered_map>

namespace funboost::detail {

namespace {

/// Finished results each shard remembers (oldest forgotten first), so a waiter that asks by
/// task id after the task finished (the node's result_atom, rt.result) still finds it.
constexpr std::size_t finished_per_shard = 1024;

struct shard {
  std::mutex mutex;
  // Waiting slots are held weakly: the async_result (or a waiting node request) owns its slot,
  // and a slot nobody waits for any more must not stay in memory until its task finishes,
  // which may be never (RPC pushes to a queue with no consumer). Expired entries are swept
  // whenever the map doubles, so memory stays bounded by what callers still hold.
  std::unordered_map<std::string, std::weak_ptr<result_slot>> slots;
  std::size_t sweep_at = min_sweep;
  std::unordered_map<std::string, std::shared_ptr<result_slot>> finished;
  std::deque<std::string> finished_order;

  static constexpr std::size_t min_sweep = 1024;

  void add_waiting(const std::shared_ptr<result_slot>& slot) {
    slots[slot->task_id] = slot;
    if (slots.size() < sweep_at)
      return;
    std::erase_if(slots, [](const auto& entry) { return entry.second.expired(); });
    sweep_at = std::max(min_sweep, 2 * slots.size());
  }

  void remember_finished(std::shared_ptr<result_slot> slot) {
    auto id = slot->task_id;
    if (!finished.emplace(id, std::move(slot)).second)
      return;
    finished_order.push_back(std::move(id));
    if (finished_order.size() > finished_per_shard) {
      finished.erase(finished_order.front());
      finished_order.pop_front();
    }
  }
};

std::array<shard, 16>& shards() {
  static std::array<shard, 16> instance;
  return instance;
}

shard& shard_for(const std::string& task_id) {
  return shards()[std::hash<std::string>{}(task_id) % shards().size()];
}

} // namespace

void expect_result(std::shared_ptr<result_slot> slot) {
  auto& s = shard_for(slot->task_id);
  std::lock_guard guard{s.mutex};
  s.add_waiting(slot);
}

std::shared_ptr<result_slot> find_result(const std::string& task_id) {
  auto& s = shard_for(task_id);
  std::lock_guard guard{s.mutex};
  if (auto i = s.slots.find(task_id); i != s.slots.end()) {
    if (auto slot = i->second.lock())
      return slot;
    s.slots.erase(i);
  }
  auto i = s.finished.find(task_id);
  return i == s.finished.end() ? nullptr : i->second;
}

std::shared_ptr<result_slot> find_or_expect_result(const std::string& task_id, bool& created) {
  auto& s = shard_for(task_id);
  std::lock_guard guard{s.mutex};
  created = false;
  if (auto i = s.slots.find(task_id); i != s.slots.end()) {
    if (auto slot = i->second.lock())
      return slot;
    s.slots.erase(i);
  }
  if (auto i = s.finished.find(task_id); i != s.finished.end())
    return i->second;
  auto slot = std::make_shared<result_slot>();
  slot->task_id = task_id;
  slot->rpc = true;
  s.add_waiting(slot);
  created = true;
  return slot;
}

void forget_result(const std::shared_ptr<result_slot>& slot) {
  auto& s = shard_for(slot->task_id);
  std::lock_guard guard{s.mutex};
  auto i = s.slots.find(slot->task_id);
  if (i != s.slots.end() && i->second.lock() == slot)
    s.slots.erase(i);
}

std::size_t waiting_result_entries() {
  std::size_t n = 0;
  for (auto& s : shards()) {
    std::lock_guard guard{s.mutex};
    n += s.slots.size();
  }
  return n;
}

std::shared_ptr<result_slot> expect_rpc_result(const std::string& queue, std::string task_id,
                                               result_store* store) {
  auto slot = std::make_shared<result_slot>();
  slot->queue_name = queue;
  slot->task_id = std::move(task_id);
  slot->rpc = true;
  expect_result(slot);
  if (store) {
    store->watch(slot, false); // a new task: no record can exist before it is published
    std::weak_ptr<result_slot> weak = slot;
    slot->on_finish([weak] {
      if (auto s = weak.lock())
        forget_result(s); // finished by the store: the registry lets go too
    });
  }
  return slot;
}

void deliver_result(const std::string& task_id, bool ok, std::string result_json,
                    std::string exception_type, std::string exception_message,
                    std::string record_json) {
  std::shared_ptr<result_slot> slot;
  {
    auto& s = shard_for(task_id);
    std::lock_guard guard{s.mutex};
    auto i = s.slots.find(task_id);
    if (i != s.slots.end()) {
      slot = i->second.lock();
      s.slots.erase(i);
    }
    if (!slot) { // its caller let go (or it was pushed by another process): keep the outcome
                 // for a later lookup by task id (rt.result, the node)
      slot = std::make_shared<result_slot>();
      slot->task_id = task_id;
      slot->rpc = true;
    }
    s.remember_finished(slot);
  }
  slot->finish(ok, std::move(result_json), std::move(exception_type),
               std::move(exception_message), std::move(record_json));
}

bool wait_for_slot(result_slot& slot, std::chrono::milliseconds timeout, bool forever) {
  std::unique_lock lock{slot.mutex};
  if (!slot.publish_failure.empty())
    throw publish_error(slot.publish_failure);
  if (!slot.rpc)
    throw std::logic_error("queue '" + slot.queue_name + "': task " + slot.task_id
                           + ": results are only kept in RPC mode; set "
                             ".is_using_rpc_mode = true in the booster options (or in "
                             "task_options for this task)");
  // A pipelined push may still fail to publish while we wait.
  auto done = [&] { return slot.finished || !slot.publish_failure.empty(); };
  bool ready = true;
  if (forever)
    slot.cv.wait(lock, done);
  else
    ready = slot.cv.wait_for(lock, timeout, done);
  if (!slot.publish_failure.empty())
    throw publish_error(slot.publish_failure);
  return ready;
}

void throw_if_failed(result_slot& slot) {
  std::lock_guard guard{slot.mutex};
  if (slot.success)
    return;
  throw task_failed("queue '" + slot.queue_name + "': task " + slot.task_id + " failed: "
                      + slot.exception_type + ": " + slot.exception_message,
                    slot.exception_type, slot.exception_message);
}

} // namespace funboost::detail
