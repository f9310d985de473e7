// The outbox file (src/core/outbox.*) shared by several publishers: each `outbox` object opens
// the file itself, as two processes or two boosters of one queue do, so these are the cases
// the file lock must get right. An append during a replay is never lost, two replays never
// take the same lines, a replay that stopped half-way (or died) leaves the rest first in line,
// and concurrent appends are read back whole, each exactly once.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/outbox.hpp"

using funboost::detail::outbox;
using funboost::detail::outbox_claim;
using status = outbox::take_status;

namespace {

std::string scratch_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("funboost_outbox_file_test_" + name);
  std::filesystem::remove_all(dir);
  return dir.string();
}

std::vector<std::string> lines(int first, int last) {
  std::vector<std::string> out;
  for (int i = first; i <= last; ++i)
    out.push_back(R"({"x":)" + std::to_string(i) + "}");
  return out;
}

/// Everything a replay would deliver now, oldest first, as if the broker took all of it.
std::vector<std::string> replay_all(const outbox& box) {
  std::vector<std::string> out;
  for (;;) {
    std::optional<outbox_claim> claim;
    auto s = box.take(claim);
    REQUIRE(s != status::busy);
    if (s == status::nothing)
      return out;
    out.insert(out.end(), claim->lines().begin(), claim->lines().end());
    REQUIRE(claim->finish(claim->lines().size()).empty());
  }
}

} // namespace

TEST_CASE("an append made while a replay holds the outbox is kept for the next replay") {
  auto dir = scratch_dir("append_during_replay");
  outbox replayer{dir, "q"}, appender{dir, "q"};
  REQUIRE(appender.keep(lines(1, 3)).empty());
  std::optional<outbox_claim> claim;
  REQUIRE(replayer.take(claim) == status::claimed);
  CHECK(claim->lines() == lines(1, 3));
  REQUIRE(appender.keep(lines(4, 5)).empty()); // while the claim is being published
  REQUIRE(claim->finish(3).empty());           // all three delivered: the claim goes
  claim.reset();
  CHECK_FALSE(replayer.empty());
  CHECK(replay_all(replayer) == lines(4, 5));
  CHECK(replayer.empty());
}

TEST_CASE("two replays never take the same lines") {
  auto dir = scratch_dir("two_replays");
  outbox first{dir, "q"}, second{dir, "q"};
  REQUIRE(first.keep(lines(1, 10)).empty());
  std::optional<outbox_claim> a, b;
  REQUIRE(first.take(a) == status::claimed);
  CHECK(second.take(b) == status::busy); // the file is claimed by a replay in progress
  REQUIRE(second.keep(lines(11, 12)).empty());
  REQUIRE(a->finish(0).empty());            // the first replay failed: its claim stays
  CHECK(second.take(b) == status::busy);     // ... but is still locked by that replay
  a.reset();                                 // now it is free, and first in line
  REQUIRE(second.take(b) == status::claimed);
  CHECK(b->lines() == lines(1, 10));
  CHECK(first.take(a) == status::busy);
  REQUIRE(b->finish(10).empty());
  b.reset();
  CHECK(replay_all(first) == lines(11, 12));
}

TEST_CASE("a replay that stopped half-way leaves the rest ahead of later appends") {
  auto dir = scratch_dir("half_way");
  outbox box{dir, "q"};
  REQUIRE(box.keep(lines(1, 10)).empty());
  {
    std::optional<outbox_claim> claim;
    REQUIRE(box.take(claim) == status::claimed);
    REQUIRE(box.keep(lines(11, 15)).empty());
    REQUIRE(claim->finish(4).empty()); // the broker took 1..4, then refused
  }
  CHECK(replay_all(box) == lines(5, 15));
}

TEST_CASE("lines a replay had claimed when its process died are replayed by the next one") {
  auto dir = scratch_dir("abandoned");
  outbox box{dir, "q"};
  REQUIRE(box.keep(lines(1, 3)).empty());
  {
    std::optional<outbox_claim> claim;
    REQUIRE(box.take(claim) == status::claimed);
  } // closed without finish(): what a crash leaves (the kernel drops the lock)
  CHECK_FALSE(box.empty()); // a new publisher of the queue replays at start
  CHECK(replay_all(box) == lines(1, 3));
}

