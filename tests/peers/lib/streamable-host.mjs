// Shared HTTP plumbing for the project's own SDK-based MCP test backends (conformance-backend.mjs,
// clash-backend.mjs): one McpServer + StreamableHTTPServerTransport per session (Mcp-Session-Id),
// a bounded per-session event store so a client can resume a stream with Last-Event-ID, DNS-rebinding
// protection (Host/Origin allow-list of localhost/127.0.0.1/[::1] with our port), idle-session
// expiry, and the `--port N` / `LISTENING <port>` convention the tests rely on.
//
// Usage: await serveStreamable({ name, createServer: (ctx) => McpServer, argv: process.argv.slice(2) })

import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  LATEST_PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
  isInitializeRequest,
} from '@modelcontextprotocol/sdk/types.js';

export function parseArgs(argv, extra = {}) {
  const opts = {
    port: 0,
    host: '127.0.0.1',
    retryMs: 500,
    idleMs: 10 * 60_000,
    maxEvents: 1000,
    verbose: false,
    allowHosts: [],
    ...extra,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--port': opts.port = Number(val()); break;
      case '--host': opts.host = val(); break;
      case '--retry-ms': opts.retryMs = Number(val()); break;
      case '--idle-ms': opts.idleMs = Number(val()); break;
      case '--max-events': opts.maxEvents = Number(val()); break;
      case '--allow-host': opts.allowHosts.push(val().toLowerCase()); break;
      case '--verbose': opts.verbose = true; break;
      default:
        if (a.startsWith('--port=')) opts.port = Number(a.slice(7));
        else throw new Error(`unknown argument: ${a}`);
    }
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new Error('--port must be 0..65535');
  return opts;
}

// A bounded in-memory event store for one session. Event ids are `<streamId>::<seq>` with a per-store
// increasing sequence number, so replay is "same stream, larger seq". The SDK stores an empty `{}`
// message for every priming event; those are never replayed.
export class SessionEventStore {
  constructor(maxEvents = 1000) {
    this.maxEvents = maxEvents;
    this.seq = 0;
    this.events = []; // { id, streamId, seq, message }, oldest first
  }
  async storeEvent(streamId, message) {
    const seq = ++this.seq;
    const id = `${streamId}::${String(seq).padStart(10, '0')}`;
    this.events.push({ id, streamId, seq, message });
    if (this.events.length > this.maxEvents) this.events.splice(0, this.events.length - this.maxEvents);
    return id;
  }
  static split(eventId) {
    const at = typeof eventId === 'string' ? eventId.lastIndexOf('::') : -1;
    if (at <= 0) return undefined;
    const seq = Number(eventId.slice(at + 2));
    if (!Number.isInteger(seq)) return undefined;
    return { streamId: eventId.slice(0, at), seq };
  }
  async getStreamIdForEventId(eventId) {
    const parts = SessionEventStore.split(eventId);
    if (!parts || parts.seq > this.seq) return undefined;
    return parts.streamId;
  }
  async replayEventsAfter(lastEventId, { send }) {
    const parts = SessionEventStore.split(lastEventId);
    if (!parts) return '';
    for (const ev of this.events) {
      if (ev.streamId !== parts.streamId || ev.seq <= parts.seq) continue;
      if (!ev.message || Object.keys(ev.message).length === 0) continue; // priming event
      await send(ev.id, ev.message);
    }
    return parts.streamId;
  }
}

function jsonError(res, status, code, message, extraHeaders = {}) {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { 'Content-Type': 'application/json', ...extraHeaders });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) {
        reject(Object.assign(new Error('request body too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function listen(server, port, host) {
  return new Promise((resolve, reject) => {
    const onError = (e) => reject(e);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server.address().port);
    });
  });
}

