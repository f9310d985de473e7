// fetcher: a detached actor owning ONE broker connection. It fetches only as many messages as
// the dispatcher gave it credit for, one bounded blocking call at a time, and acks, requeues and
// dead-letters on that same connection (broker delivery tags belong to a connection).
// Acks are coalesced: an ack message only queues its tags and sends the fetcher a flush_acks;
// since the mailbox is FIFO, every ack that arrived meanwhile (while a broker call ran) is in
// the queue before that flush, so a busy queue acks in few large calls.
// It blocks in the broker (up to fetch_wait) only while none of its messages are out: then no
// ack can be waiting behind the call. With messages out it polls without blocking and, when
// nothing came, parks until an ack arrives or a short timer fires (a broker with a delivery
// window, like RabbitMQ's prefetch, only delivers more after acks).
// A broker error ends it, after a handshake with the dispatcher (broken) so that no ack sent
// to it meanwhile is lost; the queue_supervisor restarts it with backoff. A new fetcher connects
// first and tells the dispatcher whether its connection continues the previous one of its slot
// (see broker_connection::continues_previous), so acks of tasks still running are not lost.
#pragma once

#include <memory>
#include <vector>

#include <caf/actor.hpp>
#include <caf/error.hpp>

#include "actors/actors.hpp"
#include "core/queue_context.hpp"

namespace funboost::actors {

struct fetcher_state {
  static inline const char* name = "funboost.fetcher";
  // Not an aggregate: C++20 would let CAF construct an aggregate state from the actor pointer.
  fetcher_state() = default;
  detail::queue_context_ptr ctx;
  uint32_t slot = 0;
  uint32_t epoch = 0;
  dispatcher_actor dispatcher;
  supervisor_actor supervisor;
  std::unique_ptr<broker_connection> connection;
  uint32_t credit = 0;         // messages the dispatcher will take
  uint32_t outstanding = 0;    // delivered, not yet acked / requeued / dead-lettered
  bool fetch_scheduled = false;
  std::vector<uint64_t> acks_due; // acks received, sent to the broker together by flush_acks
  bool ack_flush_scheduled = false;
  bool parked = false;         // waiting for an ack or the park timer before fetching again
  bool park_timer_set = false; // one timer at a time, or every parked fetch would add one
  bool draining = false;       // graceful stop: fetch nothing more
  bool reported_healthy = false;
  caf::error broken;           // a broker call failed: waiting for the dispatcher, then dying
  std::vector<fetched_message> buffer;

  broker_connection& connect();
};

fetcher_actor::behavior_type fetcher(fetcher_actor::stateful_pointer<fetcher_state> self,
                                     detail::queue_context_ptr ctx, uint32_t slot,
                                     uint32_t epoch, dispatcher_actor dispatcher,
                                     supervisor_actor supervisor);

} // namespace funboost::actors
