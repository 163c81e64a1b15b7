#!/usr/bin/env python3
"""Start every fake API on its own free loopback port and run until SIGTERM/SIGINT.

    python3 tests/fake_api/server.py --state FILE

FILE is written atomically once every server listens:
    {"pid": ..., "misc": "http://127.0.0.1:P1", "dexi": "http://127.0.0.1:P2/",
     "dx": "http://127.0.0.1:P3", "dx_files": "http://127.0.0.1:P4",
     "dx_datacloud": "http://127.0.0.1:P6" (the Data Cloud instance host; methods at /api/<method>),
     "misc_tls": "https://127.0.0.1:P5", "tls_ca": "/tmp/.../cert.pem"}
`dx`/`dx_files`/`dx_datacloud` appear when dx.py exists; `misc_tls`/`tls_ca` when the `openssl`
command exists (a throwaway self-signed certificate for 127.0.0.1 and localhost,
deleted at exit). On SIGTERM or SIGINT every server is stopped, FILE is removed
(if it is still ours) and the exit status is 0. Without --state the JSON goes to stdout.

--port N puts the services on fixed ports, N (misc), N+1 (dexi), N+2 (dx_files), N+3 (dx),
N+4 (misc_tls), N+5 (dx_datacloud) instead of free ones. --exports prints, instead of the JSON, the shell `export`
lines that point the autolua clients at the fakes with the fakes' credentials (what
`autolua sim` shows).
"""

import argparse
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from common import serve            # noqa: E402
from dexi import DexiService        # noqa: E402
from misc import MiscService        # noqa: E402

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def make_tls_context(directory):
    """A server SSLContext with a fresh self-signed certificate written to
    `directory`, and the certificate's path; (None, None) without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None, None
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context, cert


def load_dx():
    """(DxService, DxFilesService, DxDataCloudService) from dx.py, or None while dx.py does not exist.
    A dx.py that fails to import is fatal: the tests would silently lose DX."""
    if not os.path.exists(os.path.join(HERE, "dx.py")):
        return None
    import dx
    return dx.DxService, dx.DxFilesService, dx.DxDataCloudService


def start_all(host, tls_dir, base_port=0):
    """Start every service; returns (servers, state dict without pid)."""
    servers, state = [], {}
    offsets = {"misc": 0, "dexi": 1, "dx_files": 2, "dx": 3, "misc_tls": 4, "dx_datacloud": 5}

    def start(key, service, url_suffix="", context=None):
        server = serve(service, host, base_port + offsets[key] if base_port else 0, context)
        servers.append(server)
        state[key] = server.url + url_suffix
        return server

    try:
        start("misc", MiscService())
        start("dexi", DexiService(), "/")
        dx_classes = load_dx()
        if dx_classes is not None:
            dx_service, dx_files_service, dx_datacloud_service = dx_classes
            files = start("dx_files", dx_files_service())
            start("dx", dx_service(files_base_url=files.url))
            start("dx_datacloud", dx_datacloud_service())
        if tls_dir is not None:
            context, cert = make_tls_context(tls_dir)
            if context is not None:
                start("misc_tls", MiscService(), context=context)
                state["tls_ca"] = cert
    except BaseException:
        stop_all(servers)
        raise
    return servers, state


def exports(state):
    """The shell lines that point autolua's clients at these fakes."""
    from dexi_data import ACCOUNT, API_KEY
    lines = ["export DEXI_ACCOUNT=%s DEXI_API_KEY=%s DEXI_BASE_URL=%s"
             % (ACCOUNT, API_KEY, state["dexi"])]
    if "dx" in state:
        lines.append("export DX_TOKEN=dx-test-token DX_BASE_URL=%s" % state["dx"])
    if "dx_datacloud" in state:
        lines.append("export DX_DATACLOUD_URL=%s" % state["dx_datacloud"])
    return "\n".join(lines) + "\n"


def stop_all(servers):
    for server in reversed(servers):
        server.stop()


def write_state(path, state):
    """Write JSON to `path` atomically (temp file in the same directory, rename)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fake-api-state.", dir=directory)
    with os.fdopen(fd, "w") as out:
        json.dump(state, out, indent=2)
        out.write("\n")
    os.replace(tmp, path)


def remove_state(path):
    """Remove the state file unless another server instance has replaced it."""
    try:
        with open(path) as f:
            if json.load(f).get("pid") != os.getpid():
                return
        os.remove(path)
    except (OSError, ValueError):
        pass


def main(argv=None):
    sys.setswitchinterval(0.0005)
    parser = argparse.ArgumentParser(description="Run the fake Dexi, DX and misc APIs.")
    parser.add_argument("--state", help="where to write the JSON with the base URLs")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--no-tls", action="store_true", help="skip the HTTPS misc server")
    parser.add_argument("--port", type=int, default=0,
                        help="first of five fixed ports (default: free ones)")
    parser.add_argument("--exports", action="store_true",
                        help="print shell export lines for autolua instead of the JSON")
    args = parser.parse_args(argv)
    if args.port and not 0 < args.port <= 65531:
        parser.error("--port must be between 1 and 65531")

    # Block the stop signals before any thread starts (threads inherit the mask),
    # then wait for them with sigwait: no handler runs at an awkward moment.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    tls_dir = None if args.no_tls else tempfile.mkdtemp(prefix="fake-api-tls.")
    servers = []
    try:
        try:
            servers, state = start_all(args.host, tls_dir, args.port)
        except OSError as e:        # a port in use, most often: one line says it
            print("fake_api: cannot start: %s" % e, file=sys.stderr)
            return 1
        except Exception:
            print("fake_api: cannot start:", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
            return 1
        state = dict(pid=os.getpid(), **state)
        if args.state:
            write_state(args.state, state)
        if args.exports:
            sys.stdout.write(exports(state))
            sys.stdout.flush()
        elif not args.state:
            print(json.dumps(state), flush=True)
        signal.sigwait(STOP_SIGNALS)
        return 0
    finally:
        stop_all(servers)
        if tls_dir is not None:
            shutil.rmtree(tls_dir, ignore_errors=True)
        if args.state:
            remove_state(args.state)


if __name__ == "__main__":
    sys.exit(main())
