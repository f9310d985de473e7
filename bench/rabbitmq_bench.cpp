// RabbitMQ broker benchmarks (broker_kind rabbitmq) against a real rabbitmq-server this program
// starts as its own node on loopback ports chosen at run time: the push rate with publisher
// confirms (beside the same publishes with plain rabbitmq-c: the server's own limit) and the
// drain rate of a pre-filled queue.
// Usage: rabbitmq_bench [NAME-FILTER]   (substring of the figure names; default: all)
#include <atomic>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <funboost/funboost.hpp>

#include "../test/rabbitmq/amqp_raw.hpp"
#include "../test/rabbitmq/rabbitmq_server.hpp"
#include "bench_report.hpp"
#include "bench_fill.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using rabbitmq_test::rabbitmq_server;
using rabbitmq_test::raw_amqp;

namespace {

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

funboost::booster_options rabbit_queue(const rabbitmq_server& server, std::string queue) {
  funboost::booster_options o;
  o.queue_name = std::move(queue);
  o.broker_kind = funboost::broker_kind::rabbitmq;
  o.broker.url = server.url();
  o.arg_names = {"i"};
  o.logging.level = funboost::log_level::error;
  o.logging.file_dir = "";
  o.logging.stats_interval = 0s;
  return o;
}



std::string fixed(double v, int digits = 0) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

/// A plain rabbitmq-c connection to the bench's server with channel 1 open; throws with `who`.
amqp_connection_state_t plain_connection(int port, const std::string& who) {
  auto state = amqp_new_connection();
  auto* socket = amqp_tcp_socket_new(state);
  timeval tv{10, 0};
  auto fail = [&](const std::string& what) {
    amqp_destroy_connection(state);
    throw std::runtime_error(who + ": " + what);
  };
  if (!socket || amqp_socket_open_noblock(socket, "127.0.0.1", port, &tv) != AMQP_STATUS_OK)
    fail("cannot connect");
  if (amqp_login(state, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest").reply_type
      != AMQP_RESPONSE_NORMAL)
    fail("login");
  amqp_channel_open(state, 1);
  return state;
}

/// The server's own limit, for comparison: plain rabbitmq-c, no funboost code, one channel in
/// confirm mode, `n` persistent messages of `body` in batches of `batch`, each batch's confirms
/// awaited before the next (what push_many does). Returns messages per second.
double plain_rabbitmq_c_rate(int port, const std::string& queue, const std::string& body, int n,
                             int batch) {
  auto state = plain_connection(port, "plain rabbitmq-c baseline");
  auto fail = [&](const std::string& what) {
    amqp_destroy_connection(state);
    throw std::runtime_error("plain rabbitmq-c baseline: " + what);
  };
  amqp_queue_declare(state, 1, amqp_cstring_bytes(queue.c_str()), 0, 1, 0, 0, amqp_empty_table);
  amqp_confirm_select(state, 1);
  if (amqp_get_rpc_reply(state).reply_type != AMQP_RESPONSE_NORMAL)
    fail("confirm.select");
  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.delivery_mode = 2;
  amqp_bytes_t bytes{body.size(), const_cast<char*>(body.data())};
  uint64_t published = 0;
  auto t0 = clock_type::now();
  for (int sent = 0; sent < n; sent += batch) {
    for (int i = 0; i < batch; ++i)
      if (amqp_basic_publish(state, 1, amqp_empty_bytes, amqp_cstring_bytes(queue.c_str()), 0, 0,
                             &props, bytes)
          != AMQP_STATUS_OK)
        fail("basic.publish");
    published += batch;
    for (uint64_t confirmed = 0; confirmed < published;) {
      amqp_frame_t frame;
      if (amqp_simple_wait_frame(state, &frame) != AMQP_STATUS_OK)
        fail("waiting for confirms");
      if (frame.frame_type == AMQP_FRAME_METHOD && frame.payload.method.id == AMQP_BASIC_ACK_METHOD)
        confirmed = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded)->delivery_tag;
    }
    amqp_maybe_release_buffers(state);
  }
  double rate = n / seconds_since(t0);
  amqp_queue_delete(state, 1, amqp_cstring_bytes(queue.c_str()), 0, 0);
  amqp_channel_close(state, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(state, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(state);
  return rate;
}

void push(funboost::runtime& rt, const rabbitmq_server& server, raw_amqp& raw) {
  const std::string queue = "bench_rabbitmq_push";
  auto b = rt.boost([](int) {}, rabbit_queue(server, queue));
  b.clear();
  for (int i = 0; i < 200; ++i) // warm up: connection, channel, confirm mode, queue declared
    b.push(i);
  b.clear();

  constexpr int n = 100'000, batch = 1000;
  auto [published, seconds] = bench::timed_push_many(b, n, batch);
  double rate = n / seconds;
  auto ready = raw.count(queue);
  b.clear();

  constexpr int n_sync = 1'000;
  int published_sync = 0;
  auto t1 = clock_type::now();
  for (int i = 0; i < n_sync; ++i)
    published_sync += b.push(i).published() ? 1 : 0;
  double rate_sync = n_sync / seconds_since(t1);
  b.clear();
  // The same number of messages of the same size, with plain rabbitmq-c: the server's limit.
  std::string body(200, 'x');
  double plain = plain_rabbitmq_c_rate(server.port(), queue + "_plain", body, n, batch);
  bench::report("rabbitmq.push", rate, "tasks/s", 40'000, ">=",
                "push_many of " + std::to_string(n) + " no-op tasks in batches of "
                  + std::to_string(batch) + " with publisher confirms, persistent, one thread; "
                  + std::to_string(published) + " confirmed, " + std::to_string(ready)
                  + " ready in the queue; push() one at a time (one confirm each): "
                  + fixed(rate_sync) + " tasks/s over " + std::to_string(n_sync) + " ("
                  + std::to_string(published_sync)
                  + " confirmed); the server's limit in the same run, plain rabbitmq-c "
                    "publishing as many 200-byte persistent messages in the same batches with "
                    "confirms: "
                  + fixed(plain) + " msg/s");
}

/// push() one at a time in publish_mode pipelined: the publisher streams each gathered batch
/// and waits for its confirms once, as push_many does.
void push_pipelined(funboost::runtime& rt, const rabbitmq_server& server, raw_amqp& raw) {
  const std::string queue = "bench_rabbitmq_push_pipelined";
  auto o = rabbit_queue(server, queue);
  o.publish_mode = funboost::publish_mode::pipelined;
  auto b = rt.boost([](int) {}, o);
  b.clear();
  for (int i = 0; i < 200; ++i) // warm up: connection, channel, confirm mode, queue declared
    b.push(i);
  b.flush();
  b.clear();
  constexpr int n = 100'000;
  auto t0 = clock_type::now();
  for (int i = 0; i < n; ++i)
    b.push(i);
  double returned_s = seconds_since(t0);
  b.flush();
  double seconds = seconds_since(t0);
  auto ready = raw.count(queue);
  b.clear();
  bench::report("rabbitmq.push_pipelined", n / seconds, "tasks/s", 40'000, ">=",
                "push() one at a time from one thread, publish_mode pipelined, " + std::to_string(n)
                  + " no-op tasks, persistent, with publisher confirms, until flush() returned "
                    "(the pushes alone took " + fixed(returned_s, 2) + " s); "
                  + std::to_string(ready) + " ready in the queue");
}

/// The server's own delivery limit, for comparison: plain rabbitmq-c, no funboost code, one
/// connection consuming `n` waiting messages of `queue` with basic.qos `prefetch` and one
/// multiple=true ack per `ack_every` messages. Returns messages per second.
double plain_rabbitmq_c_drain_rate(int port, const std::string& queue, int n, int prefetch,
                                   int ack_every) {
  auto state = plain_connection(port, "plain rabbitmq-c drain baseline");
  auto fail = [&](const std::string& what) {
    amqp_destroy_connection(state);
    throw std::runtime_error("plain rabbitmq-c drain baseline: " + what);
  };
  amqp_basic_qos(state, 1, 0, static_cast<uint16_t>(prefetch), 0);
  amqp_basic_consume(state, 1, amqp_cstring_bytes(queue.c_str()), amqp_empty_bytes, 0, 0, 0,
                     amqp_empty_table);
  if (amqp_get_rpc_reply(state).reply_type != AMQP_RESPONSE_NORMAL)
    fail("basic.consume");
  auto t0 = clock_type::now();
  for (int got = 0; got < n;) {
    amqp_envelope_t envelope;
    timeval wait{10, 0};
    if (amqp_consume_message(state, &envelope, &wait, 0).reply_type != AMQP_RESPONSE_NORMAL)
      fail("no delivery within 10 s after " + std::to_string(got));
    ++got;
    if (got % ack_every == 0 || got == n)
      amqp_basic_ack(state, 1, envelope.delivery_tag, 1);
    amqp_destroy_envelope(&envelope);
    amqp_maybe_release_buffers(state);
  }
  double rate = n / seconds_since(t0);
  amqp_channel_close(state, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(state, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(state);
  return rate;
}

/// One drain figure: `n` no-op tasks pre-filled, then consumed by a booster with `o`'s
/// settings until all ran (acks included: the graceful stop sends the last ones).
void drain_figure(funboost::runtime& rt, raw_amqp& raw, const std::string& name,
                  funboost::booster_options o, int n, double plain_rate) {
  std::atomic<int> done{0};
  auto b = rt.boost([&](int) { done.fetch_add(1, std::memory_order_relaxed); }, o);
  b.clear();
  auto f0 = clock_type::now();
  int filled = bench::fill(b, n, 1000);
  double fill_s = seconds_since(f0);
  constexpr auto cap = 60s;
  std::fprintf(stderr, "rabbitmq_bench: %s: draining\n", name.c_str()); // a profiler's cue
  auto t0 = clock_type::now();
  b.consume();
  while (done.load(std::memory_order_relaxed) < n && clock_type::now() < t0 + cap)
    std::this_thread::sleep_for(1ms);
  b.stop(); // graceful: the last acks are sent before it returns
  double elapsed = seconds_since(t0);
  int finished = done.load();
  auto left = raw.count(o.queue_name);
  b.clear();
  std::string note = std::to_string(filled) + " pre-filled with push_many (" + fixed(fill_s, 2)
                     + " s), conn_num " + std::to_string(o.conn_num) + ", concurrent_num "
                     + std::to_string(o.concurrent_num)
                     + ", default prefetch, no-op function, acks included: "
                     + std::to_string(finished) + " run in " + fixed(elapsed, 2) + " s, "
                     + std::to_string(left) + " left; plain rabbitmq-c consuming the same "
                       "messages in the same run (prefetch 2000, an ack per 500): "
                     + fixed(plain_rate) + "/s";
  if (finished < n)
    note += " (stopped at the " + std::to_string(cap.count()) + " s cap)";
  bench::report(name, finished / elapsed, "tasks/s", 40'000, ">=", note);
}

void drain(funboost::runtime& rt, const rabbitmq_server& server, raw_amqp& raw,
           const std::string& filter) {
  constexpr int n = 200'000;
  // The server's limit first: the same messages, consumed by plain rabbitmq-c.
  const std::string plain_queue = "bench_rabbitmq_drain_plain";
  {
    auto o = rabbit_queue(server, plain_queue);
    auto b = rt.boost([](int) {}, o);
    b.clear();
    bench::fill(b, n, 1000);
  }
  double plain = plain_rabbitmq_c_drain_rate(server.port(), plain_queue, n, 2000, 500);
  raw.purge(plain_queue);

  if (std::string{"rabbitmq.drain_default"}.find(filter) != std::string::npos)
    drain_figure(rt, raw, "rabbitmq.drain_default",
                 rabbit_queue(server, "bench_rabbitmq_drain_default"), n, plain);
  if (std::string{"rabbitmq.drain"}.find(filter) != std::string::npos) {
    auto o = rabbit_queue(server, "bench_rabbitmq_drain");
    o.conn_num = 4;
    o.concurrent_num = 8;
    drain_figure(rt, raw, "rabbitmq.drain", o, n, plain);
  }
}

} // namespace

int main(int argc, char** argv) {
  std::string filter = argc > 1 ? argv[1] : "";
  auto wanted = [&](const std::string& name) { return name.find(filter) != std::string::npos; };
  if (!wanted("rabbitmq.push") && !wanted("rabbitmq.drain") && !wanted("rabbitmq.drain_default"))
    return 0;
  try {
    auto started = clock_type::now();
    rabbitmq_server server;
    std::fprintf(stderr, "rabbitmq_bench: rabbitmq-server on port %d, up in %.1f s\n",
                 server.port(), seconds_since(started));
    raw_amqp raw{server.port()};
    funboost::runtime rt;
    if (wanted("rabbitmq.push") && std::string{"rabbitmq.push"}.find(filter) != std::string::npos)
      push(rt, server, raw);
    if (wanted("rabbitmq.push_pipelined"))
      push_pipelined(rt, server, raw);
    if (wanted("rabbitmq.drain") || wanted("rabbitmq.drain_default"))
      drain(rt, server, raw, filter);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rabbitmq_bench: %s\n", e.what());
    return 1;
  }
}
