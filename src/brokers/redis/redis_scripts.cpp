#include "brokers/redis/redis_scripts.hpp"

namespace funboost::brokers::redis::scripts {

// Shared Lua: the consumer ids with a heartbeat no older than `expiry` seconds (redis TIME).
#define FUNBOOST_LUA_ALIVE                                                                     \
  "local function alive_ids(key, expiry)\n"                                                    \
  "  local t = redis.call('TIME')\n"                                                           \
  "  local now = tonumber(t[1]) + tonumber(t[2]) / 1000000\n"                                  \
  "  local alive = {}\n"                                                                       \
  "  for _, m in ipairs(redis.call('SMEMBERS', key)) do\n"                                     \
  "    local id, ts = string.match(m, '^(.*)&&([^&]*)$')\n"                                    \
  "    local stamp = tonumber(ts or '')\n"                                                     \
  "    if id and stamp and now - stamp <= expiry then alive[id] = true end\n"                  \
  "  end\n"                                                                                    \
  "  return alive\n"                                                                           \
  "end\n"

const std::string_view heartbeat = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local expiry = tonumber(ARGV[1])
local mine = {}
for i = 3, #ARGV do mine[ARGV[i]] = true end
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local id, ts = string.match(m, '^(.*)&&([^&]*)$')
  local stamp = tonumber(ts or '')
  if id == nil or stamp == nil or now - stamp > expiry or mine[id] then
    redis.call('SREM', KEYS[1], m)
  end
end
if ARGV[2] == 'beat' then
  local stamp = string.format('%.6f', now)
  for i = 3, #ARGV do redis.call('SADD', KEYS[1], ARGV[i] .. '&&' .. stamp) end
end
return 1
)lua";

const std::string_view ack_able_fetch = R"lua(
local rejoined = 0
if redis.call('SISMEMBER', KEYS[3], KEYS[2]) == 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  redis.call('SADD', KEYS[4], ARGV[3] .. '&&' .. string.format('%.6f', now))
  redis.call('SADD', KEYS[3], KEYS[2])
  redis.call('HSET', KEYS[6], ARGV[3], ARGV[4])
  rejoined = 1
