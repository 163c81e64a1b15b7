// N promises parked on one limiter, then drained at N/2 a second: RSS while they wait, and the
// time to drain.      node tasks.mjs N [bottleneck|own] [CAP_SECONDS]
//
// bottleneck: a Bottleneck limiter with a reservoir of N/200 refilled every 10 ms (minTime
//   cannot go below one timer tick). Bottleneck releases one job at a time, each behind a
//   setTimeout(0) in its local datastore, so it drains a few hundred jobs a second whatever the
//   reservoir allows; past CAP_SECONDS (default 10) of draining the script stops waiting and
//   prints the drain time projected from the rate it reached, marked "(projected)".
// own: a first-come-first-served limiter written here (the one in ../python/common.py, in JS):
//   each acquire() reserves the next evenly spaced slot and awaits a timer until then.
import Bottleneck from 'bottleneck';
import { now, statusKiB } from './common.mjs';

const n = Number(process.argv[2] ?? 100000);
const kind = process.argv[3] ?? 'bottleneck';
const cap = Number(process.argv[4] ?? 10);
const rate = n / 2;

class RateLimiter {
  constructor(rate) { this.interval = 1 / rate; this.next = 0; this.queued = 0; }
  async acquire() {
    const t = now(), slot = Math.max(t, this.next);
    this.next = slot + this.interval;
    if (slot > t) {
      this.queued++;
      await new Promise((r) => setTimeout(r, (slot - t) * 1000));
      this.queued--;
    }
  }
}

const base = statusKiB('VmRSS') / 1024;
let finished = 0, parked, limiter;
const t0 = now();
const all = [];
if (kind === 'own') {
  limiter = new RateLimiter(rate);
  for (let i = 0; i < n; i++) all.push(limiter.acquire().then(() => { finished++; }));
  parked = limiter.queued;
} else {
  const tick = 10, batch = Math.max(1, Math.round(rate * tick / 1000));
  limiter = new Bottleneck({ reservoir: 0, reservoirRefreshAmount: batch, reservoirRefreshInterval: tick });
  for (let i = 0; i < n; i++) all.push(limiter.schedule(async () => { finished++; }));
  await new Promise((r) => setImmediate(r));
  const counts = limiter.counts();
  parked = counts.RECEIVED + counts.QUEUED + counts.RUNNING;
}
const rss = statusKiB('VmRSS') / 1024;
const t1 = now();
let capped = false;
await Promise.race([
  Promise.all(all),
  new Promise((r) => setTimeout(() => { capped = true; r(); }, cap * 1000).unref()),
]);
let drain = now() - t1;
if (capped && finished < n) drain = drain * n / Math.max(1, finished);
console.log(`tasks: ${n} spawned in ${(t1 - t0).toFixed(2)} s; ${parked} parked at once, RSS ${rss.toFixed(1)} MiB (${base.toFixed(1)} before; ${Math.round((rss - base) * 1048576 / n)} bytes a task); drained at ${rate}/s in ${drain.toFixed(2)} s${capped && finished < n ? ` (projected: ${finished} released in ${cap} s)` : ''} (ideal ${(n / rate).toFixed(2)} s); peak RSS ${(statusKiB('VmHWM') / 1024).toFixed(1)} MiB`);
process.exit(0);
