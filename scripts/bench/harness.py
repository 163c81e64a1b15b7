#!/usr/bin/env python3
"""autolua's benchmark harness: every job for autolua and each peer, alternating, several rounds,
then one table of medians and spreads. scripts/bench/run installs the tools and calls this; it
can also be run on its own once they are there.

    python3 scripts/bench/harness.py [JOB...]        JOB: flood limited files big tasks startup serve
                                                    (default: all of them; `dx` on request)

Each run of a client is one process under GNU time (`/usr/bin/time -f %M`): peak RSS comes from
there, user+sys CPU from wait4()'s rusage of GNU time (to the microsecond; GNU time prints
hundredths), wall time from the harness's clock around it, the job's own figure from what the client
prints or, for the rate-limited jobs, from the fake server's request log. Within a round the
clients of a job run one after the other, the first one rotating from round to round. Flood,
a job of half a second a client, runs FLOOD_REPEAT times in each round: a burst of noise from
the rest of the machine then spoils one sample of many rather than one of a few.

Environment (defaults in brackets; SMOKE=1 shrinks every size for a quick check):
  ROUNDS [5]  PEERS [all: autolua,floor,wrk,curl,node,python,lua]  OUT [scripts/bench/out]
  FLOOD_N [20000] FLOOD_C [64] FLOOD_REPEAT [3] WRK_SECONDS [3]   LIMITED_SECONDS [20]
  FILES_N [200] FILES_SIZE [1048576]   BIG_MIB [512] BIG_SMALL_MIB [64]   TASKS_N [100000]
  STARTUP_RUNS [30]   COLD_N [500]   BOTTLENECK_CAP [10]  (seconds of Bottleneck draining before projecting)
  DX_CALLS [3000]  (the optional dx job: autolua only)   SERVE_C [64]  (wrk's connections, serve job)
  AUTOLUA_BIN [build/autolua]  FLOOR_BIN [built here with cc]  PEER_PYTHON [a python3 with aiohttp]
Exit status: 0 when every run completed (and autolua's downloads matched their sources), 1
otherwise. Figures and goals are reported, never enforced.
"""

import hashlib
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FAKE_DIR = os.path.join(ROOT, "tests", "fake_api")
sys.path.insert(0, FAKE_DIR)
import dexi_data  # noqa: E402  (the fake's file contents, to check downloads against)
import misc       # noqa: E402  (the fake's /bytes contents)
sys.path.insert(0, HERE)
import tls_jobs   # noqa: E402  (flood-tls, flood-h2, cold-tls)
import shared_jobs  # noqa: E402  (shared: N processes on one account through the store; by name only)
import redis_claims  # noqa: E402  (claims: job items handed out through Redis, two ways; by name only)

RUN_ID = "27c719bb-f28f-49f5-aedf-dba2f8e60ba3"    # a seed run of the fake Dexi
ACCOUNT, API_KEY = "acc-test", "key-test"
SMOKE = os.environ.get("SMOKE") == "1"
MIB = 1048576


def env_num(name, default, smoke=None, kind=int):
    raw = os.environ.get(name)
    if raw:
        return kind(raw)
    return smoke if (SMOKE and smoke is not None) else default


CFG = {
    "rounds": env_num("ROUNDS", 5, 1),
    "flood_n": env_num("FLOOD_N", 20000, 2000),
    "flood_c": env_num("FLOOD_C", 64),
    "flood_repeat": env_num("FLOOD_REPEAT", 3, 1),
    "wrk_seconds": env_num("WRK_SECONDS", 3, 1),
    "limited_seconds": env_num("LIMITED_SECONDS", 20, 2, float),
    "limited_rate": 75,
    "limited_workers": 8,
    "files_n": env_num("FILES_N", 200, 20),
    "files_size": env_num("FILES_SIZE", MIB, 256 * 1024),
    "files_c": 16,
    "files_rate": 15,
    "big_mib": env_num("BIG_MIB", 512, 16),
    "big_small_mib": env_num("BIG_SMALL_MIB", 64, 4),
    "tasks_n": env_num("TASKS_N", 100000, 5000),
    "startup_runs": env_num("STARTUP_RUNS", 30, 5),
    "bottleneck_cap": env_num("BOTTLENECK_CAP", 10, 3, float),
    "dx_calls": env_num("DX_CALLS", 3000, 300),
    "serve_c": env_num("SERVE_C", 64),
    "cold_n": env_num("COLD_N", 500, 50),
}
ALL_JOBS = ["flood", "flood-tls", "flood-h2", "cold-tls", "limited", "files", "big", "tasks", "startup", "serve"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# {==== tools and services ====}

def which_python_with_aiohttp():
    candidates = [os.environ.get("PEER_PYTHON"), "/usr/bin/python3", shutil.which("python3")]
    for py in candidates:
        if py and os.path.exists(py) and subprocess.run(
                [py, "-c", "import aiohttp"], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL).returncode == 0:
            return py
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds=10):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def http_json(method, url, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=60) as resp:
        raw = resp.read()
    return json.loads(raw) if raw.strip() else None


def dexi_auth():
    return {"X-DexiIO-Account": ACCOUNT,
            "X-DexiIO-Access": hashlib.md5((ACCOUNT + API_KEY).encode()).hexdigest()}


