"""Shared bits of the Python peer: the limiter (written here, as a user of aiohttp would have
to: aiohttp has none), the Dexi auth headers, and this process's RSS."""

import asyncio
import hashlib


class RateLimiter:
    """At most `rate` acquisitions per `per` seconds, evenly spaced, first come first served.

    Each acquire() reserves the next free slot at once (so the order is the order of the calls)
    and sleeps until that slot's time; nothing polls."""

    def __init__(self, rate, per=1.0):
        self.interval = per / rate
        self.next = 0.0
        self.queued = 0

    async def acquire(self):
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(now, self.next)
        self.next = slot + self.interval
        if slot > now:
            self.queued += 1
            try:
                await asyncio.sleep(slot - now)
            finally:
                self.queued -= 1


def dexi_headers(account="acc-test", api_key="key-test"):
    return {"X-DexiIO-Account": account,
            "X-DexiIO-Access": hashlib.md5((account + api_key).encode()).hexdigest()}


def status_mib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0
