"""Every file of a manifest, C at once through common.RateLimiter at RATE a second, each
streamed to its path in 64 KiB pieces; a 429 is retried through the limiter.
    python3 files.py MANIFEST RATE C"""
import asyncio
import json
import sys
import time

import aiohttp

from common import RateLimiter, dexi_headers, status_mib


async def main(manifest, rate, c):
    limiter = RateLimiter(rate)
    files = iter(manifest["files"])
    ok = r429 = 0

    async def fetch(session, f):
        nonlocal r429
        while True:
            await limiter.acquire()
            async with session.get(f["url"]) as resp:
                if resp.status == 200:
                    with open(f["path"], "wb") as out:
                        async for piece in resp.content.iter_chunked(65536):
                            out.write(piece)
                    return
                await resp.read()
                if resp.status != 429:
                    raise RuntimeError("%s: HTTP %d" % (f["url"], resp.status))
                r429 += 1

    async def worker(session):
        nonlocal ok
        for f in files:
            await fetch(session, f)
            ok += 1

    t0 = time.monotonic()
    headers = dexi_headers(manifest["account"], manifest["api_key"])
    async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=c)) as session:
        await asyncio.gather(*(worker(session) for _ in range(c)))
    print("files: %d downloaded in %.2f s, %d answered 429; peak RSS %.1f MiB"
          % (ok, time.monotonic() - t0, r429, status_mib("VmHWM")))


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        m = json.load(f)
    asyncio.run(main(m, float(sys.argv[2]) if len(sys.argv) > 2 else 15,
                     int(sys.argv[3]) if len(sys.argv) > 3 else 16))
