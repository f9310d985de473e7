// The Lua scripts of the Redis brokers. Each runs atomically on the server, so a crash of the
// client can never leave a message half-moved.
#pragma once

#include <string_view>

namespace funboost::brokers::redis::scripts {

/// KEYS[1] heartbeat set; ARGV[1] expiry s, ARGV[2] "beat" | "leave", ARGV[3..] consumer ids.
/// Drops entries older than the expiry and the given ids' old entries; "beat" then adds
/// "{id}&&{redis TIME}" for each id (funboost's heartbeat format).
extern const std::string_view heartbeat;

/// KEYS[1] queue list, KEYS[2] unack zset, KEYS[3] unack registry, KEYS[4] heartbeat set,
/// KEYS[5] crash counts hash, KEYS[6] consumer clients hash; ARGV[1] n, ARGV[2] score (now,
/// s), ARGV[3] consumer id, ARGV[4] this process's client name. If the unack zset is no longer
/// registered (another consumer declared this one dead, e.g. after a freeze longer than the
/// heartbeat expiry, and recovered it), first beats and registers again (its process too): nothing is ever added to an unack key that recovery cannot see. Then
/// LRANGE+LTRIM up to n messages and ZADD each into the unack zset. Returns
/// {messages, their crash counts (empty when none is counted), 1 if it re-registered}.
extern const std::string_view ack_able_fetch;

/// KEYS[1] lock, KEYS[2] heartbeat set, KEYS[3] unack registry, KEYS[4] queue list,
/// KEYS[5] crash counts hash (field = message), KEYS[6] running marks hash (field = consumer
/// id); ARGV[1] heartbeat expiry s, ARGV[2] unack key prefix "{q}__unack_id_", ARGV[3] the
/// highest count a death with no marked message may give (max_crash_deliveries - 1, at least
/// 1; 0 = count nothing), ARGV[4] the number L of lost ids, ARGV[5..4+L] ids known lost (broken
/// connections of this live process: not a crash), ARGV[5+L..] ids known gone (a process that
/// died, see redis_keeper). Under the lock (SET NX EX 30), pushes back every registered unack
/// zset whose consumer has no live heartbeat or is known lost or gone, and deletes it. A
/// consumer that died (no heartbeat, or gone): its marked
/// running message (a suspect run alone) gets its crash count incremented; with none marked,
/// every message it held does, but not beyond ARGV[3]: only a death while a task ran alone can
/// send it to the dead-letter queue, so prefetched healthy tasks caught in several deaths never
/// are. Returns {moved, the marked messages blamed...}, or {-1} when another consumer holds
/// the lock.
extern const std::string_view ack_able_recover;

/// KEYS[1] unack zset, KEYS[2] queue list, KEYS[3] unack registry, KEYS[4] heartbeat set,
/// KEYS[5] running marks hash; ARGV[1] consumer id. A graceful close: pushes this consumer's unacked messages back,
/// unregisters its unack key and removes its heartbeat. Returns the messages moved.
extern const std::string_view ack_able_close;

/// A consumer continued on a new connection (see ack_able_broker::park): messages in its unack
/// key KEYS[1] that it does not know (ARGV: the bodies it fetched and holds) were moved there by
/// a fetch whose reply was lost with the old connection; they never ran, so they go back to the
/// head of the queue KEYS[2]. Returns how many.
extern const std::string_view ack_able_reclaim;

/// KEYS[1] lock, KEYS[2] heartbeat set, KEYS[3] stream, KEYS[4] crash counts hash, KEYS[5]
/// running marks hash; ARGV[1] heartbeat expiry s, ARGV[2] group, ARGV[3] min idle ms, ARGV[4]
/// the unmarked cap (as ack_able_recover's ARGV[3]), ARGV[5] the number L of lost ids,
/// ARGV[6..5+L] lost ids, the rest gone ids. Under the lock, re-adds every pending entry of the
/// lost and gone consumers at once and of any consumer without a live heartbeat once idle that
/// long (XADD a copy, XACK and XDEL the original), counting deaths as ack_able_recover does
/// (not for lost ones). Returns {moved, the marked messages blamed...}, or {-1} when the lock
/// is held.
extern const std::string_view stream_recover;

/// KEYS[1] stream, KEYS[2] heartbeat set, KEYS[3] running marks; ARGV[1] group, ARGV[2]
/// consumer id. A graceful close: re-adds this consumer's pending entries, deletes the consumer
/// from the group and removes its heartbeat and running mark. Returns the entries moved.
extern const std::string_view stream_close;

/// KEYS[1] delayed tasks zset (score = due, Unix s), KEYS[2] the queue (list or stream);
/// ARGV[1] now (Unix s), ARGV[2] at most this many, ARGV[3] "list" | "stream". Takes the due
/// messages, earliest first, and pushes each to the queue (RPUSH, or XADD q * "" msg) unless
/// it is later than its extra.misfire_grace_time. Atomic, so each is fired once however many
/// schedulers call it. Returns {fired, the earliest score still kept or "", {missed...}}.
extern const std::string_view delay_fire;

} // namespace funboost::brokers::redis::scripts
