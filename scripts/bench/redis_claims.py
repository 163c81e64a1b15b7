"""The `claims` job of the bench (issue 17): handing a job's items to N workers through Redis,
two ways, with no work per item so that what is measured is the hand-out itself.

  claim by key (what autolua does): every worker enumerates the same M items and claims each
    by key with one script (a lease, `once`, a done record with the result), through task.each
    with job = NAME (scripts/bench/claims.lua, N autolua processes).
  a Stream with a consumer group: one worker, holding an enumerator lease (SET NX PX), adds the
    M items with XADD (pipelined, 100 to a round trip); every worker reads with XREADGROUP
    (COUNT 10, its read-ahead), and for each item writes its done record (HSET) and XACKs it
    (pipelined: one round trip). A worker found dead is replaced by XAUTOCLAIM once its
    entries have been idle for the lease (this module, `python3 redis_claims.py streams ...`,
    N processes on a minimal RESP client).

For each: items/s (M over the wall time of the N workers), commands the server received per item
and round trips per item (a pipelined batch is one), both counted on the client side for the
Stream and from the server's cmdstat_evalsha for autolua (each claim and each done record is one
EVALSHA waited for plus one pipelined EVALSHA that files the job in the job list). The `death`
rows kill one worker after it has taken 20 items (with its claims or its read-ahead in flight)
and report the wall time until every item is done: the lease (1 s here) bounds both.

Run by name only: scripts/bench/run claims (harness.py calls make_jobs(h, env)), or this file
directly: python3 redis_claims.py streams PORT N M [LEASE] [DEATH_K].
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time

CLAIMS_JOBS = ["claims"]


# {==== a minimal RESP client: enough for the Stream side ====}

class Resp:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.s.makefile("rb")
        self.commands = self.trips = 0

    def pipeline(self, *cmds):
        """Sends every command at once, then reads every reply: one round trip."""
        out = []
        for c in cmds:
            out.append(b"*%d\r\n" % len(c))
            for a in c:
                a = a if isinstance(a, bytes) else str(a).encode()
                out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.s.sendall(b"".join(out))
        self.commands += len(cmds)
        self.trips += 1
        return [self.read() for _ in cmds]

    def call(self, *args):
        return self.pipeline(args)[0]

    def read(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data.decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError("bad reply %r" % line)


def stream_worker(port, name, m, lease, die_after, report):
    r = Resp(port)
    s, g, done = "claims:{%s}:stream" % name, "workers", "claims:{%s}:done" % name
    me = "w%d" % os.getpid()
    if r.call("SET", "claims:{%s}:enum" % name, me, "NX", "PX", int(lease * 1000)) == "OK":
        # the enumerator: the group first (MKSTREAM), then the items, 100 to a round trip
        try:
            r.call("XGROUP", "CREATE", s, g, "$", "MKSTREAM")
        except RuntimeError as e:
            if "BUSYGROUP" not in str(e):
                raise
        for i in range(0, m, 100):
            r.pipeline(*[("XADD", s, "*", "key", "item-%06d" % j) for j in range(i, min(m, i + 100))])
        r.call("SET", "claims:{%s}:enumerated" % name, "1")
    else:
        while r.call("GET", "claims:{%s}:enumerated" % name) is None:
            time.sleep(0.005)
    taken = ran = 0
    idle_since = None
    while True:
        rep = r.call("XREADGROUP", "GROUP", g, me, "COUNT", 10, "STREAMS", s, ">")
        entries = rep[0][1] if rep else []
        if not entries:
            # nothing new: entries of a worker that died, once idle for the lease
            rep = r.call("XAUTOCLAIM", s, g, me, int(lease * 1000), "0-0", "COUNT", 10)
            entries = rep[1]
            if not entries:
                if r.call("XPENDING", s, g)[0] == 0:
                    break
                idle_since = idle_since or time.time()
                time.sleep(0.05)
                continue
        taken += len(entries)
        if die_after and taken >= die_after:
            report.write("%d %d %d\n" % (ran, r.commands, r.trips))
            report.flush()
            os._exit(0)              # dies holding its read-ahead, never acked
        for eid, fields in entries:
            key = fields[1]
            r.pipeline(("HSET", done, key, "null"), ("XACK", s, g, eid))
            ran += 1
    report.write("%d %d %d\n" % (ran, r.commands, r.trips))
    report.flush()


def streams(port, n, m, lease=30.0, die_k=0):
    """N worker processes; prints items/s, commands and round trips per item."""
    name = "s%d-%d" % (os.getpid(), int(time.time() * 1000) % 100000)
    rd, wr = os.pipe()
    t0 = time.time()
    pids = []
    for i in range(n):
        pid = os.fork()
        if pid == 0:
            os.close(rd)
            stream_worker(port, name, m, lease, die_k if (die_k and i == n - 1) else 0, os.fdopen(wr, "w"))
            os._exit(0)
        pids.append(pid)
    os.close(wr)
    for pid in pids:
        os.waitpid(pid, 0)
    wall = time.time() - t0
    ran = cmds = trips = 0
    for line in os.fdopen(rd).read().split("\n"):
        if line:
            a, b, c = map(int, line.split())
            ran, cmds, trips = ran + a, cmds + b, trips + c
    print("claims: ran %d of %d items in %.3f s, %.1f items/s, %.2f commands and %.2f round trips per item"
          % (ran, m, wall, m / wall, cmds / m, trips / m))


# {==== the job for harness.py ====}

def make_jobs(h, env):
    return [Claims(h, env)]


class Claims:
    key = "claims"
    figures = [("ips", "items/s", "{:,.0f}"), ("cmds", "commands/item", "{:.2f}"), ("trips", "round trips/item", "{:.2f}")]
    repeat = 1

    def __init__(self, h, env):
        self.h, self.env = h, env
        self.port = None

    def setup(self):
        h, env = self.h, self.env
        self.m = 200 if h.SMOKE else 5000
        self.lease = 1.0
        self.title = ("claims: N workers take %d items (no work each) from Redis: claim by key (autolua) or a Stream "
                      "with a consumer group; the death rows kill one worker holding items (lease %g s)" % (self.m, self.lease))
        if not shutil.which("redis-server"):
            return
        port = h.free_port()
        d = os.path.join(env.work, "redis-claims")
        os.makedirs(d)
        p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                              "no", "--dir", d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        env.procs.append(p)
        if h.wait_port(port):
            self.port = port

    def evalsha(self):
        r = Resp(self.port)
        for line in r.call("INFO", "commandstats").splitlines():
            if line.startswith("cmdstat_evalsha:"):
                return int(line.split("calls=")[1].split(",")[0])
        return 0

    def flush(self):
        Resp(self.port).call("FLUSHALL")
        self.calls0 = self.evalsha()

    def after_autolua(self, out, run):
        ran = sum(int(x) for x in re.findall(r"ran (\d+) of", out))
        if ran < self.m:
            raise self.h.Failed("the workers ran %d of %d items:\n%s" % (ran, self.m, out[-1000:]))
        calls = self.evalsha() - self.calls0
        return {"ips": self.m / run["wall"], "cmds": calls / self.m, "trips": calls / 2 / self.m}

    def after_streams(self, out, run):
        ran = self.h.grab(r"ran (\d+) of", out, "items", int)
        if ran < self.m:
            raise self.h.Failed("the workers ran %d of %d items:\n%s" % (ran, self.m, out[-1000:]))
        return {"ips": self.m / run["wall"], "cmds": self.h.grab(r"([\d.]+) commands", out, "commands"),
                "trips": self.h.grab(r"([\d.]+) round trips", out, "round trips")}

    def clients(self):
        h, env = self.h, self.env
        if not self.port:
            return []
        out = []
        url = "redis://127.0.0.1:%d" % self.port
        for n in (1, 2, 4):
            line = "for i in $(seq %d); do AUTOLUA_STORE=%s '%s' '%s' claims-%d %d %g & done; wait" % (
                n, url, env.autolua, os.path.join(h.HERE, "claims.lua"), n, self.m, self.lease)
            out.append(h.Client("claim by key: autolua x%d" % n, ["sh", "-c", line], self.after_autolua,
                                before=self.flush))
            out.append(h.Client("stream + group: python x%d" % n,
                                [sys.executable, os.path.abspath(__file__), "streams", str(self.port), str(n), str(self.m), str(self.lease)],
                                self.after_streams, before=self.flush))
        # a worker dies holding items: autolua's kills itself (SIGKILL) after its 20th item, with
        # its claims in flight; the Stream's consumer exits after reading 20 (10 still pending)
        claims = os.path.join(h.HERE, "claims.lua")
        line = ("AUTOLUA_STORE=%s '%s' '%s' claims-death %d %g 20 & AUTOLUA_STORE=%s '%s' '%s' claims-death %d %g; wait; "
                "'%s' job show claims-death --json --store %s") % (
            url, env.autolua, claims, self.m, self.lease, url, env.autolua, claims, self.m, self.lease, env.autolua, url)
        out.append(h.Client("death: autolua x2, one killed after 20", ["sh", "-c", line], self.after_death_autolua,
                            before=self.flush))
        out.append(h.Client("death: python x2, one dead after 20",
                            [sys.executable, os.path.abspath(__file__), "streams", str(self.port), "2", str(self.m), str(self.lease), "20"],
                            self.after_streams, before=self.flush))
        return out

    def after_death_autolua(self, out, run):
        # the survivor ran every item the other had not recorded done
        done = self.h.grab(r'"done":(\d+)', out, "done count", int)
        if done != self.m:
            raise self.h.Failed("%d of %d items done after a worker died:\n%s" % (done, self.m, out[-1000:]))
        calls = self.evalsha() - self.calls0
        return {"ips": self.m / run["wall"], "cmds": calls / self.m, "trips": calls / 2 / self.m}


def summary(h, keys, m, find):
    if "claims" not in keys:
        return []
    out = ["claims: handing out job items through Redis (per item: round trips, commands; items/s)"]
    for prefix in ("claim by key: autolua x", "stream + group: python x"):
        for n in (1, 2, 4):
            name = find("claims", "%s%d" % (prefix, n))
            if name:
                out.append("  %s: %.2f round trips, %.2f commands, %.0f items/s" % (
                    name, m("claims", name, "trips") or 0, m("claims", name, "cmds") or 0, m("claims", name, "ips") or 0))
    for prefix in ("death: autolua", "death: python"):
        name = find("claims", prefix)
        if name:
            out.append("  %s: all items done in %.2f s wall" % (name, m("claims", name, "wall") or 0))
    return out


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "streams":
        streams(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
                float(sys.argv[5]) if len(sys.argv) > 5 else 30.0, int(sys.argv[6]) if len(sys.argv) > 6 else 0)
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