TEST_CASE("a claim's .tmp left by a replay that died mid-rewrite is removed by the next take") {
  auto dir = scratch_dir("stale_tmp");
  outbox box{dir, "q"};
  REQUIRE(box.keep(lines(1, 3)).empty());
  std::string claim_path;
  {
    std::optional<outbox_claim> claim;
    REQUIRE(box.take(claim) == status::claimed);
    for (const auto& e : std::filesystem::directory_iterator{dir})
      claim_path = e.path().string();
  } // died before finish() renamed its rewrite over the claim: the claim is intact
  std::ofstream{claim_path + ".tmp"} << lines(2, 3)[0] << '\n' << lines(2, 3)[1] << '\n';
  CHECK(replay_all(box) == lines(1, 3)); // the claim, once: the .tmp is not a claim
  CHECK_FALSE(std::filesystem::exists(claim_path + ".tmp"));
  CHECK(std::filesystem::is_empty(dir));
}

TEST_CASE("appends from many threads are read back whole, each exactly once, while replays "
          "run") {
  auto dir = scratch_dir("concurrent");
  constexpr int writers = 4, batches = 200;
  std::atomic<int> failures{0}; // doctest's REQUIRE must not throw on another thread
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w)
    threads.emplace_back([&, w] {
      outbox mine{dir, "q"};
      for (int b = 0; b < batches; ++b) {
        // Batches of 1 to 3 lines, long enough that a torn write would show.
        std::vector<std::string> batch;
        for (int k = 0; k <= b % 3; ++k)
          batch.push_back(R"({"w":)" + std::to_string(w) + R"(,"b":)" + std::to_string(b)
                          + R"(,"k":)" + std::to_string(k) + R"(,"pad":")"
                          + std::string(static_cast<std::size_t>(100 + 37 * k), 'p') + "\"}");
        if (!mine.keep(batch).empty())
          ++failures;
      }
    });
  std::vector<std::string> seen;
  std::atomic<bool> writing{true};
  std::thread replayer([&] {
    outbox mine{dir, "q"};
    while (writing) {
      std::optional<outbox_claim> claim;
      if (mine.take(claim) != status::claimed)
        continue;
      seen.insert(seen.end(), claim->lines().begin(), claim->lines().end());
      if (!claim->finish(claim->lines().size()).empty())
        ++failures;
    }
  });
  for (auto& t : threads)
    t.join();
  writing = false;
  replayer.join();
  CHECK(failures == 0);
  auto rest = replay_all(outbox{dir, "q"});
  seen.insert(seen.end(), rest.begin(), rest.end());

  std::size_t expected = 0;
  for (int b = 0; b < batches; ++b)
    expected += writers * static_cast<std::size_t>(b % 3 + 1);
  CHECK(seen.size() == expected);
  CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == expected); // none twice
  for (const auto& line : seen) { // none torn
    REQUIRE(line.front() == '{');
    REQUIRE(line.back() == '}');
  }
  // Each writer's lines come back in the order it wrote them.
  std::map<std::string, std::vector<std::string>> by_writer;
  for (const auto& line : seen)
    by_writer[line.substr(0, line.find(','))].push_back(line);
  for (const auto& [writer, in_order] : by_writer) {
    auto sorted = in_order;
    auto batch_of = [](const std::string& l) { return std::stoi(l.substr(l.find("\"b\":") + 4)); };
    std::stable_sort(sorted.begin(), sorted.end(),
                     [&](const auto& x, const auto& y) { return batch_of(x) < batch_of(y); });
    CHECK(sorted == in_order);
  }
}

TEST_CASE("a directory that cannot be made is reported, by the check and by keep") {
  auto base = scratch_dir("unusable");
  std::filesystem::create_directories(base);
  std::ofstream{base + "/file.txt"} << "a file\n";
  outbox box{base + "/file.txt/sub", "q"};
  CHECK(box.problem().find("file.txt/sub") != std::string::npos);
  auto failure = box.keep(lines(1, 1));
  CHECK(failure.find("file.txt/sub") != std::string::npos);
  CHECK(box.empty());

  outbox fine{base + "/new/deeper", "q"}; // missing but creatable
  CHECK(fine.problem().empty());
  CHECK_FALSE(std::filesystem::exists(base + "/new")); // the check creates nothing
  CHECK(fine.keep(lines(1, 1)).empty());
  CHECK(replay_all(fine) == lines(1, 1));
}
