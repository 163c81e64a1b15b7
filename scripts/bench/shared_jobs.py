"""The `shared` job of the bench (issue 16): N autolua processes share one Dexi account at 75/s
through the store, against the fake enforcing 75 per sliding second. For N = 1, 2, 4 over
SQLite (and 1, 2, 4, 8 over a redis-server this module starts on a free loopback port, with no
persistence) it reports the achieved rate of 200s as a percentage of 75/s, the 429s, and the
CPU per acquisition (all the processes' CPU over the 200s), next to one process whose limiter
is in-process (AUTOLUA_STORE=memory) and the bare SQLite read-modify-write transaction
(build/sqlite_rmw). The peers: N Node processes, each with its own Bottleneck limiter at 75/s,
which together break the limit; and N Node processes sharing one Bottleneck limiter in its
Redis clustering mode (datastore "ioredis", scripts/bench/node/limited_redis.mjs) through the
same redis-server, at N = 1, 2, 4, 8. Every Redis row also gives the redis-server's own CPU per
acquisition (from /proc/PID/stat), and the store is emptied (FLUSHALL) before each row.

The latency rows time M acquisitions made one after the other with no HTTP and a limit that
never binds (scripts/bench/acquire.lua; limited_redis.mjs --latency), in-process and through
Redis, for autolua and for Bottleneck: the difference is what sharing adds to an acquisition.

harness.py calls make_jobs(h, env) with itself as `h`, so this file needs no import of it.
"""

import os
import shutil
import socket
import subprocess
import time

SHARED_JOBS = ["shared"]


def make_jobs(h, env):
    return [Shared(h, env)]


def _wrapper(h, env, n, argv, extra_env):
    """A shell line that starts n copies of argv at once and waits for them all (the rusage of
    GNU time, the shell's parent, then counts the CPU of every one)."""
    line = " ".join("'%s'" % str(a).replace("'", "'\\''") for a in argv)
    envs = " ".join("%s='%s'" % (k, v) for k, v in extra_env.items())
    return ["sh", "-c", "for i in $(seq %d); do %s %s >/dev/null & done; wait" % (n, envs, line)]