class Env:
    """Tools found, the work directory, and the services (started on first need)."""

    def __init__(self):
        self.work = tempfile.mkdtemp(prefix="autolua-bench-")
        self.procs = []
        self.autolua = os.environ.get("AUTOLUA_BIN") or os.path.join(ROOT, "build", "autolua")
        if not os.access(self.autolua, os.X_OK):
            raise SystemExit("no autolua at %s: build first (scripts/setup)" % self.autolua)
        # one binary for the whole run, even if the build tree is rebuilt meanwhile (the Lua
        # modules are compiled into it)
        self.autolua_source = self.autolua
        self.autolua = os.path.join(self.work, "autolua")
        shutil.copy2(self.autolua_source, self.autolua)
        peers = os.environ.get("PEERS")
        self.peers = set(p.strip() for p in peers.split(",")) if peers else None
        self.floor = self._floor() if self.want("floor") else None
        self.wrk = shutil.which("wrk") if self.want("wrk") else None
        self.curl = shutil.which("curl") if self.want("curl") else None
        self.hyperfine = shutil.which("hyperfine")
        self.lua = shutil.which("lua5.4") if self.want("lua") else None
        self.python = which_python_with_aiohttp() if self.want("python") else None
        node = shutil.which("node")
        mods = os.path.join(HERE, "node", "node_modules")
        self.node = node if (self.want("node") and node and os.path.isdir(os.path.join(mods, "undici"))
                             and os.path.isdir(os.path.join(mods, "bottleneck"))) else None
        self.nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
        self.nginx_url = None
        self.fake = None
        self.missing = [label for peer, label, have in (
            ("floor", "floor (cc, libcurl and libev headers)", self.floor), ("wrk", "wrk", self.wrk),
            ("curl", "curl", self.curl), ("lua", "lua5.4", self.lua),
            ("python", "python3 with aiohttp", self.python),
            ("node", "node with undici and bottleneck in scripts/bench/node", self.node))
            if self.want(peer) and not have]

    def autolua_header_lines(self):
        """The lines autolua adds to every request (src/bind/lhttp.c: UA_LINE, AE_LINE)."""
        out = subprocess.run([self.autolua, "--version"], stdout=subprocess.PIPE, text=True).stdout
        version = out.split()[1] if out.startswith("autolua ") else "0"
        return ["User-Agent: autolua/" + version, "Accept-Encoding: gzip"]

    def want(self, peer):
        return self.peers is None or peer in self.peers

    def _floor(self):
        given = os.environ.get("FLOOR_BIN")
        if given and os.access(given, os.X_OK):
            return given
        cc = shutil.which("cc")
        if not cc:
            return None
        out = os.path.join(self.work, "floor")
        rc = subprocess.run([cc, "-O2", "-o", out, os.path.join(HERE, "floor.c"), "-lcurl", "-lev"]).returncode
        return out if rc == 0 else None

    def start_nginx(self):
        if self.nginx_url:
            return self.nginx_url
        nginx = self.nginx
        d = os.path.join(self.work, "nginx")
        os.makedirs(os.path.join(d, "www"))
        # a ~300-byte JSON body
        body = {"id": 1, "name": "autolua", "ok": True, "price": 12.5, "tags": ["a", "b", "c"],
                "items": list(range(40)), "pad": ""}
        body["pad"] = "x" * (300 - len(json.dumps(body, separators=(",", ":"))))
        with open(os.path.join(d, "www", "small.json"), "w") as f:
            f.write(json.dumps(body, separators=(",", ":")))
        port = free_port()
        user = "user root;" if os.geteuid() == 0 else ""
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""%(user)s
worker_processes 1;
daemon off;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  client_body_temp_path %(d)s; proxy_temp_path %(d)s; fastcgi_temp_path %(d)s;
  uwsgi_temp_path %(d)s; scgi_temp_path %(d)s;
  server { listen 127.0.0.1:%(port)d; root %(d)s/www; default_type application/json; }
}
""" % {"user": user, "d": d, "port": port})
        proc = subprocess.Popen([nginx, "-e", os.path.join(d, "error.log"), "-c", conf, "-p", d],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        if not wait_port(port):
            raise RuntimeError("nginx did not start: " + open(os.path.join(d, "error.log")).read()[-2000:])
        self.nginx_url = "http://127.0.0.1:%d/small.json" % port
        return self.nginx_url

    def start_fake(self):
        if self.fake:
            return self.fake
        state = os.path.join(self.work, "fake.json")
        logf = open(os.path.join(self.work, "fake.log"), "w")
        proc = subprocess.Popen([sys.executable, os.path.join(FAKE_DIR, "server.py"), "--no-tls", "--state", state],
                                stdout=logf, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        for _ in range(200):
            if os.path.exists(state) and os.path.getsize(state) > 0:
                break
            time.sleep(0.05)
        with open(state) as f:
            self.fake = json.load(f)
        self.fake["state_file"] = state
        self.fake["dexi_control"] = self.fake["dexi"].rstrip("/")
        http_json("POST", self.fake["dexi_control"] + "/_reset")
        self.dexi_seen = 0
        return self.fake

    def dexi_records(self):
        """The fake Dexi's records since the last call."""
        recs = http_json("GET", "%s/_requests?since=%d" % (self.fake["dexi_control"], self.dexi_seen))
        self.dexi_seen += len(recs)
        return recs

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(self.work, ignore_errors=True)


# {==== one measured run ====}

class Failed(Exception):
    pass


GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def measure(argv, timeout, cwd=None, env=None):
    """Runs argv: (stdout, stderr, wall s, cpu s, peak RSS MiB). The client runs under GNU time,
    which forks it from its own small process, so its peak RSS (%M) is the client's alone: a
    child forked from this Python would start with the harness's pages in its high-water mark.
    CPU is wait4()'s rusage of GNU time, which counts the client it waited for, to the
    microsecond (GNU time prints hundredths of a second, 2 % of a half-second flood run) plus
    GNU time's own ~0.6 ms. Wall is this harness's clock around the run. Without GNU time
    (Debian's `time` package) the RSS includes the harness's own."""
    argv = [str(a) for a in argv]
    env = dict(os.environ, **env) if env else None
    tf = tempfile.NamedTemporaryFile(prefix="time-", delete=False)
    tf.close()
    wrapped = [GNU_TIME, "-f", "%M", "-o", tf.name] + argv if GNU_TIME else argv
    try:
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            t0 = time.monotonic()
            # its own process group, so that a timeout or an interrupted harness ends the client too
            p = subprocess.Popen(wrapped, cwd=cwd, env=env, stdout=out, stderr=err, text=True,
                                 start_new_session=True)
            timed_out = []

            def kill():
                timed_out.append(True)
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            timer = threading.Timer(timeout, kill)
            timer.start()
            try:
                _, status, ru = os.wait4(p.pid, 0)
            except BaseException:
                kill()
                os.wait4(p.pid, 0)
                raise
            finally:
                timer.cancel()
            wall = time.monotonic() - t0
            p.returncode = os.waitstatus_to_exitcode(status)
            if timed_out:
                raise Failed("timed out after %d s: %s" % (timeout, " ".join(argv)))
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
        rss = ru.ru_maxrss / 1024
        if GNU_TIME:
            with open(tf.name) as f:
                lines = [ln for ln in f.read().splitlines() if ln.strip()]
            if lines and lines[-1].strip().isdigit():
                rss = int(lines[-1]) / 1024
    finally:
        os.unlink(tf.name)
    if p.returncode != 0:
        raise Failed("exit %d: %s\n%s%s" % (p.returncode, " ".join(argv), stdout[-1500:], stderr[-2500:]))
    return stdout, stderr, wall, ru.ru_utime + ru.ru_stime, rss


