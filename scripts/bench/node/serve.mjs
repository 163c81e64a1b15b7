// The Node peer of the serve job: http.createServer answering a small JSON body.
//   node serve.mjs PORT BODY_FILE
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';

const [port, file] = [Number(process.argv[2]), process.argv[3]];
const body = readFileSync(file);
createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
}).listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
