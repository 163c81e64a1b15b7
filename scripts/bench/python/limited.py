"""GETs of one Dexi run for SECONDS through common.RateLimiter at RATE a second, W workers;
the fake counts 200s and 429s on its side.
    python3 limited.py URL SECONDS RATE [W]"""
import asyncio
import collections
import json
import sys
import time

import aiohttp

from common import RateLimiter, dexi_headers


async def main(url, seconds, rate, workers):
    limiter = RateLimiter(rate)
    counts = collections.Counter()
    end = time.monotonic() + seconds

    async def worker(session):
        while time.monotonic() < end:
            await limiter.acquire()
            async with session.get(url) as resp:
                await resp.read()
                counts[resp.status] += 1

    t0 = time.monotonic()
    async with aiohttp.ClientSession(headers=dexi_headers(),
                                     connector=aiohttp.TCPConnector(limit=workers)) as session:
        await asyncio.gather(*(worker(session) for _ in range(workers)))
    dt = time.monotonic() - t0
    print("limited: %d answered 200 in %.2f s (%.2f/s), %d answered 429, statuses %s"
          % (counts[200], dt, counts[200] / dt, counts[429], json.dumps(counts)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]),
                     int(sys.argv[4]) if len(sys.argv) > 4 else 8))
