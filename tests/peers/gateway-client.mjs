#!/usr/bin/env node
// Puts the gateway in front of an MCP server and acts as a client through it, so that the official
// conformance suite's *client* scenarios test the gateway's backend side:
//
//   conformance client --scenario sse-retry --command "node gateway-client.mjs --vmcp PATH --tool NAME"
//
// The suite starts its scenario server and runs the command with the server's URL as the last argument.
// This starts `vmcp serve` with that URL as its only backend (names kept bare), waits for it, connects an
// SDK client to the gateway, lists tools and calls --tool, then stops the gateway (SIGTERM). Prints one
// JSON object (also written to --out FILE: the suite does not relay the command's output); exits 0 when
// the call was answered without an error.

import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const argv = process.argv.slice(2);
let vmcp;
let tool;
let outFile;
for (let i = 0; i < argv.length - 1; i++) {
  if (argv[i] === '--vmcp') vmcp = argv[++i];
  else if (argv[i] === '--tool') tool = argv[++i];
  else if (argv[i] === '--out') outFile = argv[++i];
}
const url = argv[argv.length - 1];
if (!vmcp || !tool || !url || url.startsWith('--')) {
  console.log(JSON.stringify({ ok: false, error: 'usage: gateway-client.mjs --vmcp PATH --tool NAME URL' }));
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'vmcp-wrap-'));
const config = join(dir, 'config.yaml');
writeFileSync(
  config,
  [
    'name: conformance-wrap',
    'groupRef: conformance',
    'backends:',
    '  - name: backend',
    `    url: ${url}`,
    '    transport: streamable-http',
    'incomingAuth:',
    '  type: anonymous',
    'outgoingAuth:',
    '  source: inline',
    'aggregation:',
    '  conflictResolution: priority',
    '  conflictResolutionConfig:',
    '    priorityOrder: [backend]',
    '',
  ].join('\n'),
);

const gateway = spawn(vmcp, ['serve', `--config=${config}`, '--port=0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const out = { ok: false, url };
const deadline = setTimeout(() => finish(new Error('deadline of 60000 ms exceeded')), 60_000);

function finish(error) {
  clearTimeout(deadline);
  if (error) out.error = String(error?.message ?? error);
  gateway.kill('SIGTERM');
  const done = () => {
    console.log(JSON.stringify(out));
    if (outFile) writeFileSync(outFile, JSON.stringify(out));
    process.exit(out.ok ? 0 : 1);
  };
  if (gateway.exitCode !== null) done();
  else gateway.once('exit', done);
}

const gatewayUrl = await new Promise((resolve, reject) => {
  let buffered = '';
  gateway.stdout.on('data', (chunk) => {
    buffered += chunk.toString();
    const m = buffered.match(/serving "[^"]*" at (http:\/\/\S+)/);
    if (m) resolve(m[1]);
  });
  gateway.once('exit', (code) => reject(new Error(`vmcp exited ${code} before serving`)));
}).catch((e) => finish(e));

if (gatewayUrl) {
  try {
    const client = new Client({ name: 'gateway-client', version: '1.0.0' }, { capabilities: {} });
    await client.connect(new StreamableHTTPClientTransport(new URL(gatewayUrl)));
    const listed = await client.listTools();
    out.tools = listed.tools.map((t) => t.name);
    const result = await client.callTool({ name: tool, arguments: {} });
    out.result = result;
    out.ok = !result.isError;
    await client.close();
    finish();
  } catch (e) {
    finish(e);
  }
}