end
local n = tonumber(ARGV[1])
local msgs = redis.call('LRANGE', KEYS[1], 0, n - 1)
local counts = {}
if #msgs > 0 then
  redis.call('LTRIM', KEYS[1], #msgs, -1)
  local args = {}
  for i, m in ipairs(msgs) do
    args[2 * i - 1] = ARGV[2]
    args[2 * i] = m
  end
  for i = 1, #args, 2000 do
    redis.call('ZADD', KEYS[2], unpack(args, i, math.min(i + 1999, #args)))
  end
  if redis.call('EXISTS', KEYS[5]) == 1 then
    for i, m in ipairs(msgs) do counts[i] = tonumber(redis.call('HGET', KEYS[5], m) or '0') end
  end
end
return {msgs, counts, rejoined}
)lua";

const std::string_view ack_able_recover = FUNBOOST_LUA_ALIVE R"lua(
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', 30) then return {-1} end
local alive = alive_ids(KEYS[2], tonumber(ARGV[1]))
local prefix = ARGV[2]
local unmarked_cap = tonumber(ARGV[3])
local lost_count = tonumber(ARGV[4])
local dead = {}
for i = 5, #ARGV do dead[ARGV[i]] = (i < 5 + lost_count) and 'lost' or 'gone' end
local moved = 0
local blamed = {}
for _, key in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  if string.sub(key, 1, #prefix) == prefix then
    local id = string.sub(key, #prefix + 1)
    if dead[id] or not alive[id] then
      local msgs = redis.call('ZRANGE', key, 0, -1)
      if dead[id] ~= 'lost' and #msgs > 0 then
        local running = redis.call('HGET', KEYS[6], id)
        if running and redis.call('ZSCORE', key, running) then
          redis.call('HINCRBY', KEYS[5], running, 1)
          blamed[#blamed + 1] = running
        else
          for _, m in ipairs(msgs) do
            if tonumber(redis.call('HGET', KEYS[5], m) or '0') < unmarked_cap then
              redis.call('HINCRBY', KEYS[5], m, 1)
            end
          end
        end
        redis.call('EXPIRE', KEYS[5], 604800)
      end
      redis.call('HDEL', KEYS[6], id)
      for i = 1, #msgs, 1000 do
        redis.call('RPUSH', KEYS[4], unpack(msgs, i, math.min(i + 999, #msgs)))
      end
      moved = moved + #msgs
      redis.call('DEL', key)
      redis.call('SREM', KEYS[3], key)
    end
  end
end
redis.call('DEL', KEYS[1])
return {moved, unpack(blamed)}
)lua";

const std::string_view ack_able_close = R"lua(
local msgs = redis.call('ZRANGE', KEYS[1], 0, -1)
for i = 1, #msgs, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(msgs, i, math.min(i + 999, #msgs)))
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[3], KEYS[1])
redis.call('HDEL', KEYS[5], ARGV[1])
for _, m in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  local id = string.match(m, '^(.*)&&[^&]*$')
  if id == ARGV[1] then redis.call('SREM', KEYS[4], m) end
end
return #msgs
)lua";

const std::string_view ack_able_reclaim = R"lua(
local known = {}
for _, m in ipairs(ARGV) do known[m] = true end
local lost = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if not known[m] then lost[#lost + 1] = m end
end
for i = 1, #lost, 1000 do
  local part = {unpack(lost, i, math.min(i + 999, #lost))}
  redis.call('ZREM', KEYS[1], unpack(part))
  redis.call('LPUSH', KEYS[2], unpack(part))
end
return #lost
)lua";

// Shared Lua: gives pending entry `id` back to the stream as a new entry; returns its body
// (false when the entry is gone or has no field).
#define FUNBOOST_LUA_READD                                                                     \
  "local function readd(stream, group, id)\n"                                                  \
  "  local entries = redis.call('XRANGE', stream, id, id)\n"                                   \
  "  local body = false\n"                                                                     \
  "  if #entries > 0 and entries[1][2] then\n"                                                 \
  "    local fields = entries[1][2]\n"                                                         \
  "    body = fields[2] or false\n"                                                            \
  "    for i = 1, #fields, 2 do\n"                                                             \
  "      if fields[i] == '' then body = fields[i + 1] break end\n"                             \
  "    end\n"                                                                                  \
  "    if body then redis.call('XADD', stream, '*', '', body) end\n"                           \
  "  end\n"                                                                                    \
  "  redis.call('XACK', stream, group, id)\n"                                                  \
  "  redis.call('XDEL', stream, id)\n"                                                         \
  "  return body\n"                                                                            \
  "end\n"

const std::string_view stream_recover = FUNBOOST_LUA_ALIVE FUNBOOST_LUA_READD R"lua(
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', 30) then return {-1} end
local alive = alive_ids(KEYS[2], tonumber(ARGV[1]))
local group = ARGV[2]
local cap = tonumber(ARGV[4])
local lost_count = tonumber(ARGV[5])
local dead = {}
for i = 6, #ARGV do dead[ARGV[i]] = (i < 6 + lost_count) and 'lost' or 'gone' end
local moved = 0
local blamed = {}
-- Gives back one consumer's pending entries; a consumer that died (not a lost connection of a
-- live process) has its marked running entry blamed, or, with none marked, each entry counted
-- up to the cap, as ack_able_recover does.
local function recover(id, entry_ids, blame)
  local bodies = {}
  for _, eid in ipairs(entry_ids) do
    local body = readd(KEYS[3], group, eid)
    if body then bodies[#bodies + 1] = body end
  end
  moved = moved + #bodies
  if blame and cap > 0 and #bodies > 0 then
    local running = redis.call('HGET', KEYS[5], id)
    local held = false
    for _, b in ipairs(bodies) do if b == running then held = true end end
    if held then
      redis.call('HINCRBY', KEYS[4], running, 1)
      blamed[#blamed + 1] = running
    else
      for _, b in ipairs(bodies) do
        if tonumber(redis.call('HGET', KEYS[4], b) or '0') < cap then
          redis.call('HINCRBY', KEYS[4], b, 1)
        end
      end
    end
    redis.call('EXPIRE', KEYS[4], 604800)
  end
  redis.call('HDEL', KEYS[5], id)
end
for id, how in pairs(dead) do
  local ids = {}
  local from = '-'
  for page = 1, 100 do
    local pend = redis.pcall('XPENDING', KEYS[3], group, from, '+', 1000, id)
    if type(pend) ~= 'table' or pend.err or #pend == 0 then break end
    for _, e in ipairs(pend) do ids[#ids + 1] = e[1] end
    if #pend < 1000 then break end
    from = '(' .. pend[#pend][1]
  end
  recover(id, ids, how == 'gone')
end
local by_consumer = {}
local start = '-'
for page = 1, 10 do
  local pend = redis.pcall('XPENDING', KEYS[3], group, 'IDLE', tonumber(ARGV[3]), start, '+', 1000)
  if type(pend) ~= 'table' or pend.err or #pend == 0 then break end
  for _, e in ipairs(pend) do
    if not dead[e[2]] and not alive[e[2]] then
      by_consumer[e[2]] = by_consumer[e[2]] or {}
      table.insert(by_consumer[e[2]], e[1])
    end
  end
  start = '(' .. pend[#pend][1]
end
for id, ids in pairs(by_consumer) do recover(id, ids, true) end
for id, _ in pairs(dead) do
  local left = redis.pcall('XPENDING', KEYS[3], group, '-', '+', 1, id)
  if type(left) == 'table' and not left.err and #left == 0 then
    redis.pcall('XGROUP', 'DELCONSUMER', KEYS[3], group, id)
  end
end
redis.call('DEL', KEYS[1])
return {moved, unpack(blamed)}
)lua";

const std::string_view stream_close = FUNBOOST_LUA_READD R"lua(
local group = ARGV[1]
local moved = 0
local pend = redis.pcall('XPENDING', KEYS[1], group, '-', '+', 100000, ARGV[2])
if type(pend) == 'table' and not pend.err then
  for _, e in ipairs(pend) do
    if readd(KEYS[1], group, e[1]) then moved = moved + 1 end
  end
  redis.pcall('XGROUP', 'DELCONSUMER', KEYS[1], group, ARGV[2])
end
for _, m in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local id = string.match(m, '^(.*)&&[^&]*$')
  if id == ARGV[2] then redis.call('SREM', KEYS[2], m) end
end
redis.call('HDEL', KEYS[3], ARGV[2])
return moved
)lua";

const std::string_view delay_fire = R"lua(
local now = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0,
                       tonumber(ARGV[2]))
local taken, fire, missed = {}, {}, {}
for i = 1, #due, 2 do
  local m = due[i]
  taken[#taken + 1] = m
  local late = false
  -- Decoding costs; only a message that names a grace can be late.
  if string.find(m, '"misfire_grace_time"', 1, true) then
    local ok, msg = pcall(cjson.decode, m)
    if ok and type(msg) == 'table' and type(msg.extra) == 'table' then
      local grace = tonumber(msg.extra.misfire_grace_time)
      if grace and grace > 0 and now - tonumber(due[i + 1]) > grace then late = true end
    end
  end
  if late then missed[#missed + 1] = m else fire[#fire + 1] = m end
end
for i = 1, #taken, 1000 do
  redis.call('ZREM', KEYS[1], unpack(taken, i, math.min(i + 999, #taken)))
end
if ARGV[3] == 'stream' then
  for _, m in ipairs(fire) do redis.call('XADD', KEYS[2], '*', '', m) end
else
  for i = 1, #fire, 1000 do
    redis.call('RPUSH', KEYS[2], unpack(fire, i, math.min(i + 999, #fire)))
  end
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {#fire, nxt[2] or '', missed}
)lua";

#undef FUNBOOST_LUA_ALIVE
#undef FUNBOOST_LUA_READD

} // namespace funboost::brokers::redis::scripts
