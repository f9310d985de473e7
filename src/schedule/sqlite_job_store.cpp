// The job store of one machine: a table in a local SQLite file (sqlite:PATH). Processes sharing
// the file claim fires with a conditional UPDATE, which SQLite runs under its write lock.
#include "schedule/job_store.hpp"

#include <sqlite3.h>

#include <stdexcept>

namespace funboost::schedule {

namespace {

class sqlite_job_store final : public job_store {
public:
  explicit sqlite_job_store(std::string path) : path_(std::move(path)) {
    if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        nullptr)
        != SQLITE_OK) {
      std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw std::runtime_error("job store sqlite:" + path_ + ": cannot open: " + why
                               + "; check the directory exists and is writable");
    }
    sqlite3_busy_timeout(db_, 5000); // other processes hold the write lock only briefly
    exec("PRAGMA journal_mode=WAL");
    exec("CREATE TABLE IF NOT EXISTS funboost_scheduled_jobs (id TEXT PRIMARY KEY, job TEXT "
         "NOT NULL, paused INTEGER NOT NULL DEFAULT 0, next_fire REAL)");
  }
  ~sqlite_job_store() override { sqlite3_close(db_); }

  void put(const scheduled_job& job, std::optional<double> next) override {
    statement s{*this, "INSERT OR REPLACE INTO funboost_scheduled_jobs (id, job, paused, "
                       "next_fire) VALUES (?, ?, ?, ?)"};
    s.text(1, job.id).text(2, job_json(job)).integer(3, job.paused).real(4, next);
    s.done();
  }

  std::vector<stored_job> list() override {
    return select("SELECT job, paused, next_fire FROM funboost_scheduled_jobs ORDER BY id", {});
  }

  std::optional<stored_job> get(const std::string& id) override {
    statement s{*this, "SELECT job, paused, next_fire FROM funboost_scheduled_jobs WHERE id = ?"};
    s.text(1, id);
    auto rows = read(s);
    if (rows.empty())
      return std::nullopt;
    return rows.front();
  }

  bool remove(const std::string& id) override {
    statement s{*this, "DELETE FROM funboost_scheduled_jobs WHERE id = ?"};
    s.text(1, id);
    s.done();
    return sqlite3_changes(db_) > 0;
  }

  bool set_paused(const std::string& id, bool paused, std::optional<double> next) override {
    statement s{*this, "UPDATE funboost_scheduled_jobs SET paused = ?, next_fire = ? WHERE id = ?"};
    s.integer(1, paused).real(2, next).text(3, id);
    s.done();
    return sqlite3_changes(db_) > 0;
  }

  std::vector<stored_job> due(double now, std::size_t max) override {
    statement s{*this, "SELECT job, paused, next_fire FROM funboost_scheduled_jobs WHERE paused "
                       "= 0 AND next_fire IS NOT NULL AND next_fire <= ? ORDER BY next_fire "
                       "LIMIT ?"};
    s.real(1, now).integer(2, static_cast<int64_t>(max));
    return read(s);
  }

  bool claim(const std::string& id, double expected, std::optional<double> next) override {
    if (!next) {
      statement s{*this, "DELETE FROM funboost_scheduled_jobs WHERE id = ? AND paused = 0 AND "
                         "next_fire = ?"};
      s.text(1, id).real(2, expected);
      s.done();
    } else {
      statement s{*this, "UPDATE funboost_scheduled_jobs SET next_fire = ? WHERE id = ? AND "
                         "paused = 0 AND next_fire = ?"};
      s.real(1, next).text(2, id).real(3, expected);
      s.done();
    }
    return sqlite3_changes(db_) == 1;
  }

  std::optional<double> next_due() override {
    statement s{*this, "SELECT MIN(next_fire) FROM funboost_scheduled_jobs WHERE paused = 0"};
    if (s.step() && sqlite3_column_type(s.get(), 0) != SQLITE_NULL)
      return sqlite3_column_double(s.get(), 0);
    return std::nullopt;
  }

  std::string describe() const override { return "sqlite:" + path_; }

private:
  /// One prepared statement; binds return *this so a row of binds reads as one line.
  class statement {
  public:
    statement(sqlite_job_store& store, const char* sql) : store_(store) {
      if (sqlite3_prepare_v2(store_.db_, sql, -1, &s_, nullptr) != SQLITE_OK)
        store_.fail("prepare");
    }
    ~statement() { sqlite3_finalize(s_); }
    statement& text(int i, const std::string& v) {
      sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
      return *this;
    }
    statement& integer(int i, int64_t v) {
      sqlite3_bind_int64(s_, i, v);
      return *this;
    }
    statement& real(int i, std::optional<double> v) {
      if (v)
        sqlite3_bind_double(s_, i, *v);
      else
        sqlite3_bind_null(s_, i);
      return *this;
    }
    /// Steps once: true with a row, false when done.
    bool step() {
      auto rc = sqlite3_step(s_);
      if (rc == SQLITE_ROW)
        return true;
      if (rc != SQLITE_DONE)
        store_.fail("step");
      return false;
    }
    void done() {
      while (step()) {
      }
    }
    sqlite3_stmt* get() const { return s_; }

  private:
    sqlite_job_store& store_;
    sqlite3_stmt* s_ = nullptr;
  };

  [[noreturn]] void fail(const char* what) const {
    throw std::runtime_error("job store sqlite:" + path_ + ": " + what + " failed: "
                             + sqlite3_errmsg(db_));
  }

  void exec(const char* sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
      std::string why = error ? error : "unknown";
      sqlite3_free(error);
      throw std::runtime_error("job store sqlite:" + path_ + ": " + why);
    }
  }

  std::vector<stored_job> read(statement& s) {
    std::vector<stored_job> out;
    while (s.step()) {
      auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 0));
      stored_job j{job_from_json(text ? text : ""), std::nullopt};
      j.job.paused = sqlite3_column_int(s.get(), 1) != 0;
      if (sqlite3_column_type(s.get(), 2) != SQLITE_NULL)
        j.next = sqlite3_column_double(s.get(), 2);
      out.push_back(std::move(j));
    }
    return out;
  }

  std::vector<stored_job> select(const char* sql, std::initializer_list<std::string> args) {
    statement s{*this, sql};
    int i = 1;
    for (const auto& a : args)
      s.text(i++, a);
    return read(s);
  }

  std::string path_;
  sqlite3* db_ = nullptr;
};

const bool registered = [] {
  register_job_store("sqlite", [](const std::string& url) {
    auto path = url.substr(url.find(':') + 1);
    if (path.starts_with("//"))
      path = path.substr(2); // sqlite://PATH is accepted too
    if (path.empty())
      throw std::invalid_argument("job store 'sqlite:': give a file, e.g. "
                                  "sqlite:funboost_jobs.sqlite3");
    return std::unique_ptr<job_store>(new sqlite_job_store(path));
  });
  return true;
}();

} // namespace

} // namespace funboost::schedule
