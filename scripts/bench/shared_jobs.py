"""The `shared` job of the bench (issue 16): N autolua processes share one Dexi account at 75/s
through the store, against the fake enforcing 75 per sliding second. For N = 1, 2, 4 over
SQLite (and 1, 2, 4, 8 over a redis-server this module starts on a free loopback port, with no
persistence) it reports the achieved rate of 200s as a percentage of 75/s, the 429s, and the
CPU per acquisition (all the processes' CPU over the 200s), next to one process whose limiter
is in-process (AUTOLUA_STORE=memory) and the bare SQLite read-modify-write transaction
(build/sqlite_rmw). The peer: N Node processes, each with its own Bottleneck limiter at 75/s,
which together break the limit.

harness.py calls make_jobs(h, env) with itself as `h`, so this file needs no import of it.
"""

import os
import shutil
import subprocess
import time

SHARED_JOBS = ["shared"]


def make_jobs(h, env):
    return [Shared(h, env)]


def _wrapper(h, env, n, argv, extra_env):
    """A shell line that starts n copies of argv at once and waits for them all (GNU time then
    counts the CPU of every one)."""
    line = " ".join("'%s'" % str(a).replace("'", "'\\''") for a in argv)
    envs = " ".join("%s='%s'" % (k, v) for k, v in extra_env.items())
    return ["sh", "-c", "for i in $(seq %d); do %s %s >/dev/null & done; wait" % (n, envs, line)]


class Shared:
    key = "shared"
    figures = [("pct", "% of 75/s", "{:.1f}"), ("r429", "429s", "{:.0f}"), ("cpu_us", "µs CPU/acq", "{:.1f}")]
    repeat = 1

    def __init__(self, h, env):
        self.h, self.env = h, env
        self.redis = None

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
                out.append(h.Client("autolua x%d (%s)" % (n, backend), _wrapper(h, env, n, limited, {"AUTOLUA_STORE": url}),
                                    self.after, before=before))
        if env.node:
            for n in (1, 2, 4):
                argv = [env.node, os.path.join(h.HERE, "node", "limited.mjs"), self.url, s, rate, w]
                out.append(h.Client("node x%d (bottleneck per process)" % n, _wrapper(h, env, n, argv, {}),
                                    self.after, before=before))
        rmw = os.path.join(os.path.dirname(env.autolua_source), "sqlite_rmw")
        if os.access(rmw, os.X_OK):
            def parse_rmw(out, run):
                return {"cpu_us": h.grab(r"([\d.]+) us cpu per transaction", out, "sqlite_rmw cpu")}
            out.append(h.Client("sqlite_rmw (bare BEGIN IMMEDIATE, SELECT, UPDATE, COMMIT)", [rmw], parse_rmw))
        return out


def summary(h, keys, m, find):
    """Lines for the summary: each N's rate and 429s, and the CPU of a shared acquisition over the
    bare SQLite transaction's."""
    if "shared" not in keys:
        return []
    out = ["shared: N processes on one account (goal: >= 99 % of 75/s and 0 x 429 at every N; a shared "
           "acquisition's CPU <= 2x the bare SQLite transaction's)"]
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
            out.append(line)
    return out
