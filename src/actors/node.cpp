#include "actors/node.hpp"

#include <set>

#include <funboost/wire.hpp>

#include "actors/publish_one.hpp"
#include "core/kwargs_check.hpp"
#include "core/result_registry.hpp"
#include "results/result_store.hpp"

namespace funboost::actors {

namespace {

using self_ptr = node_internal_actor::stateful_pointer<node_state>;

caf::error unknown_queue(self_ptr self, const std::string& queue) {
  std::string known;
  for (const auto& [name, entry] : self->state.queues)
    known += (known.empty() ? "" : ", ") + name;
  return caf::make_error(ec::unknown_queue,
                         "no queue '" + queue + "' in this runtime (known: "
                           + (known.empty() ? "none" : known)
                           + "); boost a function for it, or make a publisher with "
                             "rt.publisher(\"" + queue + "\")");
}

queue_info live_info(const queue_entry& e) {
  auto info = e.info;
  info.consuming = e.ctx->consuming->load();
  return info;
}

task_result result_of(detail::result_slot& slot) {
  std::lock_guard guard{slot.mutex};
  return task_result{slot.task_id,        slot.queue_name,        slot.success,
                     slot.result_json,    slot.exception_type,    slot.exception_message,
                     slot.record_json};
}

/// Every distinct result store of this runtime's queues: a task id from another process may
/// have its record in any of them.
std::set<std::shared_ptr<detail::result_store>> stores(self_ptr self) {
  std::set<std::shared_ptr<detail::result_store>> out;
  for (const auto& [name, e] : self->state.queues)
    if (e.ctx->results)
      out.insert(e.ctx->results);
  return out;
}

caf::result<push_receipt> push(self_ptr self, const std::string& queue,
                               const std::string& kwargs, const task_options& options) {
  auto i = self->state.queues.find(queue);
  if (i == self->state.queues.end())
    return unknown_queue(self, queue);
  const auto& e = i->second;
  if (auto problem = detail::check_kwargs(e.info, kwargs); !problem.empty())
    return caf::make_error(ec::bad_message, problem);
  std::string id;
  std::string body;
  auto written = with_booster_rpc(options, e.info.is_using_rpc_mode);
  try {
    body = message_from_kwargs(kwargs, written, e.ctx->options.publish_time_utc_offset_minutes,
                               id);
  } catch (const std::exception& ex) {
    return caf::make_error(ec::bad_message, "queue '" + queue + "': " + ex.what());
  }
  return publish_one(self, *e.ctx, e.publisher, std::move(body), std::move(id),
                     written.is_using_rpc_mode);
}

caf::result<task_result> await_result(self_ptr self, const std::string& task_id,
                                      caf::timespan timeout) {
  auto& st = self->state;
  auto& wait = st.waits[task_id];
  if (!wait.slot) {
    bool created = false;
    wait.slot = detail::find_or_expect_result(task_id, created);
    if (created) {
      wait.registered_here = true;
      for (const auto& store : stores(self))
        store->watch(wait.slot);
    }
    caf::actor node = caf::actor_cast<caf::actor>(self);
    wait.slot->on_finish([node, task_id] { caf::anon_send(node, done_atom::value, task_id); });
  }
  if (wait.slot->is_finished()) {
    auto result = result_of(*wait.slot);
    if (wait.promises.empty())
      st.waits.erase(task_id);
    return result;
  }
  auto id = ++st.next_wait_id;
  auto rp = self->make_response_promise<task_result>();
  wait.promises.emplace_back(id, rp);
  self->delayed_send(self, timeout, tick_atom::value, task_id, id);
  return rp;
}

/// The error for scheduled-push requests when this runtime runs no scheduler; none otherwise.
caf::error no_scheduler(self_ptr self) {
  if (self->state.push_scheduler)
    return {};
  return caf::make_error(ec::no_scheduler,
                         "this runtime runs no scheduler for scheduled pushes: call "
                         "rt.run_scheduler(\"sqlite:funboost_jobs.sqlite3\") or "
                         "rt.run_scheduler(\"redis://host:port/db\") first");
}

} // namespace

node_internal_actor::behavior_type node(self_ptr self) {
  // CAF 0.17 does not answer a promise its actor drops: tell every waiter before going away.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    for (auto& [task_id, wait] : self->state.waits)
      for (auto& [id, rp] : wait.promises)
        rp.deliver(caf::make_error(ec::queue_stopped, "task " + task_id
                                                        + ": the runtime is shutting down"));
    self->state.waits.clear();
    self->quit(msg.reason);
  });
  return {
    [self](queues_atom) {
      std::vector<queue_info> out;
      for (const auto& [name, e] : self->state.queues)
        out.push_back(live_info(e));
      return out;
    },
    [self](push_atom, const std::string& queue, const std::string& kwargs,
           const task_options& options) { return push(self, queue, kwargs, options); },
    [self](result_atom, const std::string& task_id, caf::timespan timeout) {
      return await_result(self, task_id, timeout);
    },
    [self](stats_atom, const std::string& queue) -> caf::result<queue_stats> {
      auto i = self->state.queues.find(queue);
      if (i == self->state.queues.end())
        return unknown_queue(self, queue);
      if (!i->second.supervisor) {
        queue_stats idle;
        idle.queue_name = queue;
        return idle;
      }
      return self->delegate(i->second.supervisor, stats_atom::value);
    },
    [self](consume_atom, const std::string& queue) -> caf::result<bool> {
      auto i = self->state.queues.find(queue);
      if (i == self->state.queues.end())
        return unknown_queue(self, queue);
      if (!i->second.supervisor)
        return caf::make_error(ec::publish_only,
                               "queue '" + queue + "' has no function in this runtime (it was "
                               "made with rt.publisher); boost its function to consume it");
      self->send(i->second.supervisor, consume_atom::value);
      return true;
    },
    [self](stop_atom, const std::string& queue) -> caf::result<bool> {
      auto i = self->state.queues.find(queue);
      if (i == self->state.queues.end())
        return unknown_queue(self, queue);
      if (!i->second.supervisor)
        return true; // nothing consumes it here
      return self->delegate(i->second.supervisor, stop_atom::value);
    },
    [self](schedule_atom, scheduled_job& job) -> caf::result<std::string> {
      if (auto e = no_scheduler(self))
        return e;
      return self->delegate(self->state.push_scheduler, schedule_atom::value, std::move(job));
    },
    [self](jobs_atom) -> caf::result<std::vector<scheduled_job>> {
      if (auto e = no_scheduler(self))
        return e;
      return self->delegate(self->state.push_scheduler, jobs_atom::value);
    },
    [self](pause_job_atom, const std::string& id) -> caf::result<bool> {
      if (auto e = no_scheduler(self))
        return e;
      return self->delegate(self->state.push_scheduler, pause_job_atom::value, id);
    },
    [self](resume_job_atom, const std::string& id) -> caf::result<bool> {
      if (auto e = no_scheduler(self))
        return e;
      return self->delegate(self->state.push_scheduler, resume_job_atom::value, id);
    },
    [self](remove_job_atom, const std::string& id) -> caf::result<bool> {
      if (auto e = no_scheduler(self))
        return e;
      return self->delegate(self->state.push_scheduler, remove_job_atom::value, id);
    },
    [self](put_atom, push_scheduler_actor& scheduler) {
      self->state.push_scheduler = std::move(scheduler);
    },
    [self](put_atom, queue_entry& entry) {
      auto& queues = self->state.queues;
      auto i = queues.find(entry.info.queue_name);
      // A consuming booster's entry wins over a publish-only one for the same queue.
      if (i != queues.end() && i->second.supervisor && !entry.supervisor)
        return;
      queues[entry.info.queue_name] = std::move(entry);
    },
    [self](forget_atom, const std::string& queue, const publisher_actor& publisher) {
      auto i = self->state.queues.find(queue);
      if (i != self->state.queues.end() && i->second.publisher == publisher)
        self->state.queues.erase(i);
    },
    [self](done_atom, const std::string& task_id) {
      auto i = self->state.waits.find(task_id);
      if (i == self->state.waits.end() || !i->second.slot->is_finished())
        return; // an old slot's listener, after its wait timed out and a new one began
      auto result = result_of(*i->second.slot);
      for (auto& [id, rp] : i->second.promises)
        rp.deliver(result);
      self->state.waits.erase(i);
    },
    [self](tick_atom, const std::string& task_id, uint64_t id) {
      auto i = self->state.waits.find(task_id);
      if (i == self->state.waits.end())
        return;
      auto& w = i->second;
      for (auto p = w.promises.begin(); p != w.promises.end(); ++p) {
        if (p->first != id)
          continue;
        p->second.deliver(caf::make_error(
          ec::timeout, "task " + task_id + ": no result yet; is a consumer running for its "
                       "queue, in RPC mode? Ask again with a longer timeout"));
        w.promises.erase(p);
        break;
      }
      if (w.promises.empty()) {
        if (w.registered_here)
          detail::forget_result(w.slot);
        self->state.waits.erase(i);
      }
    },
  };
}

} // namespace funboost::actors
