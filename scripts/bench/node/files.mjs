// Every file of a manifest, C at once through a Bottleneck limiter of RATE a second, each
// streamed to its path with undici + stream.pipeline; a 429 is retried through the limiter.
//   node files.mjs MANIFEST RATE C
import Bottleneck from 'bottleneck';
import { createWriteStream, readFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { request } from 'undici';
import { useAgent, dexiHeaders, now, statusKiB } from './common.mjs';

const manifest = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const rate = Number(process.argv[3] ?? 15), c = Number(process.argv[4] ?? 16);
const agent = useAgent(c);
const limiter = new Bottleneck({ minTime: 1000 / rate });
const headers = dexiHeaders(manifest.account, manifest.api_key);
let next = 0, ok = 0, r429 = 0, bytes = 0;
const t0 = now();
async function fetchOne(f) {
  for (;;) {
    const res = await limiter.schedule(() => request(f.url, { headers }));
    if (res.statusCode === 200) {
      await pipeline(res.body, createWriteStream(f.path));
      return;
    }
    await res.body.dump();
    if (res.statusCode !== 429) throw new Error(`${f.url}: HTTP ${res.statusCode}`);
    r429++;
  }
}
async function worker() {
  while (next < manifest.files.length) {
    const f = manifest.files[next++];
    await fetchOne(f);
    ok++;
  }
}
await Promise.all(Array.from({ length: c }, worker));
const dt = now() - t0;
console.log(`files: ${ok} downloaded in ${dt.toFixed(2)} s, ${r429} answered 429; peak RSS ${(statusKiB('VmHWM') / 1024).toFixed(1)} MiB`);
await agent.close();
