// N GETs at concurrency C with undici; every body read in full as a string.
//   node flood.mjs URL N C      (BENCH_FRESH=1: a fresh connection for every request)
import { request } from 'undici';
import { useAgent, now } from './common.mjs';

const [url, n = 20000, c = 64] = [process.argv[2], Number(process.argv[3] ?? 20000), Number(process.argv[4] ?? 64)];
const agent = useAgent(c);
const opts = process.env.BENCH_FRESH === '1' ? { reset: true } : undefined;
let started = 0, done = 0, bad = 0, bytes = 0;
const t0 = now();
async function worker() {
  while (started < n) {
    started++;
    const res = await request(url, opts);
    const body = await res.body.text();
    if (res.statusCode !== 200) bad++;
    bytes += body.length;
    done++;
  }
}
await Promise.all(Array.from({ length: Math.min(c, n) }, worker));
const dt = now() - t0;
console.log(`flood: ${done} requests, ${bad} not 200, ${Math.round(done / dt)} requests/s, ${dt.toFixed(3)} s`);
await agent.close();
