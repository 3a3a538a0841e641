#!/usr/bin/env node
// A second small MCP backend (SDK, streamable HTTP) whose names clash with server-everything's, for
// conflict-resolution tests: tools `echo` and `get-sum` (same names and argument shapes as
// server-everything's), a unique tool `clash-only`, the prompt `simple-prompt` (also a
// server-everything prompt name) and one resource `clash://info`. Every answer starts with the
// backend's label ("clash" unless --label says otherwise), so a test can tell which backend answered:
//   echo {message:"hi"}   -> "clash: echo: hi"            (server-everything: "Echo: hi")
//   get-sum {a:2,b:3}     -> "clash: get-sum: 5"          (server-everything: "The sum of 2 and 3 is 5.")
//   clash-only {}         -> "clash: clash-only"
//   prompt simple-prompt  -> user message "clash: simple-prompt"
//   resources/read clash://info -> "clash: resource clash://info"
//   request-headers {}    -> the W3C trace headers the call's HTTP request carried, as JSON text:
//                            {"traceparent": ..., "tracestate": ...} (null when absent)
//   sleep {ms:N}          -> prints `CALLED <N>` on stdout when the call arrives, answers "clash: slept N"
//                            after N ms (for graceful-stop tests: the test knows the call is in flight)
//   add-tool {name:"x"}   -> registers a tool `x` (answering "clash: added x") in this session and so
//                            sends notifications/tools/list_changed; "clash: add-tool: x"
//   expire-sessions {}    -> right after answering, forgets every session (as a server whose sessions
//                            time out does: their next request gets 404) and prints `EXPIRED <count>`
//
//   node tests/peers/clash-backend.mjs --port N [--label NAME] [--host 127.0.0.1] [--verbose]
//
// Prints `LISTENING <port>` on stdout when ready; serves POST/GET/DELETE /mcp with sessions and the
// same DNS-rebinding protection as conformance-backend.mjs.

import { z } from 'zod';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { serveStreamable } from './lib/streamable-host.mjs';

const argv = process.argv.slice(2);
let label = 'clash';
const rest = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--label') label = argv[++i];
  else if (argv[i].startsWith('--label=')) label = argv[i].slice(8);
  else rest.push(argv[i]);
}
if (!label) {
  console.error('clash-backend: --label needs a value');
  process.exit(2);
}

let host;  // what serveStreamable returned: its session table

function createServer() {
  const mcp = new McpServer({ name: `vmcp-${label}-backend`, version: '1.0.0' }, { capabilities: { logging: {} } });
  const text = (t) => ({ content: [{ type: 'text', text: `${label}: ${t}` }] });

  mcp.registerTool(
    'echo',
    { description: `Echoes back the input (${label} backend)`, inputSchema: { message: z.string().describe('Message to echo') } },
    async ({ message }) => text(`echo: ${message}`),
  );
  mcp.registerTool(
    'get-sum',
    {
      description: `Returns the sum of two numbers (${label} backend)`,
      inputSchema: { a: z.number().describe('First number'), b: z.number().describe('Second number') },
    },
    async ({ a, b }) => text(`get-sum: ${a + b}`),
  );
  mcp.registerTool(
    'clash-only',
    { description: `A tool only the ${label} backend has`, inputSchema: { note: z.string().optional() } },
    async ({ note }) => text(note === undefined ? 'clash-only' : `clash-only: ${note}`),
  );
  mcp.registerTool(
    'sleep',
    { description: `Answers after ms milliseconds (${label} backend)`, inputSchema: { ms: z.number().int().min(0).max(60000) } },
    async ({ ms }) => {
      process.stdout.write(`CALLED ${ms}\n`);
      await new Promise((r) => setTimeout(r, ms));
      return text(`slept ${ms}`);
    },
  );
  mcp.registerTool(
    'request-headers',
    { description: `The trace headers of this call's request (${label} backend)`, inputSchema: {} },
    async (_args, extra) => {
      const h = extra?.requestInfo?.headers ?? {};
      return { content: [{ type: 'text', text: JSON.stringify({ traceparent: h.traceparent ?? null, tracestate: h.tracestate ?? null }) }] };
    },
  );
  mcp.registerTool(
    'add-tool',
    { description: `Adds a tool to this session (${label} backend): announced with tools/list_changed`, inputSchema: { name: z.string() } },
    async ({ name }) => {
      // Registering on a connected server sends notifications/tools/list_changed (on the GET stream).
      mcp.registerTool(name, { description: `Added at run time (${label} backend)`, inputSchema: {} }, async () => text(`added ${name}`));
      return text(`add-tool: ${name}`);
    },
  );
  mcp.registerTool(
    'expire-sessions',
    { description: `Forgets every session once this call is answered (${label} backend)`, inputSchema: {} },
    async () => {
      setTimeout(() => {
        const count = host?.sessions?.size ?? 0;
        for (const [id, s] of host?.sessions ?? []) {
          host.sessions.delete(id);
          s.transport.close().catch(() => {});
        }
        process.stdout.write(`EXPIRED ${count}\n`);
      }, 20);
      return text('expire-sessions');
    },
  );
  mcp.registerPrompt('simple-prompt', { description: `A prompt without arguments (${label} backend)` }, async () => ({
    messages: [{ role: 'user', content: { type: 'text', text: `${label}: simple-prompt` } }],
  }));
  mcp.registerResource(
    'clash-info',
    'clash://info',
    { description: `Which backend this is (${label})`, mimeType: 'text/plain' },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/plain', text: `${label}: resource ${uri.href}` }] }),
  );
  return mcp;
}

try {
  host = await serveStreamable({ name: `${label}-backend`, createServer, argv: rest });
} catch (e) {
  console.error(`clash-backend: ${e.message}`);
  process.exit(2);
}
