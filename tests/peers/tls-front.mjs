#!/usr/bin/env node
// A TLS-terminating front (as an ingress or a remote server's load balancer would be) for an MCP server
// that only speaks plain HTTP: accepts TLS on --port with the given certificate and key, and pipes each
// connection's bytes to --target host:port. Used to give the demo and the tests a real HTTPS MCP backend
// whose certificate comes from a private CA (the gateway's direct mode with a CA bundle).
//
//   node tests/peers/tls-front.mjs --port N --target 127.0.0.1:M --cert server.crt --key server.key
//
// Prints `LISTENING <port>` on stdout when ready (--port 0 picks a free port).

import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

const args = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (!a.startsWith('--')) {
    console.error(`tls-front: unexpected argument ${a}`);
    process.exit(2);
  }
  const eq = a.indexOf('=');
  if (eq > 0) args[a.slice(2, eq)] = a.slice(eq + 1);
  else args[a.slice(2)] = argv[++i];
}
for (const k of ['port', 'target', 'cert', 'key']) {
  if (args[k] === undefined) {
    console.error(`tls-front: --${k} is required (usage: --port N --target HOST:PORT --cert FILE --key FILE)`);
    process.exit(2);
  }
}
const colon = args.target.lastIndexOf(':');
const targetHost = args.target.slice(0, colon);
const targetPort = Number(args.target.slice(colon + 1));

const server = tls.createServer({ cert: fs.readFileSync(args.cert), key: fs.readFileSync(args.key), minVersion: 'TLSv1.2' }, (client) => {
  const upstream = net.connect({ host: targetHost, port: targetPort });
  client.pipe(upstream).pipe(client);
  const end = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', end);
  upstream.on('error', end);
  client.on('close', end);
  upstream.on('close', end);
});
server.on('tlsClientError', () => {}); // a client that rejects our certificate is not our error
server.listen(Number(args.port), '127.0.0.1', () => process.stdout.write(`LISTENING ${server.address().port}\n`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
