// Where scheduled pushes (funboost::scheduled_job) are kept, so they survive restarts and so
// several scheduler processes sharing a store fire each tick once: a fire is claimed by moving
// the job's next fire time from the value every process read to the next one, atomically
// (compare-and-set), and only the process whose claim succeeds pushes.
//   redis://host:port/db   HASH funboost_scheduled_jobs (id -> job JSON), ZSET
//                          funboost_scheduled_jobs_next (id -> next fire, Unix s)
//   sqlite:PATH            a table in a local SQLite file (processes of one machine)
// Calls block and throw std::runtime_error (funboost::broker_error for Redis) on failure; the
// push scheduler actor (src/actors/push_scheduler.*) owns one store.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <funboost/protocol.hpp>

namespace funboost::schedule {

/// A job as kept: its definition and when it fires next (none: paused, or a date job done).
struct stored_job {
  scheduled_job job;             // definition; job.paused and job.next_fire as kept
  std::optional<double> next;    // Unix seconds
};

class job_store {
public:
  virtual ~job_store() = default;
  /// Adds `job` or replaces the one with its id, firing next at `next`.
  virtual void put(const scheduled_job& job, std::optional<double> next) = 0;
  virtual std::vector<stored_job> list() = 0;
  virtual std::optional<stored_job> get(const std::string& id) = 0;
  virtual bool remove(const std::string& id) = 0;
  /// Pauses (next: none) or resumes (next: when it fires now) a job; false if there is none.
  virtual bool set_paused(const std::string& id, bool paused, std::optional<double> next) = 0;
  /// Unpaused jobs due at `now`, earliest first, at most `max`.
  virtual std::vector<stored_job> due(double now, std::size_t max) = 0;
  /// Moves `id`'s next fire from `expected` to `next` (none: the job is done and removed) if it
  /// is still `expected`; true for the one caller that did.
  virtual bool claim(const std::string& id, double expected, std::optional<double> next) = 0;
  /// When the earliest unpaused job fires, if any.
  virtual std::optional<double> next_due() = 0;
  /// "redis://127.0.0.1:6379/7" or "sqlite:/path/jobs.sqlite3", without passwords.
  virtual std::string describe() const = 0;
};

/// The store for `url` ("redis://...", "sqlite:PATH"); throws std::invalid_argument naming the
/// known schemes otherwise.
std::unique_ptr<job_store> make_job_store(const std::string& url);

/// A job's definition as JSON (what the stores keep), and back; read throws
/// std::invalid_argument on what is not one.
std::string job_json(const scheduled_job& job);
scheduled_job job_from_json(std::string_view json);

/// Stores register their URL scheme (the Redis one only when the Redis brokers are built).
using job_store_factory = std::function<std::unique_ptr<job_store>(const std::string& url)>;
void register_job_store(const std::string& scheme, job_store_factory factory);

} // namespace funboost::schedule