export async function serveStreamable({ name, createServer, argv, extraOpts = {} }) {
  const opts = parseArgs(argv, extraOpts);
  const log = (...a) => {
    if (opts.verbose) console.error(`[${name}]`, ...a);
  };
  const sessions = new Map(); // id -> { transport, server, negotiated, lastActive, open }
  let port = 0;

  const loopbackHost = (hostname) => ['localhost', '127.0.0.1', '[::1]', ...opts.allowHosts].includes(hostname);
  // DNS-rebinding protection: Host must be a loopback name with our port (or no port at all, which
  // is what a Host of port 80 looks like); an Origin, when present, must be http(s)://<same>.
  const hostAllowed = (value) => {
    if (!value) return false;
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(value.toLowerCase());
    if (!m) return false;
    return loopbackHost(m[1]) && (m[2] === undefined || Number(m[2]) === port);
  };
  const originAllowed = (value) => {
    if (value === undefined) return true;
    let u;
    try {
      u = new URL(value);
    } catch {
      return false;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
    return hostAllowed(u.host);
  };

  async function handle(req, res) {
    const url = new URL(req.url, 'http://localhost');
    if (!hostAllowed(req.headers.host)) {
      log('rejected Host', req.headers.host);
      return jsonError(res, 403, -32000, `Forbidden: invalid Host header: ${req.headers.host ?? ''}`);
    }
    if (!originAllowed(req.headers.origin)) {
      log('rejected Origin', req.headers.origin);
      return jsonError(res, 403, -32000, `Forbidden: invalid Origin header: ${req.headers.origin}`);
    }
    if (url.pathname !== '/mcp') return jsonError(res, 404, -32000, 'Not found');
    if (!['GET', 'POST', 'DELETE'].includes(req.method)) {
      return jsonError(res, 405, -32000, 'Method not allowed', { Allow: 'GET, POST, DELETE' });
    }
    const sid = req.headers['mcp-session-id'];
    let body;
    if (req.method === 'POST') {
      let text;
      try {
        text = await readBody(req, 4 * 1024 * 1024);
      } catch (e) {
        return jsonError(res, e.status ?? 400, -32000, e.message);
      }
      try {
        body = JSON.parse(text);
      } catch {
        return jsonError(res, 400, -32700, 'Parse error');
      }
    }
    if (sid !== undefined) {
      const s = sessions.get(sid);
      if (!s) return jsonError(res, 404, -32001, 'Session not found');
      s.lastActive = Date.now();
      s.open++;
      res.on('close', () => {
        s.open--;
        s.lastActive = Date.now();
      });
      // The session's negotiated protocol version is authoritative for this backend: a request that
      // carries an older (still supported) MCP-Protocol-Version header is treated as the negotiated
      // one, so POST SSE streams get a priming event (id + retry) and stay resumable.
      const hdr = req.headers['mcp-protocol-version'];
      if (typeof hdr === 'string' && SUPPORTED_PROTOCOL_VERSIONS.includes(hdr) && hdr < s.negotiated) {
        req.headers['mcp-protocol-version'] = s.negotiated;
        // The SDK's Node adapter builds its Web Request from rawHeaders.
        for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
          if (req.rawHeaders[i].toLowerCase() === 'mcp-protocol-version') req.rawHeaders[i + 1] = s.negotiated;
        }
      }
      await s.transport.handleRequest(req, res, body);
      return;
    }
    if (req.method !== 'POST') return jsonError(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required');
    const msgs = Array.isArray(body) ? body : [body];
    const init = msgs.find((m) => isInitializeRequest(m));
    if (!init) return jsonError(res, 400, -32000, 'Bad Request: no valid session ID provided');
    const requested = init.params?.protocolVersion;
    const negotiated = SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION;
    const ctx = { sessionId: undefined, transport: undefined, opts };
    const server = createServer(ctx);
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      eventStore: new SessionEventStore(opts.maxEvents),
      retryInterval: opts.retryMs,
      onsessioninitialized: (id) => {
        ctx.sessionId = id;
        sessions.set(id, { transport, server, negotiated, lastActive: Date.now(), open: 0 });
        log('session', id, 'opened, protocol', negotiated);
      },
    });
    ctx.transport = transport;
    transport.onclose = () => {
      const id = transport.sessionId;
      if (id && sessions.get(id)?.transport === transport) {
        sessions.delete(id);
        log('session', id, 'closed');
      }
      server.close().catch(() => {});
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  }

  const onRequest = (req, res) => {
    handle(req, res).catch((e) => {
      log('error', e?.stack ?? e);
      jsonError(res, 500, -32603, 'Internal server error');
    });
  };

  const servers = [http.createServer(onRequest)];
  port = await listen(servers[0], opts.port, opts.host);
  if (opts.host === '127.0.0.1') {
    // "localhost" may resolve to ::1 first: serve the IPv6 loopback on the same port too (best effort).
    const v6 = http.createServer(onRequest);
    try {
      await listen(v6, port, '::1');
      servers.push(v6);
    } catch {
      /* no IPv6 loopback here */
    }
  }

  const sweep = setInterval(() => {
    const cutoff = Date.now() - opts.idleMs;
    for (const [id, s] of sessions) {
      if (s.open <= 0 && s.lastActive < cutoff) {
        log('session', id, 'expired');
        s.transport.close().catch(() => {});
      }
    }
  }, Math.min(60_000, Math.max(1000, opts.idleMs / 2)));
  sweep.unref();

  const shutdown = () => {
    clearInterval(sweep);
    for (const s of sessions.values()) s.transport.close().catch(() => {});
    for (const srv of servers) {
      srv.close();
      srv.closeAllConnections?.();
    }
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);

  process.stdout.write(`LISTENING ${port}\n`);
  return { port, sessions, servers, shutdown };
}
