#!/usr/bin/env node
// An MCP backend (SDK, streamable HTTP) that acts as an OAuth resource server, for outgoing-auth tests:
// it checks the `Authorization: Bearer` of the HTTP request carrying each tool call against an issuer's
// keys (OIDC discovery + JWKS, with jose) and the audience it expects, so a test sees what the gateway
// sent it (the exchanged token, with the right audience) from the backend's side.
//
//   whoami {}        -> the verified token's claims as JSON text:
//                       {"iss","sub","aud","scope","act","client_id"}; or an isError result
//                       "unauthorized: <reason>" (no token, bad signature, wrong audience, expired...)
//   tokens-seen {}   -> {"distinct": N, "calls": M, "without_token": K} over every tool call so far
//   header {name}    -> the value of one request header of this call (null when absent)
//
//   node tests/peers/auth-backend.mjs --port N --issuer URL --audience AUD [--host 127.0.0.1] [--verbose]
//
// Prints `LISTENING <port>` on stdout when ready; serves POST/GET/DELETE /mcp with sessions and the
// same DNS-rebinding protection as the other backends (tests/peers/lib/streamable-host.mjs).

import { z } from 'zod';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { serveStreamable } from './lib/streamable-host.mjs';

const argv = process.argv.slice(2);
let issuer;
let audience;
const rest = [];
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--issuer') issuer = argv[++i];
  else if (a.startsWith('--issuer=')) issuer = a.slice(9);
  else if (a === '--audience') audience = argv[++i];
  else if (a.startsWith('--audience=')) audience = a.slice(11);
  else rest.push(a);
}
if (!issuer || !audience) {
  console.error('auth-backend: --issuer URL and --audience AUD are required');
  process.exit(2);
}

let jwks;
async function keys() {
  if (!jwks) {
    const res = await fetch(`${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`);
    if (!res.ok) throw new Error(`discovery answered HTTP ${res.status}`);
    const doc = await res.json();
    jwks = createRemoteJWKSet(new URL(doc.jwks_uri));
  }
  return jwks;
}

const seen = new Set();
const counts = { calls: 0, without_token: 0 };

function text(t, isError = false) {
  return { content: [{ type: 'text', text: t }], ...(isError ? { isError: true } : {}) };
}

function bearer(extra) {
  counts.calls++;
  const h = extra?.requestInfo?.headers?.authorization;
  const m = typeof h === 'string' ? /^Bearer\s+(\S+)$/i.exec(h) : null;
  if (!m) {
    counts.without_token++;
    return null;
  }
  seen.add(m[1]);
  return m[1];
}

await serveStreamable({
  name: 'auth-backend',
  argv: rest,
  createServer: () => {
    const mcp = new McpServer({ name: 'auth-backend', version: '1.0.0' });
    mcp.registerTool(
      'whoami',
      { description: 'The verified claims of the bearer token this call carried', inputSchema: {} },
      async (_args, extra) => {
        const token = bearer(extra);
        if (!token) return text('unauthorized: no bearer token', true);
        try {
          const { payload } = await jwtVerify(token, await keys(), { issuer, audience });
          const { iss, sub, aud, scope, act, client_id } = payload;
          return text(JSON.stringify({ iss, sub, aud, scope: scope ?? null, act: act ?? null, client_id: client_id ?? null }));
        } catch (e) {
          return text(`unauthorized: ${e.code || e.message}`, true);
        }
      },
    );
    mcp.registerTool(
      'tokens-seen',
      { description: 'How many distinct bearer tokens the tool calls carried', inputSchema: {} },
      async (_args, extra) => {
        bearer(extra);
        return text(JSON.stringify({ distinct: seen.size, ...counts }));
      },
    );
    mcp.registerTool(
      'header',
      { description: 'One request header of this call', inputSchema: { name: z.string() } },
      async ({ name }, extra) => {
        const v = extra?.requestInfo?.headers?.[name.toLowerCase()];
        return text(JSON.stringify(v ?? null));
      },
    );
    return mcp;
  },
});
