"""The TLS jobs of the bench: flood-tls (HTTP/1.1 over TLS), flood-h2 (HTTP/2, multiplexed) and
cold-tls (a fresh connection, so a fresh handshake, for every request).

nginx serves the same 300-byte JSON body as the plain flood job, over TLS with a throwaway
certificate that this module makes, on two loopback ports: one speaking HTTP/1.1 only, one
offering HTTP/2 through ALPN. Each client trusts the certificate through its own option
(autolua `ca_file`, libcurl `CURLOPT_CAINFO`, undici `connect.ca`, aiohttp's SSL context,
`curl --cacert`). nginx logs `$connection $ssl_session_reused $connection_requests` for every
request, so each run also reports how many TCP connections it opened, how many of their
handshakes were resumed, and how many requests each connection carried.

harness.py calls make_jobs(h, env, wanted) with itself as `h`, so this file needs no import of it.
"""

import os
import shutil
import subprocess

TLS_JOBS = ["flood-tls", "flood-h2", "cold-tls"]


class TlsServer:
    """nginx with two TLS servers (HTTP/1.1, HTTP/2), started on first need."""

    def __init__(self, h, env):
        self.h, self.env, self.urls = h, env, None

    def start(self):
        if self.urls:
            return self.urls
        h, env = self.h, self.env
        d = os.path.join(env.work, "nginx-tls")
        os.makedirs(os.path.join(d, "www"))
        shutil.copy(os.path.join(env.work, "nginx", "www", "small.json"), os.path.join(d, "www", "small.json"))
        self.ca = os.path.join(d, "cert.pem")
        key = os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", self.ca], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        p1, p2 = h.free_port(), h.free_port()
        self.logs = {"h1": os.path.join(d, "h1.log"), "h2": os.path.join(d, "h2.log")}
        user = "user root;" if os.geteuid() == 0 else ""
        server = """  server {
    listen 127.0.0.1:%(port)d ssl%(h2)s;
    ssl_certificate %(ca)s; ssl_certificate_key %(key)s;
    ssl_session_cache shared:TLS:10m; ssl_session_tickets on;
    access_log %(log)s bench;
    root %(d)s/www; default_type application/json;
  }
"""
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""%(user)s
worker_processes 1;
daemon off;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log;
events { worker_connections 4096; }
http {
  log_format bench '$connection $ssl_session_reused $connection_requests $server_protocol';
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  http2_max_concurrent_streams 128;
  client_body_temp_path %(d)s; proxy_temp_path %(d)s; fastcgi_temp_path %(d)s;
  uwsgi_temp_path %(d)s; scgi_temp_path %(d)s;
""" % {"user": user, "d": d})
            for port, h2, log in ((p1, "", self.logs["h1"]), (p2, " http2", self.logs["h2"])):
                f.write(server % {"port": port, "h2": h2, "ca": self.ca, "key": key, "log": log, "d": d})
            f.write("}\n")
        proc = subprocess.Popen([env.nginx, "-e", os.path.join(d, "error.log"), "-c", conf, "-p", d],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        env.procs.append(proc)
        if not (h.wait_port(p1) and h.wait_port(p2)):
            raise RuntimeError("nginx (TLS) did not start: " + open(os.path.join(d, "error.log")).read()[-2000:])
        self.urls = {"h1": "https://127.0.0.1:%d/small.json" % p1, "h2": "https://127.0.0.1:%d/small.json" % p2}
        return self.urls

    def clear(self, which):
        """Empties a log (nginx appends, so truncating in place is safe)."""
        open(self.logs[which], "w").close()

    def connections(self, which):
        """From the log since clear(): connections, their full and resumed handshakes, requests a
        connection (mean), and the protocol of the last request."""
        conns, proto = {}, "?"
        with open(self.logs[which]) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 4:
                    continue
                cid, reused, nreq, proto = parts[0], parts[1] == "r", int(parts[2]), parts[3]
                seen = conns.setdefault(cid, [False, 0])
                seen[0] = seen[0] or reused
                seen[1] = max(seen[1], nreq)
        n = len(conns)
        resumed = sum(1 for r, _ in conns.values() if r)
        requests = sum(k for _, k in conns.values())
        return {"conns": n, "full": n - resumed, "resumed": resumed,
                "per_conn": requests / n if n else 0.0, "proto": proto}


def make_jobs(h, env, wanted):
    """The TLS jobs among 'wanted', as harness Job objects (nginx with TLS is needed for all)."""
    if not any(j in TLS_JOBS for j in wanted):
        return []
    if not env.nginx:
        h.log("bench: no nginx, the TLS jobs are skipped")
        return []
    server = TlsServer(h, env)
    conn_figs = [("conns", "connections", "{:.0f}"), ("resumed", "resumed handshakes", "{:.0f}"),
                 ("per_conn", "requests a connection", "{:.0f}")]

    def with_conns(which, parse):
        def after(out, run):
            figs = parse(out, run)
            figs.update(server.connections(which))
            return figs
        return after

    def before(which):
        return lambda: server.clear(which)

    class TlsFlood(h.Job):
        figures = [("rps", "req/s", "{:,.0f}"), ("cpu_us", "µs CPU/req", "{:.1f}")] + conn_figs

        def __init__(self, env, key, which):
            super().__init__(env)
            self.key, self.which = key, which

        def setup(self):
            self.repeat = h.CFG["flood_repeat"]
            self.env.start_nginx()          # the body file comes from the plain server's folder
            self.url = server.start()[self.which]
            n, c = h.CFG["flood_n"], h.CFG["flood_c"]
            self.title = ("%s: %d GETs of a 300-byte JSON body from nginx over TLS (%s) at concurrency %d"
                          % (self.key, n, "HTTP/2, one connection wanted" if self.which == "h2" else "HTTP/1.1",
                             c))

        def clients(self):
            e, n, c, url, w = self.env, h.CFG["flood_n"], h.CFG["flood_c"], self.url, self.which
            ca, h2 = {"BENCH_CA": server.ca}, w == "h2"

            def mk(name, argv, parse, env=None):
                return h.Client(name, argv, with_conns(w, parse), before=before(w), env=env)
            out = [mk("autolua", [e.autolua, os.path.join(h.HERE, "flood.lua"), url, n, c], h.parse_requests, ca)]
            if e.floor:
                fenv = {"FLOOR_CA": server.ca, "FLOOR_H2": "1" if h2 else "0"}
                out.append(mk("floor (C: libcurl multi + libev%s)" % (", multiplexed" if h2 else ""),
                              [e.floor, url, n, c], h.parse_requests, fenv))
                # the same request as autolua's: its User-Agent and Accept-Encoding lines
                out.append(mk("same-head floor (the floor sending autolua's two header lines)",
                              [e.floor, url, n, c] + e.autolua_header_lines(), h.parse_requests, fenv))
            if e.node:
                out.append(mk("node (undici%s)" % (", allowH2" if h2 else ""),
                              [e.node, os.path.join(h.HERE, "node", "flood.mjs"), url, n, c], h.parse_requests,
                              dict(ca, BENCH_H2="1" if h2 else "0")))
            if e.python:
                out.append(mk("python (aiohttp, HTTP/1.1 only)",
                              [e.python, os.path.join(h.HERE, "python", "flood.py"), url, n, c], h.parse_requests, ca))
            if e.curl:
                def parse_curl(out, run):
                    codes = out.split()
                    return {"rps": len(codes) / run["wall"], "cpu_us": run["cpu"] * 1e6 / max(1, len(codes)),
                            "not200": sum(1 for x in codes if x != "200")}
                how = ["--http2"] if h2 else ["--http1.1", "--parallel-immediate"]
                out.append(mk("curl --parallel%s" % (" --http2" if h2 else ""),
                              [e.curl, "-s", "--cacert", server.ca, "--parallel", "--parallel-max", c] + how +
                              ["-o", "/dev/null", "-w", "%{http_code}\\n", "%s?[1-%d]" % (url, n)], parse_curl))
            h2load = shutil.which("h2load") if e.want("h2load") else None
            if h2load:
                def parse_h2load(out, run):
                    done = h.grab(r"requests: \d+ total, \d+ started, (\d+) done", out, "h2load requests", int)
                    return {"rps": h.grab(r"finished in [\d.]+m?s, ([\d.]+) req/s", out, "h2load req/s"),
                            "cpu_us": run["cpu"] * 1e6 / max(1, done),
                            "not200": h.grab(r"requests: .* (\d+) failed", out, "h2load failures", int)}
                argv = [h2load, "-n", n] + (["-c", 1, "-m", c] if h2 else ["--h1", "-c", c]) + [url]
                out.append(mk("h2load (the ceiling: parses nothing)", argv, parse_h2load))
            return out

    class ColdTls(h.Job):
        key = "cold-tls"
        figures = [("ms", "ms a request", "{:.2f}"), ("cpu_us", "µs CPU/req", "{:.0f}")] + conn_figs

        def setup(self):
            self.env.start_nginx()
            self.url = server.start()["h1"]
            self.n = h.CFG["cold_n"]
            self.title = ("cold-tls: %d GETs one after another, each on a fresh TLS connection (HTTP/1.1); "
                          "resumed handshakes show TLS session reuse" % self.n)

        def clients(self):
            e, n, url = self.env, self.n, self.url

            def parse(out, run):
                figs = h.parse_requests(out, run)
                return {"ms": 1000.0 / figs["rps"], "cpu_us": figs["cpu_us"], "not200": figs["not200"]}

            def mk(name, argv, env):
                return h.Client(name, argv, with_conns("h1", parse), before=before("h1"), env=env)
            fresh = {"BENCH_CA": server.ca, "BENCH_FRESH": "1"}
            out = [mk("autolua (reuse = false)", [e.autolua, os.path.join(h.HERE, "flood.lua"), url, n, 1], fresh)]
            if e.floor:
                out.append(mk("floor (CURLOPT_FRESH_CONNECT)", [e.floor, url, n, 1],
                              {"FLOOR_CA": server.ca, "FLOOR_FRESH": "1"}))
            if e.node:
                out.append(mk("node (undici, reset: true)",
                              [e.node, os.path.join(h.HERE, "node", "flood.mjs"), url, n, 1], fresh))
            if e.python:
                out.append(mk("python (aiohttp, force_close)",
                              [e.python, os.path.join(h.HERE, "python", "flood.py"), url, n, 1], fresh))
            return out

    jobs = []
    for j in wanted:
        if j == "flood-tls":
            jobs.append(TlsFlood(env, "flood-tls", "h1"))
        elif j == "flood-h2":
            jobs.append(TlsFlood(env, "flood-h2", "h2"))
        elif j == "cold-tls":
            jobs.append(ColdTls(env))
    return jobs


def summary(h, keys, m, find, ratio, goal):
    """Lines for the goals section: each TLS job against its floor and its peers."""
    out = []
    for key in ("flood-tls", "flood-h2"):
        if key not in keys:
            continue
        au, fl = find(key, "autolua"), find(key, "floor")
        rps, cpu = m(key, au, "rps"), m(key, au, "cpu_us")
        line = "%s: autolua %s req/s, %.1f µs CPU a request, %.0f connections" % (
            key, "{:,.0f}".format(rps or 0), cpu or 0, m(key, au, "conns") or 0)
        out.append(line)
        if fl:
            r1, r2 = ratio(rps, m(key, fl, "rps")), ratio(cpu, m(key, fl, "cpu_us"))
            out.append("  vs the floor (%.0f connections): %.2fx its req/s, %.2fx its CPU a request"
                       % (m(key, fl, "conns") or 0, r1 or 0, r2 or 0))
            out.append("  " + goal(None if r1 is None else r1 >= 0.9, "goal req/s >= 0.9x floor"))
            out.append("  " + goal(None if r2 is None else r2 <= 1.15, "goal CPU/request <= 1.15x floor"))
        sh = find(key, "same-head floor")
        if sh:
            out.append("  vs the same-head floor (the same request as autolua's): %.2fx its req/s, %.2fx its CPU a request"
                       % (ratio(rps, m(key, sh, "rps")) or 0, ratio(cpu, m(key, sh, "cpu_us")) or 0))
        ahead = []
        for name in keys[key].names:
            if name.startswith(("autolua", "floor", "same-head floor", "h2load")):
                continue
            r = ratio(rps, m(key, name, "rps"))
            out.append("  vs %s: %.2fx its req/s, %.2fx its CPU a request"
                       % (name, r or 0, ratio(cpu, m(key, name, "cpu_us")) or 0))
            ahead.append(r is not None and r > 1)
        if ahead:
            out.append("  " + goal(all(ahead), "goal ahead of every peer"))
        if key == "flood-h2":
            conns = m(key, au, "conns")
            out.append("  " + goal(None if conns is None else conns <= 2, "goal 64 concurrent requests on <= 2 connections"))
    if "cold-tls" in keys:
        for name in keys["cold-tls"].names:
            out.append("cold-tls: %s: %.2f ms a request, %.0f full and %.0f resumed handshakes" % (
                name, m("cold-tls", name, "ms") or 0, m("cold-tls", name, "full") or 0,
                m("cold-tls", name, "resumed") or 0))
        au = find("cold-tls", "autolua")
        full = m("cold-tls", au, "full")
        out.append("  " + goal(None if full is None else full <= 1, "goal every handshake after the first resumed"))
    return out