def grab(pattern, text, what, kind=float):
    m = re.search(pattern, text)
    if not m:
        raise Failed("no %s in the output:\n%s" % (what, text[-1500:]))
    return kind(m.group(1).replace(",", ""))


class Client:
    def __init__(self, name, argv, parse, before=None, after=None, timeout=600, cwd=None, env=None):
        self.name, self.argv, self.parse = name, argv, parse
        self.before, self.after, self.timeout, self.cwd = before, after, timeout, cwd
        self.env = env      # variables added to the client's environment


# {==== the jobs ====}

class Job:
    key = ""
    title = ""
    figures = []      # (key, label, format)
    repeat = 1        # runs of every client in each round

    def __init__(self, env):
        self.env = env

    def setup(self):
        pass

    def clients(self):
        return []


def parse_requests(out, run):
    n = grab(r"(\d+) requests", out, "request count", int)
    bad = grab(r"(\d+) not 200", out, "non-200 count", int)
    secs = grab(r"requests/s, ([\d.]+) s", out, "seconds")
    return {"rps": n / secs, "cpu_us": run["cpu"] * 1e6 / n, "not200": bad}


class Flood(Job):
    key = "flood"
    figures = [("rps", "req/s", "{:,.0f}"), ("cpu_us", "µs CPU/req", "{:.1f}")]

    def setup(self):
        self.repeat = CFG["flood_repeat"]
        self.url = self.env.start_nginx()
        n, c = CFG["flood_n"], CFG["flood_c"]
        self.title = "flood: %d GETs of a 300-byte JSON body from nginx at concurrency %d" % (n, c)

    def clients(self):
        e, n, c, url = self.env, CFG["flood_n"], CFG["flood_c"], self.url
        out = [Client("autolua", [e.autolua, os.path.join(HERE, "flood.lua"), url, n, c], parse_requests)]
        if e.floor:
            out.append(Client("floor (C: libcurl multi + libev)", [e.floor, url, n, c], parse_requests))
            out.append(Client("same-head floor (the floor sending autolua's two header lines)",
                              [e.floor, url, n, c] + e.autolua_header_lines(), parse_requests))
        if e.node:
            out.append(Client("node (undici)", [e.node, os.path.join(HERE, "node", "flood.mjs"), url, n, c],
                              parse_requests))
        if e.python:
            out.append(Client("python (aiohttp)", [e.python, os.path.join(HERE, "python", "flood.py"), url, n, c],
                              parse_requests))
        if e.curl:
            def parse_curl(out, run):
                codes = out.split()
                return {"rps": len(codes) / run["wall"], "cpu_us": run["cpu"] * 1e6 / max(1, len(codes)),
                        "not200": sum(1 for x in codes if x != "200")}
            out.append(Client("curl --parallel", [e.curl, "-s", "--parallel", "--parallel-immediate", "--parallel-max", c,
                                                  "-o", "/dev/null", "-w", "%{http_code}\\n", "%s?[1-%d]" % (url, n)],
                              parse_curl))
        if e.wrk:
            def parse_wrk(out, run):
                n = grab(r"(\d+) requests in", out, "wrk request count", int)
                bad = 0
                m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
                if m:
                    bad = int(m.group(1))
                return {"rps": grab(r"Requests/sec:\s+([\d.]+)", out, "Requests/sec"),
                        "cpu_us": run["cpu"] * 1e6 / n, "not200": bad}
            out.append(Client("wrk -t1 (%g s)" % CFG["wrk_seconds"],
                              [e.wrk, "-t1", "-c%d" % c, "-d%gs" % CFG["wrk_seconds"], url], parse_wrk))
        return out


def window_figures(records, path_part, allowed):
    """200s, 429s and the achieved rate of 200s (between the first and the last) in records."""
    mine = [r for r in records if path_part in r["path"]]
    ok = sorted(r["t"] for r in mine if r["status"] == 200)
    r429 = sum(1 for r in mine if r["status"] == 429)
    other = sum(1 for r in mine if r["status"] not in (200, 429))
    rate = (len(ok) - 1) / (ok[-1] - ok[0]) if len(ok) > 1 and ok[-1] > ok[0] else 0.0
    start = min((r["t"] for r in mine), default=0.0)
    return {"rate": rate, "pct": rate / allowed * 100, "r429": r429, "n200": len(ok), "other": other,
            # when the 429s came, in seconds from the run's first request (results.json only)
            "t429": [round(r["t"] - start, 3) for r in mine if r["status"] == 429]}


def quiet_window(env, seconds=1.1):
    def before():
        time.sleep(seconds)          # the fake's 1 s window empties between two clients
        env.dexi_records()           # and whatever an earlier (failed) run left is not counted
    return before


class Limited(Job):
    key = "limited"
    figures = [("rate", "200s/s", "{:.2f}"), ("pct", "% of 75/s", "{:.1f}"), ("r429", "429s", "{:.0f}")]

    def setup(self):
        fake = self.env.start_fake()
        http_json("POST", fake["dexi_control"] + "/_config",
                  {"limits": {"get": CFG["limited_rate"]}, "rate_window": 1.0})
        self.url = fake["dexi"] + "runs/" + RUN_ID
        self.title = ("limited: %g s of GETs through each client's limiter at %d/s, the fake Dexi enforcing "
                      "%d per sliding second" % (CFG["limited_seconds"], CFG["limited_rate"], CFG["limited_rate"]))

    def after(self, out, run):
        figs = window_figures(self.env.dexi_records(), "runs/", CFG["limited_rate"])
        if figs["n200"] == 0:
            raise Failed("no request reached the fake:\n" + out[-1000:])
        return figs

    def clients(self):
        e, s, rate, w = self.env, CFG["limited_seconds"], CFG["limited_rate"], CFG["limited_workers"]
        mk = lambda name, argv: Client(name, argv, self.after, before=quiet_window(self.env))  # noqa: E731
        out = [mk("autolua (dexi client)", [e.autolua, os.path.join(HERE, "limited.lua"), e.fake["dexi"], s, w])]
        if e.node:
            out.append(mk("node (undici + bottleneck)",
                          [e.node, os.path.join(HERE, "node", "limited.mjs"), self.url, s, rate, w]))
        if e.python:
            out.append(mk("python (aiohttp + own limiter)",
                          [e.python, os.path.join(HERE, "python", "limited.py"), self.url, s, rate, w]))
        if e.curl:
            n = int(round(s * rate))
            argv = [e.curl, "-s", "-o", "/dev/null", "-w", "%{http_code}\\n", "--rate", "%d/s" % rate]
            for k, v in dexi_auth().items():
                argv += ["-H", "%s: %s" % (k, v)]
            out.append(mk("curl --rate (serial)", argv + ["%s?[1-%d]" % (self.url, n)]))
        return out


