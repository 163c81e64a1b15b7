#!/usr/bin/env python3
"""Clients for the serve specs that neither http.request nor curl can be: raw bytes on a socket,
a client trickling its request, and /metrics read by prometheus_client's own parser.

  serve_client.py raw PORT TEXT|@FILE  sends TEXT (Python escapes: \\r\\n) and prints the
                                       status line of the answer, or CLOSED when the server
                                       closed without one
  serve_client.py trickle PORT EVERY N sends a request one byte every EVERY seconds, at most
                                       N bytes; prints {"cut": bool, "after": seconds} as JSON
  serve_client.py metrics URL [TOKEN]  prints the families parsed from URL as JSON:
                                       {name: {"type": t, "samples": [[name, labels, value]]}}
"""
import json
import socket
import sys
import time
import urllib.request


def raw(port, text):
    if text.startswith("@"):
        with open(text[1:], encoding="latin-1") as f:
            text = f.read()
    data = text.encode("latin-1").decode("unicode_escape").encode("latin-1")
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
    s.sendall(data)
    got = b""
    try:
        while b"\r\n" not in got:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    print(got.split(b"\r\n")[0].decode("latin-1") if got else "CLOSED")


def trickle(port, every, n):
    req = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n" + b"x" * 10000
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    t0 = time.monotonic()
    cut = False
    for i in range(min(int(n), len(req))):
        try:
            s.sendall(req[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            cut = True
            break
        time.sleep(float(every))
        s.setblocking(False)
        try:
            if s.recv(4096) == b"":
                cut = True
                break
        except BlockingIOError:
            pass
        except ConnectionResetError:
            cut = True
            break
        finally:
            s.setblocking(True)
    print(json.dumps({"cut": cut, "after": round(time.monotonic() - t0, 3)}))


def metrics(url, token=None):
    from prometheus_client.parser import text_string_to_metric_families
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    text = urllib.request.urlopen(req, timeout=10).read().decode("utf-8")
    out = {}
    for fam in text_string_to_metric_families(text):
        out[fam.name] = {"type": fam.type,
                         "samples": [[s.name, s.labels, s.value] for s in fam.samples]}
    print(json.dumps(out))


if __name__ == "__main__":
    {"raw": raw, "trickle": trickle, "metrics": metrics}[sys.argv[1]](*sys.argv[2:])
