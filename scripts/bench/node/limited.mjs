// GETs of one Dexi run for SECONDS through a Bottleneck limiter of RATE a second (evenly
// spaced with minTime), W workers; the fake counts 200s and 429s on its side.
//   node limited.mjs URL SECONDS RATE [W]
import Bottleneck from 'bottleneck';
import { request } from 'undici';
import { useAgent, dexiHeaders, now } from './common.mjs';

const url = process.argv[2];
const seconds = Number(process.argv[3] ?? 20), rate = Number(process.argv[4] ?? 75), w = Number(process.argv[5] ?? 8);
const agent = useAgent(w);
const limiter = new Bottleneck({ minTime: 1000 / rate });
const headers = dexiHeaders();
const counts = {};
const t0 = now(), end = t0 + seconds;
async function worker() {
  while (now() < end) {
    const status = await limiter.schedule(async () => {
      const res = await request(url, { headers });
      await res.body.dump();
      return res.statusCode;
    });
    counts[status] = (counts[status] ?? 0) + 1;
  }
}
await Promise.all(Array.from({ length: w }, worker));
const dt = now() - t0;
const ok = counts[200] ?? 0;
console.log(`limited: ${ok} answered 200 in ${dt.toFixed(2)} s (${(ok / dt).toFixed(2)}/s), ${counts[429] ?? 0} answered 429, statuses ${JSON.stringify(counts)}`);
await agent.close();