class Files(Job):
    key = "files"
    figures = [("rate", "files/s", "{:.2f}"), ("pct", "% of 15/s", "{:.1f}"), ("r429", "429s", "{:.0f}"),
               ("verified", "sha256 ok", "{:.0f}")]

    def setup(self):
        fake = self.env.start_fake()
        n, size = CFG["files_n"], CFG["files_size"]
        self.title = ("files: %d x %s downloads at concurrency %d through each client's %d/s limit, the fake "
                      "Dexi enforcing %d per sliding second; streamed to disk, each checked (sha256)"
                      % (n, "1 MiB" if size == MIB else "%d KiB" % (size // 1024), CFG["files_c"],
                         CFG["files_rate"], CFG["files_rate"]))
        ctl = fake["dexi_control"]
        http_json("POST", ctl + "/_config", {"polls_per_state": 0, "file_size": size,
                                             "result_rows": math.ceil(n / 2),
                                             "limits": {"file": CFG["files_rate"]}, "rate_window": 1.0})
        auth = dexi_auth()
        ex = http_json("POST", fake["dexi"] + "runs/%s/execute" % RUN_ID, {}, auth)["_id"]
        for _ in range(100):
            if http_json("GET", fake["dexi"] + "executions/" + ex, None, auth)["state"] in ("OK", "FAILED", "STOPPED"):
                break
            time.sleep(0.05)
        result = http_json("GET", fake["dexi"] + "executions/%s/result" % ex, None, auth)
        pointers = [cell for row in result["rows"] for cell in row
                    if isinstance(cell, str) and cell.startswith("FILE:")][:n]
        if len(pointers) < n:
            raise RuntimeError("the fake made %d file pointers, not %d" % (len(pointers), n))
        self.dir = os.path.join(self.env.work, "files")
        os.makedirs(self.dir)
        self.expected = {}
        files = []
        for i, p in enumerate(pointers):
            mime, fsize, fid = p[len("FILE:"):].split(";")[:3]
            fid = dexi_data.normalise_file_id(fid)
            path = os.path.join(self.dir, "f%04d" % i)
            info = dexi_data.FileInfo(fid, mime, int(fsize), ex)
            digest = hashlib.sha256()
            for piece in dexi_data.file_stream(info, int(fsize)):
                digest.update(piece)
            self.expected[path] = digest.hexdigest()
            url = "%sexecutions/%s/file/%s" % (fake["dexi"], ex, urllib.parse.quote(fid, safe="-._~"))
            files.append({"pointer": p, "url": url, "path": path})
        self.manifest = os.path.join(self.env.work, "files.json")
        with open(self.manifest, "w") as f:
            json.dump({"base": fake["dexi"], "account": ACCOUNT, "api_key": API_KEY, "execution": ex,
                       "files": files}, f)
        self.curl_config = os.path.join(self.env.work, "files.curl")
        with open(self.curl_config, "w") as f:
            for k, v in dexi_auth().items():
                f.write('header = "%s: %s"\n' % (k, v))
            for x in files:
                f.write('url = "%s"\noutput = "%s"\n' % (x["url"], x["path"]))
        self.env.dexi_records()      # what setting up sent is not counted

    def before(self):
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.sync()
        quiet_window(self.env)()

    def after(self, out, run):
        figs = window_figures(self.env.dexi_records(), "/file/", CFG["files_rate"])
        ok = 0
        for path, want in self.expected.items():
            if os.path.exists(path):
                h = hashlib.sha256()
                with open(path, "rb") as f:
                    for piece in iter(lambda: f.read(1 << 20), b""):
                        h.update(piece)
                ok += h.hexdigest() == want
        figs["verified"] = ok
        return figs

    def clients(self):
        e, rate, c = self.env, CFG["files_rate"], CFG["files_c"]
        mk = lambda name, argv: Client(name, argv, self.after, before=self.before)  # noqa: E731
        out = [mk("autolua (dexi client:download)", [e.autolua, os.path.join(HERE, "files.lua"), self.manifest, c])]
        if e.node:
            out.append(mk("node (undici + bottleneck)",
                          [e.node, os.path.join(HERE, "node", "files.mjs"), self.manifest, rate, c]))
        if e.python:
            out.append(mk("python (aiohttp + own limiter)",
                          [e.python, os.path.join(HERE, "python", "files.py"), self.manifest, rate, c]))
        if e.curl:
            out.append(mk("curl --rate (serial, --retry)",
                          [e.curl, "-s", "--retry", "5", "--rate", "%d/s" % rate, "-K", self.curl_config]))
        return out


class Big(Job):
    figures = [("mibs", "MiB/s", "{:.0f}"), ("verified", "sha256 ok", "{:.0f}")]

    def __init__(self, env, mib):
        super().__init__(env)
        self.mib = mib
        self.key = "big %d MiB" % mib

    def setup(self):
        fake = self.env.start_fake()
        self.n = self.mib * MIB
        self.seed = "bench%d" % self.mib
        self.url = "%s/bytes?n=%d&seed=%s" % (fake["misc"], self.n, self.seed)
        self.path = os.path.join(self.env.work, "big.bin")
        self.want = misc.bytes_sha256(self.n, self.seed)
        self.title = ("big: one %d MiB download (misc /bytes of the fake) streamed to disk" % self.mib)

    def before(self):
        if os.path.exists(self.path):
            os.unlink(self.path)
        os.sync()      # the last run's dirty pages are written back now, not during this one

    def verify(self, figs):
        h = hashlib.sha256()
        with open(self.path, "rb") as f:
            for piece in iter(lambda: f.read(1 << 20), b""):
                h.update(piece)
        figs["verified"] = 1 if (h.hexdigest() == self.want and os.path.getsize(self.path) == self.n) else 0
        os.unlink(self.path)
        return figs

    def clients(self):
        e = self.env

        def parse_autolua(out, run):
            return self.verify({"mibs": grab(r"([\d.]+) MiB/s", out, "MiB/s")})

        def parse_curl(out, run):
            size, secs = out.split()[:2]
            return self.verify({"mibs": float(size) / MIB / float(secs)})

        out = [Client("autolua (http.request, file sink)", [e.autolua, os.path.join(HERE, "big.lua"), self.url, self.path],
                      parse_autolua, before=self.before)]
        if e.curl:
            out.append(Client("curl -o", [e.curl, "-sS", "-o", self.path, "-w", "%{size_download} %{time_total}\\n",
                                          self.url], parse_curl, before=self.before))
        return out


def parse_tasks(out, run):
    spawned = grab(r"spawned in ([\d.]+) s", out, "spawn time")
    drained = grab(r"/s in ([\d.]+) s", out, "drain time")
    return {"parked_rss": grab(r"parked at once, RSS ([\d.]+) MiB", out, "RSS while parked"),
            "total": spawned + drained, "projected": 1 if "projected" in out else 0}


class Tasks(Job):
    key = "tasks"
    figures = [("parked_rss", "MiB RSS parked", "{:.0f}"), ("total", "s to spawn + drain", "{:.2f}")]

    def setup(self):
        n = CFG["tasks_n"]
        self.title = ("tasks: %d tasks parked on one limiter, then released at %d/s (ideal drain %.1f s)"
                      % (n, n // 2, 2.0))

    def clients(self):
        e, n = self.env, CFG["tasks_n"]
        out = [Client("autolua (task.spawn + limiter.rate)", [e.autolua, os.path.join(HERE, "tasks.lua"), n], parse_tasks)]
        if e.node:
            js = os.path.join(HERE, "node", "tasks.mjs")
            out.append(Client("node (promises + bottleneck)", [e.node, js, n, "bottleneck", CFG["bottleneck_cap"]],
                              parse_tasks))
            out.append(Client("node (promises + own limiter)", [e.node, js, n, "own"], parse_tasks))
        if e.python:
            out.append(Client("python (asyncio tasks + own limiter)",
                              [e.python, os.path.join(HERE, "python", "tasks.py"), n], parse_tasks))
        return out


class Startup(Job):
    key = "startup"
    figures = [("ms", "ms a run", "{:.1f}")]

    def setup(self):
        how = ("hyperfine -N, %d runs after 3 warm-ups" % CFG["startup_runs"] if self.env.hyperfine
               else "a timed loop of %d runs" % CFG["startup_runs"])
        self.title = "startup: an empty chunk, time a run by %s (wall/CPU/RSS: one run)" % how

    def timer(self, argv):
        def after(out, run):
            runs = CFG["startup_runs"]
            if self.env.hyperfine:
                js = os.path.join(self.env.work, "hf.json")
                cmd = " ".join("''" if a == "" else a for a in argv)
                subprocess.run([self.env.hyperfine, "-N", "--style", "none", "--warmup", "3", "--runs", str(runs),
                                "--export-json", js, cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               check=True)
                with open(js) as f:
                    return {"ms": json.load(f)["results"][0]["mean"] * 1000}
            t0 = time.perf_counter()
            for _ in range(runs):
                subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
            return {"ms": (time.perf_counter() - t0) * 1000 / runs}
        return after

    def clients(self):
        e = self.env
        cmds = [("autolua -e ''", [e.autolua, "-e", ""])]
        if e.lua:
            cmds.append(("lua5.4 -e ''", [e.lua, "-e", ""]))
        if e.node:
            cmds.append(("node -e ''", [e.node, "-e", ""]))
        if e.python:
            cmds.append(("python3 -c ''", [e.python, "-c", ""]))
        return [Client(name, argv, self.timer(argv)) for name, argv in cmds]


class Dx(Job):
    """The DX sliding window (autolua only): scripts/bench/dx_window.lua."""
    key = "dx"
    figures = [("burst", "201-call burst s", "{:.2f}"), ("pct", "% of the window", "{:.1f}"), ("r429", "429s", "{:.0f}")]

    def setup(self):
        os.environ["AUTOLUA_FAKE_STATE"] = self.env.start_fake()["state_file"]
        self.title = ("dx: a 201-call burst under 1000 per 60 s, then %d teams.list calls through a"
                      " 100 per 6 s window (the fake enforcing it)" % CFG["dx_calls"])

    def clients(self):
        def parse(out, run):
            return {"burst": grab(r"below 1000 per 60 s in ([\d.]+) s", out, "burst"),
                    "pct": grab(r"= ([\d.]+) % of", out, "rate"), "r429": grab(r"(\d+) answered 429", out, "429s")}
        return [Client("autolua (dx client)", [self.env.autolua, os.path.join(HERE, "dx_window.lua"), CFG["dx_calls"], 100, 6],
                       parse)]


def proc_cpu(pid):
    """CPU seconds (user + sys) of a process and its live children (nginx's workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(d) == pid or int(fields[1]) == pid:      # fields[1]: the parent's pid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def wrk_latency_ms(out, pct):
    m = re.search(r"^\s*%s%%\s+([\d.]+)(us|ms|s)\s*$" % pct, out, re.M)
    if not m:
        raise Failed("no %s%% latency in wrk's output:\n%s" % (pct, out[-1500:]))
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]


class Serve(Job):
    """wrk against each server; the server's own CPU (from /proc) divided by the requests."""
    key = "serve"
    figures = [("rps", "req/s", "{:,.0f}"), ("p99", "ms p99", "{:.2f}"), ("cpu_us", "µs server CPU/req", "{:.1f}")]

    def setup(self):
        self.upstream = self.env.start_nginx()
        self.body = os.path.join(self.env.work, "nginx", "www", "small.json")
        self.proc = None
        c, secs = CFG["serve_c"], CFG["wrk_seconds"]
        self.title = ("serve: wrk -t1 -c%d for %g s against each server answering the 300-byte JSON "
                      "(autolua also after one outbound http.request to nginx)" % (c, secs))

    def start(self, argv, port, env=None):
        def before():   # the harness calls it outside its error handling: a failure shows in parse
            self.stop()
            self.proc = subprocess.Popen([str(a) for a in argv], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, env=dict(os.environ, **(env or {})),
                                         start_new_session=True)
            self.cpu0 = 0.0
            try:
                if wait_port(port):
                    urllib.request.urlopen("http://127.0.0.1:%d/small.json" % port, timeout=10).read()   # warm
            except OSError as exc:
                log("bench: serve: %s did not answer: %s" % (argv[0], exc))
            self.cpu0 = proc_cpu(self.proc.pid)
        return before

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def parse(self, out, run):
        cpu = proc_cpu(self.proc.pid) - self.cpu0 if self.proc else 0
        self.stop()
        n = grab(r"(\d+) requests in", out, "wrk request count", int)
        bad = 0
        m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if m:
            bad = int(m.group(1))
        m = re.search(r"Socket errors: .*", out)
        if m:
            log("bench: serve: " + m.group(0))
        return {"rps": grab(r"Requests/sec:\s+([\d.]+)", out, "Requests/sec"), "p99": wrk_latency_ms(out, 99),
                "cpu_us": cpu * 1e6 / max(1, n), "not200": bad}

    def clients(self):
        e = self.env
        if not e.wrk:
            return []
        out = []

        def wrk(port, path="/small.json"):
            return [e.wrk, "-t1", "-c%d" % CFG["serve_c"], "-d%gs" % CFG["wrk_seconds"], "--latency",
                    "http://127.0.0.1:%d%s" % (port, path)]

        app = os.path.join(HERE, "serve.lua")
        env = {"BENCH_BODY": self.body, "BENCH_UPSTREAM": self.upstream}
        for name, path in (("autolua serve", "/small.json"), ("autolua serve (one outbound http.request)", "/outbound")):
            port = free_port()
            argv = [e.autolua, "serve", app, "--listen", "127.0.0.1:%d" % port, "--max-handlers", CFG["serve_c"]]
            out.append(Client(name, wrk(port, path), self.parse, before=self.start(argv, port, env)))
        node = shutil.which("node") if e.want("node") else None   # no npm packages needed here
        if node:
            port = free_port()
            out.append(Client("node (http.createServer)", wrk(port), self.parse,
                              before=self.start([node, os.path.join(HERE, "node", "serve.mjs"), port, self.body], port)))
        if e.python:
            port = free_port()
            out.append(Client("python (aiohttp.web)", wrk(port), self.parse,
                              before=self.start([e.python, os.path.join(HERE, "python", "serve.py"), port, self.body], port)))
        if e.want("nginx"):
            port = int(urllib.parse.urlsplit(self.upstream).port)

            def before():
                self.stop()
                pid = int(open(os.path.join(e.work, "nginx", "nginx.pid")).read())
                self.nginx_pid, self.cpu0 = pid, proc_cpu(pid)

            def parse(out, run):
                figs = self.parse(out, run)
                figs["cpu_us"] = (proc_cpu(self.nginx_pid) - self.cpu0) * 1e6 / max(1, grab(
                    r"(\d+) requests in", out, "wrk request count", int))
                return figs
            out.append(Client("nginx (static file)", wrk(port), parse, before=before))
        return out


# {==== the table ====}

def spread(values, fmt):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    med = statistics.median(values)
    if len(values) == 1 or min(values) == max(values):
        return fmt.format(med)
    return "%s (%s–%s)" % (fmt.format(med), fmt.format(min(values)), fmt.format(max(values)))


def median(results, job, client, key):
    vals = [r["figs"].get(key) if key in r.get("figs", {}) else r.get(key)
            for r in results.get((job, client), []) if r.get("ok")]
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def table(jobs, results, rounds):
    lines = ["| job | client | wall s | user+sys CPU s | peak RSS MiB | the job's figures |",
             "|---|---|---|---|---|---|"]
    for job in jobs:
        for name in job.names:
            runs = results.get((job.key, name), [])
            ok = [r for r in runs if r["ok"]]
            failed = len(runs) - len(ok)
            figs = []
            for key, label, fmt in job.figures:
                figs.append("%s %s" % (spread([r["figs"].get(key) for r in ok], fmt), label))
            if any(r["figs"].get("projected") for r in ok):
                figs.append("drain projected from %g s" % CFG["bottleneck_cap"])
            bad = sum(r["figs"].get("not200", 0) + r["figs"].get("other", 0) for r in ok)
            if bad:
                figs.append("%d answers neither 200 nor 429" % bad)
            if failed:
                figs.append("**%d of %d runs failed**" % (failed, len(runs)))
            lines.append("| %s | %s | %s | %s | %s | %s |" % (
                job.key, name, spread([r["wall"] for r in ok], "{:.2f}"), spread([r["cpu"] for r in ok], "{:.2f}"),
                spread([r["rss"] for r in ok], "{:.1f}"), "; ".join(figs)))
    lines.append("")
    lines.append("Median of %d round%s, (min–max) across them." % (rounds, "" if rounds == 1 else "s"))
    for job in jobs:
        if job.repeat > 1:
            lines[-1] += " %s: %d runs a client, %d in each round." % (job.key.capitalize(), rounds * job.repeat, job.repeat)
    return "\n".join(lines)


def summary(jobs, results):
    keys = {j.key: j for j in jobs}
    out = []

    def m(job, client, key):
        return median(results, job, client, key)

    def find(job, prefix):
        for name in keys[job].names if job in keys else []:
            if name.startswith(prefix):
                return name
        return None

    def ratio(a, b):
        return a / b if a is not None and b not in (None, 0) else None

    def goal(ok, text):
        if ok is None:
            return "%s: no figure" % text
        return "%s: %s" % (text, "met" if ok else "MISSED")

    if "flood" in keys:
        au = find("flood", "autolua")
        rps, cpu = m("flood", au, "rps"), m("flood", au, "cpu_us")
        fl = find("flood", "floor")
        if fl:
            r1, r2 = ratio(rps, m("flood", fl, "rps")), ratio(cpu, m("flood", fl, "cpu_us"))
            out.append("flood: autolua %s req/s, %.2fx the floor's; %.1f µs CPU a request, %.2fx the floor's"
                       % ("{:,.0f}".format(rps or 0), r1 or 0, cpu or 0, r2 or 0))
            out.append("  " + goal(None if r1 is None else r1 >= 0.8, "goal req/s >= 0.8x floor"))
            out.append("  " + goal(None if r2 is None else r2 <= 1.25, "goal CPU/request <= 1.25x floor"))
        sh = find("flood", "same-head floor")
        if sh:
            out.append("  vs the same-head floor (the same request as autolua's): %.2fx its req/s, %.2fx its CPU a request"
                       % (ratio(rps, m("flood", sh, "rps")) or 0, ratio(cpu, m("flood", sh, "cpu_us")) or 0))
        for prefix in ("node", "python", "curl", "wrk"):
            p = find("flood", prefix)
            if p:
                out.append("  vs %s: %.2fx its req/s, %.2fx its CPU a request"
                           % (p, ratio(rps, m("flood", p, "rps")) or 0, ratio(cpu, m("flood", p, "cpu_us")) or 0))
    for job, allowed in (("limited", CFG["limited_rate"]), ("files", CFG["files_rate"])):
        if job not in keys:
            continue
        for name in keys[job].names:
            pct, r429 = m(job, name, "pct"), m(job, name, "r429")
            runs = [r for r in results.get((job, name), []) if r["ok"]]
            total429 = sum(r["figs"]["r429"] for r in runs)
            extra = ""
            if job == "files":
                extra = "; peak RSS %.1f MiB; %d of %d files matched their source" % (
                    m(job, name, "rss") or 0, sum(r["figs"]["verified"] for r in runs), CFG["files_n"] * len(runs))
            out.append("%s: %s: %.1f %% of %d/s, %d 429s in all rounds%s" % (job, name, pct or 0, allowed, total429, extra))
            if name.startswith("autolua"):
                out.append("  " + goal(None if pct is None else pct >= 99 and total429 == 0,
                                       "goal >= 99 % of the allowed rate and no 429"))
    big = [j for j in jobs if j.key.startswith("big")]
    if big:
        rss = {}
        for j in big:
            au, cu = find(j.key, "autolua"), find(j.key, "curl")
            a, c = m(j.key, au, "mibs"), m(j.key, cu, "mibs") if cu else None
            rss[j.mib] = m(j.key, au, "rss")
            line = "%s: autolua %.0f MiB/s, peak RSS %.1f MiB" % (j.key, a or 0, rss[j.mib] or 0)
            if c:
                line += "; curl %.0f MiB/s, peak RSS %.1f MiB; autolua/curl %.2fx" % (c, m(j.key, cu, "rss") or 0, a / c)
            out.append(line)
            if c:
                out.append("  " + goal(a / c >= 0.95, "goal throughput >= 0.95x curl"))
        if len(rss) == 2 and all(rss.values()):
            lo, hi = rss[min(rss)], rss[max(rss)]
            out.append("big: autolua peak RSS %d MiB file %.1f MiB vs %d MiB file %.1f MiB (%+.1f %%)"
                       % (max(rss), hi, min(rss), lo, (hi - lo) / lo * 100))
            out.append("  " + goal(abs(hi - lo) / lo <= 0.10, "goal peak RSS within 10 % between the sizes"))
    if "tasks" in keys:
        for name in keys["tasks"].names:
            out.append("tasks: %s: %.0f MiB while parked, peak %.0f MiB, %.2f s to spawn and drain"
                       % (name, m("tasks", name, "parked_rss") or 0, m("tasks", name, "rss") or 0,
                          m("tasks", name, "total") or 0))
        au = find("tasks", "autolua")
        peak = m("tasks", au, "rss")
        out.append("  " + goal(None if peak is None or CFG["tasks_n"] != 100000 else peak * MIB < 200e6,
                               "goal 100 000 parked tasks under 200 MB (peak RSS)"))
    if "serve" in keys:
        au, nd = find("serve", "autolua serve"), find("serve", "node")
        for name in keys["serve"].names:
            out.append("serve: %s: %s req/s, p99 %.2f ms, %.1f µs server CPU a request" % (
                name, "{:,.0f}".format(m("serve", name, "rps") or 0), m("serve", name, "p99") or 0,
                m("serve", name, "cpu_us") or 0))
        if au and nd:
            r, p, pn = ratio(m("serve", au, "rps"), m("serve", nd, "rps")), m("serve", au, "p99"), m("serve", nd, "p99")
            out.append("  " + goal(None if r is None or p is None or pn is None else r >= 1.5 and p <= pn,
                                   "goal >= 1.5x Node's req/s (%.2fx) at <= its p99" % (r or 0)))
    out += tls_jobs.summary(sys.modules[__name__], keys, m, find, ratio, goal)
    out += shared_jobs.summary(sys.modules[__name__], keys, m, find)
    out += redis_claims.summary(sys.modules[__name__], keys, m, find)
    if "startup" in keys:
        a, l = m("startup", find("startup", "autolua"), "ms"), None
        ln = find("startup", "lua5.4")
        if ln:
            l = m("startup", ln, "ms")
        parts = ["%s %.1f ms" % (n, m("startup", n, "ms") or 0) for n in keys["startup"].names]
        out.append("startup: " + ", ".join(parts))
        if l:
            out.append("  autolua/lua5.4 %.2fx; " % (a / l) + goal(a / l <= 2, "goal <= 2x lua5.4"))
    return "\n".join(out)


# {==== the machine and the versions ====}

def first_line(argv, pattern=None):
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [ln.strip() for ln in p.stdout.splitlines() if ln.strip()]
    if pattern:
        lines = [ln for ln in lines if re.search(pattern, ln)]
    return lines[0] if lines else None


def describe(env, argv):
    def proc_field(path, field):
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(field):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "?"
    try:
        debian = open("/etc/debian_version").read().strip()
    except OSError:
        debian = "?"
    mem_kib = proc_field("/proc/meminfo", "MemTotal").split()[0]
    lines = ["### Machine", "",
             "- %d cores (nproc), CPU: %s; memory %.1f GiB; Linux %s; Debian %s" % (
                 os.cpu_count(), proc_field("/proc/cpuinfo", "model name"), int(mem_kib) / 1048576,
                 os.uname().release, debian), "", "### Versions", ""]
    au = subprocess.run([env.autolua, "--version"], stdout=subprocess.PIPE, text=True).stdout.split("\n")
    commit = first_line(["git", "-C", ROOT, "describe", "--always", "--dirty"])
    lines.append("- autolua: " + "; ".join(x for x in au if x.strip()) + " (%s, tree %s)" % (env.autolua_source, commit))
    vers = [("floor", env.floor and "built by %s -O2 against the same libcurl and libev" % first_line(["cc", "--version"])),
            ("lua5.4", env.lua and first_line([env.lua, "-v"])),
            ("node", env.node and first_line([env.node, "--version"]))]
    if env.node:
        for mod in ("undici", "bottleneck"):
            with open(os.path.join(HERE, "node", "node_modules", mod, "package.json")) as f:
                vers.append((mod, json.load(f)["version"]))
    if env.python:
        vers.append(("python (peer)", first_line([env.python, "--version"])))
        vers.append(("aiohttp", first_line([env.python, "-c", "import aiohttp; print(aiohttp.__version__)"])))
    vers += [("curl", env.curl and first_line([env.curl, "--version"])),
             ("wrk", env.wrk and first_line([env.wrk, "-v"], "wrk")),
             ("nginx", env.nginx and first_line([env.nginx, "-v"])),
             ("h2load", shutil.which("h2load") and first_line(["h2load", "--version"])),
             ("libcurl", first_line(["curl-config", "--version"])),
             ("OpenSSL", first_line(["openssl", "version"])),
             ("hyperfine", env.hyperfine and first_line([env.hyperfine, "--version"])),
             ("python (harness, fake APIs)", sys.version.split()[0]),
             ("GNU time", GNU_TIME and first_line(["dpkg-query", "-W", "-f=${Package} ${Version}", "time"]))]
    for name, v in vers:
        if v:
            lines.append("- %s: %s" % (name, v))
    knobs = " ".join("%s=%s" % (k, os.environ[k]) for k in (
        "SMOKE", "ROUNDS", "PEERS", "FLOOD_N", "FLOOD_C", "FLOOD_REPEAT", "WRK_SECONDS", "LIMITED_SECONDS", "FILES_N", "FILES_SIZE",
        "BIG_MIB", "BIG_SMALL_MIB", "TASKS_N", "STARTUP_RUNS", "COLD_N", "BOTTLENECK_CAP", "DX_CALLS") if os.environ.get(k))
    lines += ["", "### Command", "", "`%sscripts/bench/run%s`" % (knobs + " " if knobs else "",
                                                              "".join(" " + a for a in argv)), ""]
    return "\n".join(lines)


# {==== main ====}

def main(argv):
    wanted = argv or ALL_JOBS
    for j in wanted:
        if j not in ALL_JOBS + ["dx", "shared", "claims"]:
            print("unknown job %s (jobs: %s dx shared claims)" % (j, " ".join(ALL_JOBS)), file=sys.stderr)
            return 2
    env = Env()
    failures = 0
    t_start = time.monotonic()
    try:
        jobs = []
        for j in wanted:
            if j == "flood":
                if env.nginx:
                    jobs.append(Flood(env))
                else:
                    log("bench: no nginx, the flood job is skipped")
            elif j == "limited":
                jobs.append(Limited(env))
            elif j == "files":
                jobs.append(Files(env))
            elif j == "big":
                jobs.append(Big(env, CFG["big_mib"]))
                jobs.append(Big(env, CFG["big_small_mib"]))
            elif j == "tasks":
                jobs.append(Tasks(env))
            elif j == "startup":
                jobs.append(Startup(env))
            elif j == "dx":
                jobs.append(Dx(env))
            elif j == "serve":
                if env.wrk and env.nginx:
                    jobs.append(Serve(env))
                else:
                    log("bench: no wrk or no nginx, the serve job is skipped")
            elif j == "shared":
                jobs += shared_jobs.make_jobs(sys.modules[__name__], env)
            elif j == "claims":
                jobs += redis_claims.make_jobs(sys.modules[__name__], env)
            elif j in tls_jobs.TLS_JOBS and j == next(x for x in wanted if x in tls_jobs.TLS_JOBS):
                jobs += tls_jobs.make_jobs(sys.modules[__name__], env, wanted)
        if env.missing:
            log("bench: not available, skipped: %s" % ", ".join(env.missing))
        for job in jobs:
            job.setup()
            job.client_list = job.clients()
            job.names = [c.name for c in job.client_list]
        results = {}
        rounds = CFG["rounds"]
        for rnd in range(rounds):
            for job, rep in ((j, r) for j in jobs for r in range(j.repeat)):
                cl = job.client_list
                k = (rnd * job.repeat + rep) % len(cl)
                for client in cl[k:] + cl[:k]:
                    if client.before:
                        client.before()
                    rec = {"ok": False, "figs": {}}
                    try:
                        out, err, wall, cpu, rss = measure(client.argv, client.timeout, client.cwd, client.env)
                        rec.update(wall=wall, cpu=cpu, rss=rss)
                        rec["figs"] = client.parse(out, rec)
                        rec["ok"] = True
                        if client.name.startswith("autolua") and rec["figs"].get("verified") is not None:
                            want = CFG["files_n"] if job.key == "files" else 1
                            if rec["figs"]["verified"] != want:
                                failures += 1
                                log("bench: autolua's downloads did not match their sources in %s" % job.key)
                    except Exception as e:      # Failed, or a tool that broke (hyperfine...)
                        failures += 1
                        log("bench: %s / %s failed: %s" % (job.key, client.name, e))
                    results.setdefault((job.key, client.name), []).append(rec)
                    if rec["ok"]:
                        figs = ", ".join("%s %s" % (fmt.format(rec["figs"][key]), label)
                                         for key, label, fmt in job.figures if key in rec["figs"])
                        log("[%d/%d] %-10s %-40s wall %6.2f s  cpu %6.2f s  rss %7.1f MiB  %s"
                            % (rnd + 1, rounds, job.key, client.name, rec["wall"], rec["cpu"], rec["rss"], figs))
        elapsed = time.monotonic() - t_start
        text = ([describe(env, argv), "### Jobs", ""] + ["- " + j.title for j in jobs] +
                ["", "### Table (run of %s)" % time.strftime("%Y-%m-%d %H:%M %Z"), "", table(jobs, results, rounds),
                 "", "### Against the goals", "", "```",
                 summary(jobs, results), "```", "", "Took %.0f s; %d run(s) failed." % (elapsed, failures)])
        report = "\n".join(text)
        print(report)
        outdir = os.environ.get("OUT") or os.path.join(HERE, "out")
        try:
            os.makedirs(outdir, exist_ok=True)
            with open(os.path.join(outdir, "results.md"), "w") as f:
                f.write(report + "\n")
            with open(os.path.join(outdir, "results.json"), "w") as f:
                json.dump({"config": CFG, "rounds": [
                    {"job": k[0], "client": k[1], "runs": v} for k, v in results.items()]}, f, indent=1)
        except OSError as e:
            log("bench: could not write %s: %s" % (outdir, e))
    finally:
        env.close()
    return 1 if failures else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    sys.exit(main(sys.argv[1:]))
