// Bottleneck in its Redis clustering mode (datastore "ioredis"): N of these processes share one
// limiter ID through one redis-server, as autolua's processes share one key through the store.
//   node limited_redis.mjs URL SECONDS RATE W REDIS_PORT ID     GETs for SECONDS, as limited.mjs
//   node limited_redis.mjs --latency M REDIS_PORT|local ID      M acquisitions one after the other
//                                                               with no limit (minTime 0), no HTTP
import Bottleneck from 'bottleneck';
import { request } from 'undici';
import { useAgent, dexiHeaders, now } from './common.mjs';

function limiterFor(port, id, minTime) {
  const opts = { id, minTime };
  if (port !== 'local') {
    // every job gets an expiration: Bottleneck's README asks for it, or a crashed client keeps
    // its running count in Redis for ever
    Object.assign(opts, { datastore: 'ioredis', clearDatastore: false,
                          clientOptions: { host: '127.0.0.1', port: Number(port) } });
  }
  const limiter = new Bottleneck(opts);
  limiter.on('error', (e) => { console.error(`bottleneck: ${e.message}`); process.exitCode = 1; });
  return limiter;
}

if (process.argv[2] === '--latency') {
  const m = Number(process.argv[3] ?? 2000), port = process.argv[4] ?? 'local', id = process.argv[5] ?? 'lat';
  const limiter = limiterFor(port, id, 0);
  await limiter.ready();
  const t0 = now();
  for (let i = 0; i < m; i++) await limiter.schedule({ expiration: 10_000 }, async () => i);
  const dt = now() - t0;
  console.log(`latency: ${m} acquisitions in ${dt.toFixed(3)} s, ${(dt / m * 1e6).toFixed(1)} us per acquisition`);
  await limiter.disconnect();
} else {
  const url = process.argv[2];
  const seconds = Number(process.argv[3] ?? 20), rate = Number(process.argv[4] ?? 75), w = Number(process.argv[5] ?? 8);
  const port = process.argv[6] ?? '6379', id = process.argv[7] ?? 'shared';
  const agent = useAgent(w);
  const limiter = limiterFor(port, id, 1000 / rate);
  await limiter.ready();
  const headers = dexiHeaders();
  const counts = {};
  const t0 = now(), end = t0 + seconds;
  async function worker() {
    while (now() < end) {
      const status = await limiter.schedule({ expiration: 10_000 }, async () => {
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
  await limiter.disconnect();
  await agent.close();
}
