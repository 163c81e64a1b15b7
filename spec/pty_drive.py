#!/usr/bin/env python3
"""Drives a program through a pseudo-terminal, as a person at a keyboard would, for the REPL
specs: python3 spec/pty_drive.py STEPS.json -- COMMAND...

STEPS is a list of {"send": text} (\\t, \\x03 and \\x04 are Tab, Ctrl-C, Ctrl-D), {"expect":
regex, "timeout": s} (waits until the screen text since the last expect matches) or
{"sleep": s}. Prints {"ok", "failed", "transcript", "code"} as JSON on stdout."""
import json
import os
import pty
import re
import select
import signal
import sys
import time

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|\r")


def main():
    sep = sys.argv.index("--")
    steps = json.load(open(sys.argv[1]))
    cmd = sys.argv[sep + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm"
        os.execvp(cmd[0], cmd)
    out, mark, failed = b"", 0, None

    def pump(timeout):
        nonlocal out
        r, _, _ = select.select([fd], [], [], timeout)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return False
            if not data:
                return False
            out += data
        return True

    for i, step in enumerate(steps):
        if "send" in step:
            os.write(fd, step["send"].encode())
        elif "sleep" in step:
            end = time.time() + step["sleep"]
            while time.time() < end:
                pump(0.05)
        elif "expect" in step:
            pattern = re.compile(step["expect"].encode(), re.S)
            end = time.time() + step.get("timeout", 10)
            while True:
                clean = ANSI.sub(b"", out[mark:])
                m = pattern.search(clean)
                if m:
                    mark = len(out)
                    break
                if time.time() > end or not pump(0.1):
                    if not pattern.search(ANSI.sub(b"", out[mark:])):
                        failed = {"step": i, "expect": step["expect"]}
                        break
        if failed:
            break
    end = time.time() + 5
    code = None
    while time.time() < end:
        pump(0.05)
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            break
    if code is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    print(json.dumps({"ok": failed is None, "failed": failed, "code": code,
                      "transcript": ANSI.sub(b"", out).decode("utf-8", "replace")}))


if __name__ == "__main__":
    main()
