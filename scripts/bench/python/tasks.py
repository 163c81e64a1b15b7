"""N asyncio tasks parked on common.RateLimiter, then drained at N/2 a second: RSS while they
wait, and the time to drain.      python3 tasks.py N"""
import asyncio
import sys
import time

from common import RateLimiter, status_mib


async def main(n):
    rate = n / 2
    limiter = RateLimiter(rate)
    base = status_mib("VmRSS")
    started = finished = 0

    async def one():
        nonlocal started, finished
        started += 1
        await limiter.acquire()
        finished += 1

    t0 = time.monotonic()
    tasks = [asyncio.create_task(one()) for _ in range(n)]
    while started < n:
        await asyncio.sleep(0)
    queued, rss = limiter.queued, status_mib("VmRSS")
    t1 = time.monotonic()
    await asyncio.gather(*tasks)
    t2 = time.monotonic()
    print("tasks: %d spawned in %.2f s; %d parked at once, RSS %.1f MiB (%.1f before; %.0f bytes a task); "
          "drained at %.0f/s in %.2f s (ideal %.2f s); peak RSS %.1f MiB"
          % (n, t1 - t0, queued, rss, base, (rss - base) * 1048576 / n, rate, t2 - t1, queued / rate,
             status_mib("VmHWM")))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100000))
