/*
** The Redis store's atomic decisions, one Lua script each (run with EVALSHA; loaded with SCRIPT
** LOAD on connect). Every script reads the server's clock with TIME, in whole microseconds; a
** time is written with string.format('%d') because Lua 5.1 prints numbers with 14 digits.
** Keys: autolua:{H}:lim (hash: tat, pause, last, seq), autolua:{H}:log (sorted set of grant
** times), autolua:{H}:hb (sorted set: owner -> heartbeat expiry), autolua:{H}:items (hash:
** item key -> JSON record), autolua:{H}:job (hash: name, changed) and autolua:jobs (sorted set:
** job name -> last change). H hashes the limiter key or the job name, so the keys one script
** touches share a Redis Cluster slot.
*/
#ifndef AUTOLUA_STORE_REDIS_SCRIPTS_H
#define AUTOLUA_STORE_REDIS_SCRIPTS_H

#define RS_NOW \
  "local t = redis.call('TIME')\n" \
  "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n" \
  "local function fmt(x) return string.format('%d', x) end\n" \
  "local function keep(key, ms)\n" \
  "  ms = math.ceil(ms)\n" \
  "  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end\n" \
  "end\n"

enum { RS_RESERVE, RS_PAUSE, RS_HEARTBEAT, RS_CLAIM, RS_RENEW, RS_FINISH, RS_COUNTS, RS_LIST,
       RS_TOUCH, RS_FORGET, RS_COUNT };

/* KEYS: lim, log. ARGV: kind ('r' | 'w'), n, max_wait (us, < 0: none), interval (us), burst,
** limit, window (us), spacing (us; > 0 paces a window's backlog). Returns {granted, wait_us,
** now_us}: the slot is now + wait on the server's clock. The slot is never before the pause nor the
** last slot reserved, so callers are served in the order their calls arrive. */
static const char rs_reserve[] = RS_NOW
  "local kind, n, maxw = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])\n"
  "local st = redis.call('HMGET', KEYS[1], 'tat', 'pause', 'last', 'seq')\n"
  "local at = math.max(now, tonumber(st[2]) or 0, tonumber(st[3]) or 0)\n"
  "local horizon\n"
  "if kind == 'r' then\n"
  "  local interval, burst = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
  "  local tat = tonumber(st[1]) or 0\n"
  "  at = math.max(at, math.ceil(tat + (n - burst) * interval))\n"
  "  if maxw >= 0 and at - now > maxw then return {0, at - now, now} end\n"
  "  tat = math.ceil(math.max(tat, at) + n * interval)\n"
  "  redis.call('HSET', KEYS[1], 'tat', fmt(tat), 'last', fmt(at))\n"
  "  horizon = tat\n"
  "else\n"
  "  local limit, window = tonumber(ARGV[6]), tonumber(ARGV[7])\n"
  "  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', fmt(now - window))\n"
  "  local need = redis.call('ZCARD', KEYS[2]) + n - limit\n"
  "  if need > 0 then\n"
  "    local g = redis.call('ZRANGE', KEYS[2], need - 1, need - 1, 'WITHSCORES')\n"
  "    at = math.max(at, tonumber(g[2]) + window)\n"
  "  end\n"
  "  local spacing = tonumber(ARGV[8])\n"
  "  if spacing > 0 and at > now then at = math.max(at, math.ceil((tonumber(st[3]) or 0) + n * spacing)) end\n"
  "  if maxw >= 0 and at - now > maxw then return {0, at - now, now} end\n"
  "  local seq = tonumber(st[4]) or 0\n"
  "  for i = 1, n do redis.call('ZADD', KEYS[2], fmt(at), fmt(seq + i)) end\n"
  "  redis.call('HSET', KEYS[1], 'last', fmt(at), 'seq', fmt(seq + n))\n"
  "  horizon = at + window\n"
  "  keep(KEYS[2], (horizon - now) / 1000 + 60000)\n"
  "end\n"
  "keep(KEYS[1], (horizon - now) / 1000 + 60000)\n"
  "return {1, at - now, now}\n";

/* KEYS: lim. ARGV: seconds (us). A pause only ever lengthens. */
static const char rs_pause[] = RS_NOW
  "local untl = now + tonumber(ARGV[1])\n"
  "local cur = tonumber(redis.call('HGET', KEYS[1], 'pause')) or 0\n"
  "if untl > cur then redis.call('HSET', KEYS[1], 'pause', fmt(untl)) end\n"
  "keep(KEYS[1], (math.max(untl, cur) - now) / 1000 + 60000)\n"
  "return 1\n";

/* KEYS: hb. ARGV: owner, ttl (us). Returns the live heartbeats. */
static const char rs_heartbeat[] = RS_NOW
  "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', fmt(now))\n"
  "redis.call('ZADD', KEYS[1], fmt(now + tonumber(ARGV[2])), ARGV[1])\n"
  "keep(KEYS[1], tonumber(ARGV[2]) / 1000 + 1000)\n"
  "return redis.call('ZCARD', KEYS[1])\n";