class Shared:
    key = "shared"
    figures = [("pct", "% of 75/s", "{:.1f}"), ("r429", "429s", "{:.0f}"), ("cpu_us", "µs CPU/acq", "{:.1f}"),
               ("redis_us", "µs redis-server CPU/acq", "{:.1f}"), ("lat_us", "µs a lone acquisition", "{:.1f}"),
               ("loop_cpu_us", "µs CPU a lone acquisition", "{:.2f}")]
    repeat = 1
    LATENCY_M = 2000
    RMW_N = 20000       # sqlite_rmw's transactions, and the acquisitions its CPU is set against

    def __init__(self, h, env):
        self.h, self.env = h, env
        self.redis = None
        self.redis_pid = None
        self.redis_cpu0 = None

    def setup(self):
        h, env = self.h, self.env
        fake = env.start_fake()
        rate = h.CFG["limited_rate"]
        h.http_json("POST", fake["dexi_control"] + "/_config", {"limits": {"get": rate}, "rate_window": 1.0})
        self.url = fake["dexi"] + "runs/" + h.RUN_ID
        self.title = ("shared: %g s of GETs from N processes sharing one account at %d/s through the store, "
                      "the fake enforcing %d per sliding second" % (h.CFG["limited_seconds"], rate, rate))
        if shutil.which("redis-server"):
            port = h.free_port()
            d = os.path.join(env.work, "redis")
            os.makedirs(d)
            p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--dir", d], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            env.procs.append(p)
            if h.wait_port(port):
                self.redis = "redis://127.0.0.1:%d" % port
                self.redis_port, self.redis_pid = port, p.pid

    def redis_cpu(self):
        """The redis-server's user+sys CPU so far, in seconds."""
        with open("/proc/%d/stat" % self.redis_pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def flushall(self):
        with socket.create_connection(("127.0.0.1", self.redis_port), timeout=5) as c:
            c.sendall(b"FLUSHALL\r\n")
            if not c.recv(64).startswith(b"+OK"):
                raise self.h.Failed("redis-server refused FLUSHALL")

    def before_redis(self, before):
        """The fake's quiet window, an empty store, and the redis-server's CPU at the start."""
        def run():
            before()
            self.flushall()
            self.redis_cpu0 = self.redis_cpu()
        return run

    def after_redis(self, out, run):
        figs = self.after(out, run)
        figs["redis_us"] = (self.redis_cpu() - self.redis_cpu0) * 1e6 / figs["n200"]
        return figs

    def after_latency(self, out, run):
        figs = {"lat_us": self.h.grab(r"([\d.]+) us per acquisition", out, "latency")}
        if "us cpu per acquisition" in out:      # autolua's acquire.lua; not Bottleneck's script
            figs["loop_cpu_us"] = self.h.grab(r"([\d.]+) us cpu per acquisition", out, "latency cpu")
        return figs

    def after(self, out, run):
        figs = self.h.window_figures(self.env.dexi_records(), "runs/", self.h.CFG["limited_rate"])
        if figs["n200"] == 0:
            raise self.h.Failed("no request reached the fake:\n" + out[-1000:])
        figs["cpu_us"] = run["cpu"] * 1e6 / figs["n200"]
        return figs

    def clients(self):
        h, env = self.h, self.env
        s, w, rate = h.CFG["limited_seconds"], h.CFG["limited_workers"], h.CFG["limited_rate"]
        limited = [env.autolua, os.path.join(h.HERE, "limited.lua"), env.fake["dexi"], s, w]
        before = h.quiet_window(env)
        out = [h.Client("autolua x1 (in-process limiter)", limited, self.after, before=before,
                        env={"AUTOLUA_STORE": "memory"})]
        stores = [("sqlite", [1, 2, 4])]
        if self.redis:
            stores.append(("redis", [1, 2, 4, 8]))
        for backend, ns in stores:
            for n in ns:
                if backend == "sqlite":
                    url = "sqlite:%s/shared-%d-%d.db" % (env.work, n, int(time.time() * 1000) % 100000)
                else:
                    url = self.redis
                if backend == "sqlite":
                    out.append(h.Client("autolua x%d (%s)" % (n, backend), _wrapper(h, env, n, limited, {"AUTOLUA_STORE": url}),
                                        self.after, before=before))
                else:
                    out.append(h.Client("autolua x%d (%s)" % (n, backend), _wrapper(h, env, n, limited, {"AUTOLUA_STORE": url}),
                                        self.after_redis, before=self.before_redis(before)))
        ioredis = env.node and os.path.isdir(os.path.join(h.HERE, "node", "node_modules", "ioredis"))
        if env.node:
            for n in (1, 2, 4):
                argv = [env.node, os.path.join(h.HERE, "node", "limited.mjs"), self.url, s, rate, w]
                out.append(h.Client("node x%d (bottleneck per process)" % n, _wrapper(h, env, n, argv, {}),
                                    self.after, before=before))
        if self.redis and ioredis:
            for n in (1, 2, 4, 8):
                argv = [env.node, os.path.join(h.HERE, "node", "limited_redis.mjs"), self.url, s, rate, w,
                        self.redis_port, "shared-%d" % n]
                out.append(h.Client("node x%d (bottleneck, redis)" % n, _wrapper(h, env, n, argv, {}),
                                    self.after_redis, before=self.before_redis(before)))
        m = str(self.LATENCY_M)
        acquire = os.path.join(h.HERE, "acquire.lua")
        out.append(h.Client("latency: autolua in-process", [env.autolua, acquire, m, "lat", "local"], self.after_latency,
                            env={"AUTOLUA_STORE": "memory"}))
        # the CPU of an acquisition itself, in the same count of transactions as sqlite_rmw's
        rmw_n = str(self.RMW_N)
        out.append(h.Client("cpu: autolua in-process", [env.autolua, acquire, rmw_n, "cpu", "local"], self.after_latency,
                            env={"AUTOLUA_STORE": "memory"}))
        out.append(h.Client("cpu: autolua (sqlite)", [env.autolua, acquire, rmw_n, "cpu"], self.after_latency,
                            env={"AUTOLUA_STORE": "sqlite:%s/acquire-%d.db" % (env.work, int(time.time() * 1000) % 100000)}))
        if self.redis:
            out.append(h.Client("latency: autolua (redis)", [env.autolua, acquire, m, "lat"], self.after_latency,
                                before=self.flushall, env={"AUTOLUA_STORE": self.redis}))
        if ioredis:
            lat = [env.node, os.path.join(h.HERE, "node", "limited_redis.mjs"), "--latency", m]
            out.append(h.Client("latency: bottleneck in-process", lat + ["local", "lat"], self.after_latency))
            if self.redis:
                out.append(h.Client("latency: bottleneck (redis)", lat + [str(self.redis_port), "lat"], self.after_latency,
                                    before=self.flushall))
        rmw = os.path.join(os.path.dirname(env.autolua_source), "sqlite_rmw")
        if os.access(rmw, os.X_OK):
            def parse_rmw(out, run):
                return {"cpu_us": h.grab(r"([\d.]+) us cpu per transaction", out, "sqlite_rmw cpu")}
            out.append(h.Client("sqlite_rmw (bare BEGIN IMMEDIATE, SELECT, UPDATE, COMMIT)", [rmw, str(self.RMW_N)], parse_rmw))
        return out


def summary(h, keys, m, find):
    """Lines for the summary: each N's rate and 429s, the CPU of a shared acquisition over the
    bare SQLite transaction's, and on Redis autolua's CPU against Bottleneck's at the same N."""
    if "shared" not in keys:
        return []
    out = ["shared: N processes on one account (goal: >= 99 % of 75/s and 0 x 429 at every N; a shared "
           "acquisition's CPU <= 2x the bare SQLite transaction's; on Redis <= 0.5x Bottleneck's)"]
    rmw = m("shared", find("shared", "sqlite_rmw"), "cpu_us")
    own = m("shared", find("shared", "autolua x1 (in-process"), "cpu_us")
    for backend in ("sqlite", "redis"):
        for n in (1, 2, 4, 8):
            name = find("shared", "autolua x%d (%s)" % (n, backend))
            if not name:
                continue
            pct, r429, cpu = m("shared", name, "pct"), m("shared", name, "r429"), m("shared", name, "cpu_us")
            line = "  %s: %.1f %% of 75/s, %d x 429, %.1f µs CPU per acquisition" % (name, pct or 0, r429 or 0, cpu or 0)
            if own and cpu:
                # the request's own CPU is the in-process run's: what is left is the acquisition's
                line += "; %.1f µs over an in-process acquisition" % (cpu - own)
                if rmw and backend == "sqlite":
                    line += " (%.2fx the bare transaction)" % ((cpu - own) / rmw)
            if backend == "redis":
                line += "; redis-server %.1f µs" % (m("shared", name, "redis_us") or 0)
                peer = find("shared", "node x%d (bottleneck, redis)" % n)
                if peer:
                    bpct, b429, bcpu = m("shared", peer, "pct"), m("shared", peer, "r429"), m("shared", peer, "cpu_us")
                    line += ("; Bottleneck (redis) x%d: %.1f %%, %d x 429, %.1f µs CPU (redis-server %.1f µs), autolua/"
                             "Bottleneck CPU %.2fx" % (n, bpct or 0, b429 or 0, bcpu or 0, m("shared", peer, "redis_us") or 0,
                                                       cpu / bcpu if cpu and bcpu else 0))
            out.append(line)
    loop_own = m("shared", find("shared", "cpu: autolua in-process"), "loop_cpu_us")
    loop_sql = m("shared", find("shared", "cpu: autolua (sqlite)"), "loop_cpu_us")
    if loop_own is not None and loop_sql is not None and rmw:
        out.append("  autolua: %d acquisitions one after the other, no HTTP: %.2f µs CPU each in-process, %.2f µs "
                   "through SQLite: %.2f µs more, %.2fx the bare transaction (%.2f µs)"
                   % (Shared.RMW_N, loop_own, loop_sql, loop_sql - loop_own, (loop_sql - loop_own) / rmw, rmw))
    for who in ("autolua", "bottleneck"):
        local = m("shared", find("shared", "latency: %s in-process" % who), "lat_us")
        remote = m("shared", find("shared", "latency: %s (redis)" % who), "lat_us")
        if local is not None and remote is not None:
            out.append("  %s: a lone acquisition takes %.1f µs in-process, %.1f µs through Redis (%+.1f µs)"
                       % (who, local, remote, remote - local))
    return out
