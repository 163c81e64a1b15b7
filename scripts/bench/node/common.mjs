// Shared bits of the Node peer: one undici Agent as the global dispatcher, the Dexi auth
// headers, and the high-water mark of this process's RSS.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, setGlobalDispatcher } from 'undici';

export function useAgent(connections) {
  const agent = new Agent({ connections, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 });
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