/* An item record: {s = 1 running | 2 done | 3 failed, o = owner, l = lease expiry (us, as a
** string), once = 0 | 1, r = result JSON or failure message, k = kind, c = code}. */
#define RS_ITEM \
  "local raw = redis.call('HGET', KEYS[1], ARGV[1])\n" \
  "local it = raw and cjson.decode(raw) or nil\n" \
  "local function touch(retention)\n" \
  "  redis.call('HSET', KEYS[2], 'changed', fmt(now))\n" \
  "  redis.call('PEXPIRE', KEYS[1], retention)\n" \
  "  redis.call('PEXPIRE', KEYS[2], retention)\n" \
  "end\n"

/* KEYS: items, job. ARGV: item, owner, lease (us), once, retry_unknown, retention (ms).
** Returns {0 granted, previously failed, 0} | {1 done, result} | {2 held, 0, lease left (us)}
** | {3 unknown}. */
static const char rs_claim[] = RS_NOW RS_ITEM
  "local function grant(failed)\n"
  "  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({s = 1, o = ARGV[2],\n"
  "    l = fmt(now + tonumber(ARGV[3])), once = tonumber(ARGV[4])}))\n"
  "  touch(ARGV[6])\n"
  "  return {0, failed, 0}\n"
  "end\n"
  "if not it then return grant(0) end\n"
  "if it.s == 3 then return grant(1) end\n"
  "if it.s == 2 then return {1, it.r or false, 0} end\n"
  "if it.o == ARGV[2] then return grant(0) end\n"
  "local lease = tonumber(it.l)\n"
  "if lease > now then return {2, 0, lease - now} end\n"
  "if it.once == 1 and ARGV[5] ~= '1' then return {3, 0, 0} end\n"
  "return grant(0)\n";

/* KEYS: items. ARGV: item, owner, lease (us). Returns 1 if the caller still owned it. */
static const char rs_renew[] = RS_NOW
  "local raw = redis.call('HGET', KEYS[1], ARGV[1])\n"
  "if not raw then return 0 end\n"
  "local it = cjson.decode(raw)\n"
  "if it.s ~= 1 or it.o ~= ARGV[2] then return 0 end\n"
  "it.l = fmt(now + tonumber(ARGV[3]))\n"
  "redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(it))\n"
  "return 1\n";

/* KEYS: items, job. ARGV: item, owner, state (2 done | 3 failed), has result, result or
** message, kind, code, retention (ms). Returns 1 if recorded. */
static const char rs_finish[] = RS_NOW RS_ITEM
  "local state = tonumber(ARGV[3])\n"
  "if state == 3 and it then\n"
  "  if it.s == 2 then return 0 end\n"
  "  if it.s == 1 and it.o ~= ARGV[2] and tonumber(it.l) > now then return 0 end\n"
  "end\n"
  "local rec = {s = state, o = ARGV[2], l = '0', once = 0}\n"
  "if ARGV[4] == '1' then rec.r = ARGV[5] end\n"
  "if ARGV[6] ~= '' then rec.k = ARGV[6] end\n"
  "if ARGV[7] ~= '' then rec.c = ARGV[7] end\n"
  "redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(rec))\n"
  "touch(ARGV[8])\n"
  "return 1\n";

/* KEYS: items, job. Returns {done, failed, running, unknown, pending, changed (us)}. It reads
** every item: fine for `autolua job show`, not for a hot path. */
static const char rs_counts[] = RS_NOW
  "local c = {0, 0, 0, 0, 0}\n"
  "for _, raw in ipairs(redis.call('HVALS', KEYS[1])) do\n"
  "  local it = cjson.decode(raw)\n"
  "  local i\n"
  "  if it.s == 2 then i = 1 elseif it.s == 3 then i = 2\n"
  "  elseif tonumber(it.l) > now then i = 3 elseif it.once == 1 then i = 4 else i = 5 end\n"
  "  c[i] = c[i] + 1\n"
  "end\n"
  "c[6] = tonumber(redis.call('HGET', KEYS[2], 'changed')) or 0\n"
  "return c\n";

/* KEYS: autolua:jobs. ARGV: retention (us). Returns {name, changed (us), ...}. */
static const char rs_list[] = RS_NOW
  "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', fmt(now - tonumber(ARGV[1])))\n"
  "return redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')\n";

/* KEYS: autolua:jobs. ARGV: name, 'add' | 'del'. */
static const char rs_touch[] = RS_NOW
  "if ARGV[2] == 'del' then return redis.call('ZREM', KEYS[1], ARGV[1]) end\n"
  "redis.call('ZADD', KEYS[1], fmt(now), ARGV[1])\n"
  "return 1\n";

/* KEYS: items, job. ARGV: item ('' for the whole job). Returns the items deleted. */
static const char rs_forget[] = RS_NOW
  "if ARGV[1] == '' then\n"
  "  local n = redis.call('HLEN', KEYS[1])\n"
  "  redis.call('DEL', KEYS[1], KEYS[2])\n"
  "  return n\n"
  "end\n"
  "local n = redis.call('HDEL', KEYS[1], ARGV[1])\n"
  "if n > 0 then redis.call('HSET', KEYS[2], 'changed', fmt(now)) end\n"
  "return n\n";

static const char *const rs_body[RS_COUNT] = {
  rs_reserve, rs_pause, rs_heartbeat, rs_claim, rs_renew, rs_finish, rs_counts, rs_list,
  rs_touch, rs_forget
};

#endif
