#include "actors/push_scheduler.hpp"

#include <algorithm>
#include <set>

#include <simdjson.h>

#include <funboost/wire.hpp>

#include "core/log_safe.hpp"
#include "core/unix_time.hpp"
#include "schedule/trigger.hpp"

namespace funboost::actors {

namespace {

using self_ptr = push_scheduler_actor::stateful_pointer<push_scheduler_state>;
using time_point = std::chrono::system_clock::time_point;

/// The most fires one pass claims; more due ones are fired by the next pass at once.
constexpr std::size_t fire_batch = 100;

time_point time_of(double unix_seconds) {
  return time_point{std::chrono::duration_cast<time_point::duration>(
    std::chrono::duration<double>(unix_seconds))};
}

double unix_of(time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

/// The job's trigger; throws std::invalid_argument saying what is wrong with its settings.
schedule::trigger trigger_of(const scheduled_job& job) {
  switch (job.trigger) {
    case scheduled_job::kind::interval: {
      auto every = std::chrono::milliseconds(
        static_cast<int64_t>(std::max(job.interval_seconds, 0.0) * 1000.0));
      if (every.count() <= 0)
        throw std::invalid_argument("an interval job needs interval_seconds of at least 0.001");
      return schedule::trigger{schedule::trigger::interval{every, job.start}};
    }
    case scheduled_job::kind::date:
      return schedule::trigger{schedule::trigger::date{job.start}};
    case scheduled_job::kind::cron:
      return schedule::trigger{schedule::trigger::cron{
        schedule::cron_expression::parse(job.cron), schedule::time_zone_ref::locate(job.time_zone)}};
  }
  throw std::invalid_argument("unknown trigger kind");
}

std::optional<double> next_after(const scheduled_job& job, double t) {
  auto next = trigger_of(job).next_after(time_of(t));
  if (!next)
    return std::nullopt;
  return unix_of(*next);
}

/// Sets the timer for `due` (Unix s) unless one fires no later; at most job_look_interval on.
void tick_at(self_ptr self, double due) {
  auto& st = self->state;
  auto now = st.now();
  due = std::min(due, now + std::chrono::duration<double>(job_look_interval).count());
  if (st.tick_at && *st.tick_at <= due)
    return;
  st.tick_at = due;
  auto wait = std::chrono::duration<double>(std::max(due - now, 0.0));
  self->delayed_send(self, std::chrono::duration_cast<caf::timespan>(wait), tick_atom::value);
}

caf::error store_failed(self_ptr self, const char* what, const std::exception& e) {
  auto& st = self->state;
  auto now = self->clock().now();
  if (!st.error_logged || now - *st.error_logged >= std::chrono::minutes(1)) {
    st.error_logged = now;
    st.log->error("scheduled pushes: could not {} in the job store {}: {}; trying again",
                  what, st.store->describe(), detail::log_safe{e.what()});
  }
  return caf::make_error(ec::broker_unreachable, std::string{"job store "}
                                                   + st.store->describe() + ": " + e.what());
}

/// What is wrong with a job to add ("" = nothing).
std::string problem_of(const scheduled_job& job) {
  if (job.queue_name.empty())
    return "queue_name is empty";
  simdjson::dom::parser parser;
  simdjson::dom::object kwargs;
  if (parser.parse(job.kwargs_json).get(kwargs))
    return "kwargs_json is not a JSON object like {\"x\": 1}: " + job.kwargs_json.substr(0, 100);
  try {
    (void) trigger_of(job);
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}

void push_fire(self_ptr self, const scheduled_job& job, double fire_time) {
  auto options = job.options;
  options.task_id = job.id + "@" + schedule::format_utc(time_of(fire_time));
  auto id = options.task_id;
  self->request(self->state.node, caf::infinite, push_atom::value, job.queue_name,
                job.kwargs_json, options)
    .then(
      [self, id](push_receipt& r) {
        if (r.status != ec::none)
          self->state.log->warn("scheduled push {}: {}", id, detail::log_safe{r.detail});
        else
          self->state.log->debug("scheduled push {} is on its queue", id);
      },
      [self, id, queue = job.queue_name](caf::error& err) {
        self->state.log->error("scheduled push {} to queue '{}' failed: {}", id, queue,
                               to_string(err));
      });
}

/// Claims and pushes every due fire of a queue this runtime knows.
void fire_pass(self_ptr self, const std::set<std::string>& known) {
  auto& st = self->state;
  auto now = st.now();
  std::vector<schedule::stored_job> due;
  try {
    due = st.store->due(now, fire_batch);
    for (auto& kept : due) {
      const auto& job = kept.job;
      if (!known.contains(job.queue_name)) {
        if (st.unknown_logged.insert(job.queue_name).second)
          st.log->warn("scheduled job '{}' pushes to queue '{}', which this runtime does not "
                       "know: a runtime with a booster or rt.publisher for it fires it",
                       job.id, job.queue_name);
        continue;
      }
      auto fire_time = *kept.next;
      std::optional<double> next;
      try {
        next = next_after(job, std::max(now, fire_time)); // missed fires are one fire
      } catch (const std::exception& e) {
        st.log->error("scheduled job '{}' cannot fire: {}; removing it", job.id, e.what());
      }
      if (st.store->claim(job.id, fire_time, next))
        push_fire(self, job, fire_time);
    }
  } catch (const std::exception& e) {
    (void) store_failed(self, "fire due jobs", e);
    tick_at(self, now + std::chrono::duration<double>(job_look_interval).count());
    return;
  }
  st.error_logged.reset();
  if (due.size() >= fire_batch) {
    tick_at(self, now);
    return;
  }
  std::optional<double> next;
  try {
    next = st.store->next_due();
  } catch (const std::exception& e) {
    (void) store_failed(self, "look up the next fire", e);
  }
  // Due ones left are other runtimes' (queues unknown here): look again later, not at once.
  tick_at(self, next && *next > now ? *next
                                    : now + std::chrono::duration<double>(job_look_interval).count());
}

} // namespace

push_scheduler_actor::behavior_type
push_scheduler(push_scheduler_actor::stateful_pointer<push_scheduler_state> self,
               std::shared_ptr<schedule::job_store> store, node_actor node, wall_clock now,
               std::shared_ptr<spdlog::logger> log) {
  auto& st = self->state;
  st.store = std::move(store);
  st.node = std::move(node);
  st.now = now ? std::move(now) : wall_clock{detail::unix_now};
  st.log = std::move(log);
  self->send(self, tick_atom::value);
  return {
    [self](schedule_atom, scheduled_job& job) -> caf::result<std::string> {
      auto& st = self->state;
      if (auto problem = problem_of(job); !problem.empty())
        return caf::make_error(ec::bad_message, "scheduled job '" + job.id + "' for queue '"
                                                  + job.queue_name + "': " + problem);
      if (job.id.empty())
        job.id = new_task_id();
      auto now = st.now();
      if (job.trigger == scheduled_job::kind::interval
          && job.start.time_since_epoch().count() == 0)
        job.start = time_of(now + job.interval_seconds); // the first fire: one interval on
      auto next = next_after(job, now);
      if (!next)
        return caf::make_error(ec::bad_message, "scheduled job '" + job.id
                                                  + "': its date is in the past: it would "
                                                    "never fire");
      try {
        st.store->put(job, job.paused ? std::nullopt : next);
      } catch (const std::exception& e) {
        return store_failed(self, "add a job", e);
      }
      st.log->info("scheduled job '{}' pushes to queue '{}' {}; next at {}", job.id,
                   job.queue_name, trigger_of(job).describe(),
                   schedule::format_utc(time_of(*next)));
      if (!job.paused)
        tick_at(self, *next);
      return job.id;
    },
    [self](jobs_atom) -> caf::result<std::vector<scheduled_job>> {
      auto& st = self->state;
      std::vector<scheduled_job> out;
      try {
        for (auto& kept : st.store->list()) {
          if (kept.next)
            kept.job.next_fire = time_of(*kept.next);
          out.push_back(std::move(kept.job));
        }
      } catch (const std::exception& e) {
        return store_failed(self, "list jobs", e);
      }
      return out;
    },
    [self](pause_job_atom, const std::string& id) -> caf::result<bool> {
      try {
        if (!self->state.store->set_paused(id, true, std::nullopt))
          return caf::make_error(ec::unknown_job, "no scheduled job '" + id + "'");
      } catch (const std::exception& e) {
        return store_failed(self, "pause a job", e);
      }
      return true;
    },
    [self](resume_job_atom, const std::string& id) -> caf::result<bool> {
      auto& st = self->state;
      try {
        auto kept = st.store->get(id);
        if (!kept)
          return caf::make_error(ec::unknown_job, "no scheduled job '" + id + "'");
        auto next = next_after(kept->job, st.now());
        if (!next) {
          st.store->remove(id);
          return caf::make_error(ec::unknown_job, "scheduled job '" + id
                                                    + "' would never fire again: removed");
        }
        st.store->set_paused(id, false, next);
        tick_at(self, *next);
      } catch (const std::exception& e) {
        return store_failed(self, "resume a job", e);
      }
      return true;
    },
    [self](remove_job_atom, const std::string& id) -> caf::result<bool> {
      try {
        if (!self->state.store->remove(id))
          return caf::make_error(ec::unknown_job, "no scheduled job '" + id + "'");
      } catch (const std::exception& e) {
        return store_failed(self, "remove a job", e);
      }
      return true;
    },
    [self](tick_atom) {
      auto& st = self->state;
      st.tick_at.reset();
      if (st.firing)
        return;
      st.firing = true;
      self->request(st.node, caf::infinite, queues_atom::value)
        .then(
          [self](std::vector<queue_info>& queues) {
            self->state.firing = false;
            std::set<std::string> known;
            for (auto& q : queues)
              known.insert(q.queue_name);
            fire_pass(self, known);
          },
          [self](caf::error& err) {
            self->state.firing = false;
            self->state.log->error("scheduled pushes: the node did not list its queues: {}",
                                   to_string(err));
            tick_at(self, self->state.now()
                            + std::chrono::duration<double>(job_look_interval).count());
          });
    },
  };
}

} // namespace funboost::actors
