// Shared bits of the Node peer: one undici Agent as the global dispatcher, the Dexi auth
// headers, and the high-water mark of this process's RSS.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, setGlobalDispatcher } from 'undici';

// BENCH_CA=FILE trusts that certificate and BENCH_H2=1 allows HTTP/2 (the TLS jobs).
export function useAgent(connections) {
  const tls = {};
  if (process.env.BENCH_CA) tls.connect = { ca: readFileSync(process.env.BENCH_CA) };
  if (process.env.BENCH_H2 === '1') tls.allowH2 = true;
  const agent = new Agent({ connections, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000, ...tls });
  setGlobalDispatcher(agent);
  return agent;
}

export function dexiHeaders(account = 'acc-test', key = 'key-test') {
  return {
    'x-dexiio-account': account,
    'x-dexiio-access': createHash('md5').update(account + key).digest('hex'),
  };
}

export function statusKiB(field) {
  const m = readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${field}:\\s+(\\d+)`, 'm'));
  return m ? Number(m[1]) : 0;
}

export const now = () => performance.now() / 1000;
