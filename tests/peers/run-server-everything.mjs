#!/usr/bin/env node
// Launches the pinned @modelcontextprotocol/server-everything on a port, in `streamableHttp` mode
// (POST/GET/DELETE /mcp) or legacy `sse` mode (GET /sse + POST /message?sessionId=...), and prints
// `LISTENING <port>` on stdout once the port accepts TCP connections. server-everything's own output
// goes to stderr, so stdout carries only that line.
//
//   node tests/peers/run-server-everything.mjs --port N [--mode streamableHttp|sse]
//
// --port 0 picks a free port. SIGTERM/SIGINT are passed on to the server; this launcher exits with it.
// server-everything listens on all interfaces (it takes only PORT from the environment).

import { spawn } from 'node:child_process';
import net from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';

function usage(msg) {
  if (msg) console.error(`run-server-everything: ${msg}`);
  console.error('usage: run-server-everything.mjs --port N [--mode streamableHttp|sse]');
  process.exit(2);
}

let port;
let mode = 'streamableHttp';
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--port') port = Number(argv[++i]);
  else if (a === '--mode') mode = argv[++i];
  else if (a.startsWith('--port=')) port = Number(a.slice(7));
  else if (a.startsWith('--mode=')) mode = a.slice(7);
  else usage(`unknown argument: ${a}`);
}
if (!Number.isInteger(port) || port < 0 || port > 65535) usage('--port N (0..65535) is required');
if (mode === 'streamable' || mode === 'streamable-http') mode = 'streamableHttp';
if (!['streamableHttp', 'sse'].includes(mode)) usage(`unknown mode: ${mode}`);

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });

const accepting = (p) =>
  new Promise((resolve) => {
    const sock = net.connect({ port: p, host: '127.0.0.1' });
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
    sock.setTimeout(500, () => done(false));
  });

if (port === 0) port = await freePort();

const require = createRequire(import.meta.url);
const pkgJson = require.resolve('@modelcontextprotocol/server-everything/package.json');
const entry = path.join(path.dirname(pkgJson), 'dist', 'index.js');

const child = spawn(process.execPath, [entry, mode], {
  env: { ...process.env, PORT: String(port) },
  stdio: ['ignore', process.stderr, process.stderr],
});
let exited = false;
child.on('exit', (code, signal) => {
  exited = true;
  process.exit(code ?? (signal ? 0 : 1));
});
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.on(sig, () => {
    if (!exited) child.kill(sig);
  });
}
process.on('exit', () => {
  if (!exited) child.kill('SIGTERM');
});

// Bounded readiness poll: up to 15 s in 50 ms steps.
const deadline = Date.now() + 15_000;
while (!exited) {
  if (await accepting(port)) {
    process.stdout.write(`LISTENING ${port}\n`);
    break;
  }
  if (Date.now() > deadline) {
    console.error(`run-server-everything: port ${port} not accepting connections after 15 s`);
    child.kill('SIGTERM');
    process.exitCode = 1;
    break;
  }
  await new Promise((r) => setTimeout(r, 50));
}
