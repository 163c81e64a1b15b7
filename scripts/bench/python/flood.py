"""N GETs at concurrency C with aiohttp; every body read in full.
    python3 flood.py URL N C
BENCH_CA=FILE trusts that certificate (the TLS jobs); BENCH_FRESH=1 opens a fresh connection for
every request (cold-tls)."""
import os
import ssl
import asyncio
import sys
import time

import aiohttp


async def main(url, n, c):
    started = done = bad = 0

    async def worker(session):
        nonlocal started, done, bad
        while started < n:
            started += 1
            async with session.get(url) as resp:
                await resp.read()
                if resp.status != 200:
                    bad += 1
            done += 1

    t0 = time.monotonic()
    ca = os.environ.get("BENCH_CA")
    tls = ssl.create_default_context(cafile=ca) if ca else None
    fresh = os.environ.get("BENCH_FRESH") == "1"
    connector = aiohttp.TCPConnector(limit=c, ssl=tls, force_close=fresh) if tls else aiohttp.TCPConnector(limit=c)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(min(c, n))))
    dt = time.monotonic() - t0
    print("flood: %d requests, %d not 200, %.0f requests/s, %.3f s" % (done, bad, done / dt, dt))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20000,
                     int(sys.argv[3]) if len(sys.argv) > 3 else 64))
