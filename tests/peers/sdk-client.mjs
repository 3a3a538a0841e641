#!/usr/bin/env node
// A scripted, real MCP client on @modelcontextprotocol/sdk for end-to-end tests of the gateway.
// It prints ONE JSON object on stdout with everything it observed (lists, results, notifications,
// server-to-client requests, errors) and exits 0 when the script ran to its end (failed steps are
// recorded in `errors` and in `checks`); it exits 1 with {"ok":false,"error":...} when it cannot run
// at all (bad arguments, connect failure, deadline).
//
//   node tests/peers/sdk-client.mjs --url URL [--transport streamable|sse] --script smoke|everything
//        [--prefix P] [--prompt-prefix P] [--header 'Name: value']... [--timeout-ms N] [--deadline-ms N]
//        [--terminate] [--elicit-action accept|decline|cancel]
//   smoke:      [--tool NAME [--args JSON]] [--resource URI] [--prompt NAME [--prompt-args JSON]]
//               [--calls JSON]  (an array of {"name":..., "arguments":{...}}: more tool calls, in order, in
//                               `calls` as {name, result} or {name, error}; checks.callsOk: all answered
//                               without isError)
//   everything: [--log-wait-ms N] (against server-everything, directly or behind the gateway)
//   loop:       --tool NAME --count N [--args JSON]  calls NAME N times in a row on one session, printing
//               `CALLED <i> ok|error` after each call (so a test can act mid-run); failures in
//               `loopErrors`, successes in `loopOk`, checks.sameSession: the session id never changed
//   listchanged: --tool ADDER --expect NAME   calls ADDER {name: <NAME without --prefix>}, waits for
//               notifications/tools/list_changed, lists again and calls NAME (against clash-backend.mjs)
//
// --prefix is put in front of tool names, --prompt-prefix (default: the same as --prefix) in front of
// prompt names; resource URIs are never prefixed. The client declares sampling, elicitation and roots
// and answers sampling/createMessage, elicitation/create and roots/list with canned answers.
// --terminate sends DELETE for the session at the end (the SDK client's close() alone does not).

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import {
  CallToolResultSchema,
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';

const t0 = Date.now();
const now = () => Date.now() - t0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function emit(obj, code) {
  process.stdout.write(JSON.stringify(obj) + '\n', () => process.exit(code));
}
function fail(error, extra = {}) {
  emit({ ok: false, error: String(error?.message ?? error), code: error?.code, ...extra }, 1);
}

function parseArgs(argv) {
  const o = {
    transport: 'streamable',
    prefix: '',
    promptPrefix: undefined,
    headers: {},
    timeoutMs: 30_000,
    deadlineMs: 120_000,
    terminate: false,
    elicitAction: 'accept',
    logWaitMs: 7_000,
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      v = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const val = () => {
      if (v !== undefined) return v;
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--url': o.url = val(); break;
      case '--transport': o.transport = val(); break;
      case '--script': o.script = val(); break;
      case '--prefix': o.prefix = val(); break;
      case '--prompt-prefix': o.promptPrefix = val(); break;
      case '--tool': o.tool = val(); break;
      case '--expect': o.expect = val(); break;
      case '--count': o.count = Number(val()); break;
      case '--args': o.args = JSON.parse(val()); break;
      case '--calls': {
        o.calls = JSON.parse(val());
        if (!Array.isArray(o.calls) || o.calls.some((c) => typeof c?.name !== 'string')) {
          throw new Error('--calls wants a JSON array of {"name": ..., "arguments": {...}}');
        }
        break;
      }
      case '--resource': o.resource = val(); break;
      case '--prompt': o.prompt = val(); break;
      case '--prompt-args': o.promptArgs = JSON.parse(val()); break;
      case '--timeout-ms': o.timeoutMs = Number(val()); break;
      case '--deadline-ms': o.deadlineMs = Number(val()); break;
      case '--log-wait-ms': o.logWaitMs = Number(val()); break;
      case '--elicit-action': o.elicitAction = val(); break;
      case '--terminate': o.terminate = true; break;
      case '--header': {
        const h = val();
        const c = h.indexOf(':');
        if (c <= 0) throw new Error(`--header wants 'Name: value', got ${h}`);
        o.headers[h.slice(0, c).trim()] = h.slice(c + 1).trim();
        break;
      }
      default:
        throw new Error(`unknown argument: ${argv[i]}`);
    }
  }
  if (!o.url) throw new Error('--url is required');
  if (!o.script) throw new Error('--script is required (smoke|everything)');
  if (!['streamable', 'sse'].includes(o.transport)) throw new Error('--transport must be streamable or sse');
  if (!['accept', 'decline', 'cancel'].includes(o.elicitAction)) throw new Error('--elicit-action must be accept|decline|cancel');
  if (o.promptPrefix === undefined) o.promptPrefix = o.prefix;
  return o;
}

// A canned answer for a form elicitation: every default, plus a plausible value for each required field.
function cannedValue(p = {}) {
  if (Array.isArray(p.enum) && p.enum.length) return p.enum[0];
  if (Array.isArray(p.oneOf) && p.oneOf.length) return p.oneOf[0].const;
  switch (p.type) {
    case 'string':
      if (p.format === 'email') return 'vmcp-test@example.com';
      if (p.format === 'uri') return 'https://example.com/vmcp-test';
      if (p.format === 'date') return '2000-01-01';
      if (p.format === 'date-time') return '2000-01-01T00:00:00Z';
      return 'vmcp-test'.padEnd(p.minLength ?? 0, 'x');
    case 'integer':
    case 'number':
      return p.minimum ?? (p.maximum !== undefined ? Math.min(1, p.maximum) : 1);
    case 'boolean':
      return true;
    case 'array': {
      const it = p.items ?? {};
      if (Array.isArray(it.enum) && it.enum.length) return [it.enum[0]];
      if (Array.isArray(it.anyOf) && it.anyOf.length) return [it.anyOf[0].const];
      return [];
    }
    default:
      return 'vmcp-test';
  }
}
function cannedElicitContent(schema) {
  const out = {};
  const required = new Set(schema?.required ?? []);
  for (const [k, p] of Object.entries(schema?.properties ?? {})) {
    if (p && 'default' in p) out[k] = p.default;
    else if (required.has(k)) out[k] = cannedValue(p);
  }
  return out;
}

const SAMPLING_TEXT = 'canned sampling answer from sdk-client';
const ROOTS = [{ uri: 'file:///tmp/vmcp-sdk-client', name: 'vmcp-sdk-client' }];

async function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    return fail(e);
  }
  const out = {
    ok: false,
    script: o.script,
    url: o.url,
    transport: o.transport,
    prefix: o.prefix,
    promptPrefix: o.promptPrefix,
    server: null,
    sessionId: null,
    lists: {},
    results: {},
    progress: {},
    notifications: [],
    serverRequests: [],
    errors: [],
    checks: {},
  };
  const deadline = setTimeout(() => fail(new Error(`deadline of ${o.deadlineMs} ms exceeded`), { partial: out }), o.deadlineMs);
  deadline.unref();

  const client = new Client(
    { name: 'vmcp-sdk-client', version: '1.0.0' },
    { capabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } } },
  );
  client.fallbackNotificationHandler = async (n) => {
    out.notifications.push({ at: now(), method: n.method, params: n.params });
  };
  client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
    out.serverRequests.push({ at: now(), method: req.method, params: req.params });
    return { role: 'assistant', content: { type: 'text', text: SAMPLING_TEXT }, model: 'vmcp-test-model', stopReason: 'endTurn' };
  });
  client.setRequestHandler(ElicitRequestSchema, async (req) => {
    out.serverRequests.push({ at: now(), method: req.method, params: req.params });
    if (o.elicitAction !== 'accept') return { action: o.elicitAction };
    return { action: 'accept', content: cannedElicitContent(req.params.requestedSchema) };
  });
  client.setRequestHandler(ListRootsRequestSchema, async (req) => {
    out.serverRequests.push({ at: now(), method: req.method, params: req.params });
    return { roots: ROOTS };
  });
  let closing = false;
  client.onerror = (e) => {
    // Transport-level trouble that is not an answer to a call (e.g. the GET stream failing); the
    // abort of the stream by our own close() is not trouble.
    if (closing) return;
    out.errors.push({ at: now(), step: 'transport', message: String(e?.message ?? e) });
  };

  const requestInit = { headers: o.headers };
  const transport =
    o.transport === 'sse'
      ? new SSEClientTransport(new URL(o.url), { requestInit })
      : new StreamableHTTPClientTransport(new URL(o.url), { requestInit });
  // Tap every incoming message before the SDK sees it (Protocol.connect chains an existing onmessage
  // first). The SDK runs notification handlers in a microtask but responses synchronously, so a
  // progress notification that arrives in the same read as its response is dropped by the SDK
  // ("unknown token"); `wireProgress` counts what actually arrived on the wire.
  const wireProgress = [];
  let negotiated = null;
  transport.onmessage = (m) => {
    if (m?.method === 'notifications/progress') wireProgress.push({ at: now(), ...m.params });
    else if (negotiated === null && m?.result?.protocolVersion && m?.result?.serverInfo) negotiated = m.result.protocolVersion;
  };
  try {
    await client.connect(transport, { timeout: o.timeoutMs });
  } catch (e) {
    clearTimeout(deadline);
    return fail(e, { step: 'connect' });
  }
  // (the legacy SSE transport keeps its session id only in the endpoint URL it was given)
  out.sessionId = transport.sessionId ?? transport._endpoint?.searchParams?.get('sessionId') ?? null;
  out.server = {
    info: client.getServerVersion(),
    protocolVersion: negotiated,
    capabilities: client.getServerCapabilities(),
    instructions: client.getInstructions() ?? null,
  };

  const reqOpts = { timeout: o.timeoutMs };
  const step = async (name, fn) => {
    try {
      const r = await fn();
      out.results[name] = r;
      return r;
    } catch (e) {
      out.errors.push({ at: now(), step: name, message: String(e?.message ?? e), code: e?.code });
      return undefined;
    }
  };
  const caps = out.server.capabilities ?? {};
  const listAll = async () => {
    if (caps.tools) {
      const r = await step('tools/list', () => client.listTools({}, reqOpts));
      out.lists.tools = r?.tools?.map((t) => t.name) ?? null;
    }
    if (caps.resources) {
      const r = await step('resources/list', () => client.listResources({}, reqOpts));
      out.lists.resources = r?.resources?.map((x) => x.uri) ?? null;
      const t = await step('resources/templates/list', () => client.listResourceTemplates({}, reqOpts));
      out.lists.resourceTemplates = t?.resourceTemplates?.map((x) => x.uriTemplate) ?? null;
    }
    if (caps.prompts) {
      const r = await step('prompts/list', () => client.listPrompts({}, reqOpts));
      out.lists.prompts = r?.prompts?.map((p) => p.name) ?? null;
    }
    // Keep the full list answers out of `results` (the names are in `lists`), except the tools list,
    // whose schemas tests may want to compare.
    delete out.results['resources/list'];
    delete out.results['resources/templates/list'];
    delete out.results['prompts/list'];
  };
  const textOf = (r) => (r?.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');

  if (o.script === 'smoke') {
    await listAll();
    if (o.tool) await step('tools/call', () => client.callTool({ name: o.tool, arguments: o.args ?? {} }, CallToolResultSchema, reqOpts));
    if (o.resource) await step('resources/read', () => client.readResource({ uri: o.resource }, reqOpts));
    if (o.prompt) await step('prompts/get', () => client.getPrompt({ name: o.prompt, arguments: o.promptArgs ?? {} }, reqOpts));
    if (o.calls) {
      out.calls = [];
      for (const c of o.calls) {
        try {
          const r = await client.callTool({ name: c.name, arguments: c.arguments ?? {} }, CallToolResultSchema, reqOpts);
          out.calls.push({ name: c.name, result: r });
        } catch (e) {
          out.calls.push({ name: c.name, error: { message: String(e?.message ?? e), code: e?.code } });
          out.errors.push({ at: now(), step: `tools/call ${c.name}`, message: String(e?.message ?? e), code: e?.code });
        }
      }
    }
    out.checks.listed = Boolean(out.lists.tools || out.lists.resources || out.lists.prompts);
    if (o.tool) out.checks.toolCalled = Boolean(out.results['tools/call'] && !out.results['tools/call'].isError);
    if (o.resource) out.checks.resourceRead = Boolean(out.results['resources/read']?.contents?.length);
    if (o.prompt) out.checks.promptGot = Boolean(out.results['prompts/get']?.messages?.length);
    if (o.calls) out.checks.callsOk = out.calls.every((c) => c.result && !c.result.isError);
  } else if (o.script === 'everything') {
    const T = (n) => `${o.prefix}${n}`;
    const P = (n) => `${o.promptPrefix}${n}`;
    await listAll();
    await step('ping', () => client.ping(reqOpts));

    const echoMsg = 'hello from vmcp sdk-client';
    const echo = await step('echo', () => client.callTool({ name: T('echo'), arguments: { message: echoMsg } }, CallToolResultSchema, reqOpts));
    const sum = await step('get-sum', () => client.callTool({ name: T('get-sum'), arguments: { a: 2, b: 3 } }, CallToolResultSchema, reqOpts));

    const staticUri =
      (out.lists.resources ?? []).find((u) => u.startsWith('demo://resource/static/document/')) ?? out.lists.resources?.[0];
    let read;
    if (staticUri) read = await step('resources/read', () => client.readResource({ uri: staticUri }, reqOpts));
    const tmplUri = 'demo://resource/dynamic/text/1';
    const readTmpl = await step('resources/read-template', () => client.readResource({ uri: tmplUri }, reqOpts));

    const simple = await step('prompts/get simple-prompt', () => client.getPrompt({ name: P('simple-prompt') }, reqOpts));
    const argsP = await step('prompts/get args-prompt', () =>
      client.getPrompt({ name: P('args-prompt'), arguments: { city: 'Paris', state: 'TX' } }, reqOpts),
    );
    const compl = await step('completion/complete prompt', () =>
      client.complete({ ref: { type: 'ref/prompt', name: P('completable-prompt') }, argument: { name: 'department', value: 'E' } }, reqOpts),
    );
    const complRes = await step('completion/complete resource', () =>
      client.complete(
        { ref: { type: 'ref/resource', uri: 'demo://resource/dynamic/text/{resourceId}' }, argument: { name: 'resourceId', value: '1' } },
        reqOpts,
      ),
    );

    const prog = [];
    out.progress[T('trigger-long-running-operation')] = prog;
    const wireBefore = wireProgress.length;
    const longOp = await step('trigger-long-running-operation', () =>
      client.callTool({ name: T('trigger-long-running-operation'), arguments: { duration: 1, steps: 3 } }, CallToolResultSchema, {
        ...reqOpts,
        onprogress: (p) => prog.push({ at: now(), ...p }),
      }),
    );

    const wire = wireProgress.slice(wireBefore);
    out.wireProgress = wire;
    await step('logging/setLevel', () => client.setLoggingLevel('debug', reqOpts));
    const logsBefore = out.notifications.filter((n) => n.method === 'notifications/message').length;
    await step('toggle-simulated-logging on', () => client.callTool({ name: T('toggle-simulated-logging'), arguments: {} }, CallToolResultSchema, reqOpts));
    const logDeadline = Date.now() + o.logWaitMs;
    const logCount = () =>
      out.notifications.filter((n) => n.method === 'notifications/message' && /-level message|level-message/.test(String(n.params?.data))).length;
    while (logCount() === 0 && Date.now() < logDeadline) await sleep(50);
    await step('toggle-simulated-logging off', () => client.callTool({ name: T('toggle-simulated-logging'), arguments: {} }, CallToolResultSchema, reqOpts));

    const sampling = await step('trigger-sampling-request', () =>
      client.callTool({ name: T('trigger-sampling-request'), arguments: { prompt: 'Say hello', maxTokens: 20 } }, CallToolResultSchema, reqOpts),
    );
    const elicitation = await step('trigger-elicitation-request', () =>
      client.callTool({ name: T('trigger-elicitation-request'), arguments: {} }, CallToolResultSchema, reqOpts),
    );

    if (staticUri && caps.resources?.subscribe) {
      await step('resources/subscribe', () => client.subscribeResource({ uri: staticUri }, reqOpts));
      await step('resources/unsubscribe', () => client.unsubscribeResource({ uri: staticUri }, reqOpts));
    }
    // Give late notifications (roots/list round trip at ~350 ms, list_changed) a moment to arrive.
    const settle = Date.now() + 1000;
    while (Date.now() < settle && !out.serverRequests.some((r) => r.method === 'roots/list')) await sleep(50);

    const notes = (m) => out.notifications.filter((n) => n.method === m);
    out.checks = {
      toolsListed: Array.isArray(out.lists.tools) && out.lists.tools.includes(T('echo')) && out.lists.tools.includes(T('get-sum')),
      echo: textOf(echo) === `Echo: ${echoMsg}`,
      getSum: /\b5\b/.test(textOf(sum)),
      resourceRead: Boolean(read?.contents?.length),
      templateRead: Boolean(readTmpl?.contents?.length),
      promptGot: Boolean(simple?.messages?.length) && Boolean(argsP?.messages?.length),
      completion: Array.isArray(compl?.completion?.values) && compl.completion.values.includes('Engineering'),
      resourceCompletion: Array.isArray(complRes?.completion?.values),
      // on the wire: all 3 steps, increasing (the SDK's own onprogress may miss the last, see above)
      progress: wire.length >= 3 && wire.every((p, i) => i === 0 || p.progress >= wire[i - 1].progress),
      sdkProgress: prog.length,
      longRunningResult: /completed/i.test(textOf(longOp)),
      logNotifications: logCount() > 0,
      sampling:
        out.serverRequests.some((r) => r.method === 'sampling/createMessage') && textOf(sampling).includes(SAMPLING_TEXT),
      elicitation: out.serverRequests.some((r) => r.method === 'elicitation/create') && /User provided/.test(textOf(elicitation)),
      // Racy by nature (sent on the standalone GET stream right after initialize): reported, not required.
      toolsListChanged: notes('notifications/tools/list_changed').length > 0,
      rootsRequested: out.serverRequests.some((r) => r.method === 'roots/list'),
    };
    out.logNotificationsBeforeToggle = logsBefore;
  } else if (o.script === 'loop') {
    if (!o.tool || !(o.count > 0)) {
      clearTimeout(deadline);
      return fail(new Error('--script loop needs --tool NAME and --count N'));
    }
    const sessionBefore = transport.sessionId;
    out.loopOk = 0;
    out.loopErrors = [];
    for (let i = 1; i <= o.count; i++) {
      let outcome = 'ok';
      try {
        const r = await client.callTool({ name: o.tool, arguments: o.args ?? {} }, CallToolResultSchema, reqOpts);
        if (r.isError) {
          outcome = 'error';
          out.loopErrors.push({ i, text: textOf(r) });
        } else {
          out.loopOk++;
          out.loopLastText = textOf(r);
        }
      } catch (e) {
        outcome = 'error';
        out.loopErrors.push({ i, error: String(e?.message ?? e) });
      }
      process.stdout.write(`CALLED ${i} ${outcome}\n`);
    }
    out.checks.sameSession = Boolean(sessionBefore) && transport.sessionId === sessionBefore;
  } else if (o.script === 'listchanged') {
    if (!o.tool || !o.expect) {
      clearTimeout(deadline);
      return fail(new Error('--script listchanged needs --tool ADDER and --expect NAME'));
    }
    await listAll();
    const before = out.lists.tools ?? [];
    // Resolved by the first tools/list_changed that arrives after the adder was called.
    let announced;
    const changed = new Promise((resolve) => {
      announced = resolve;
    });
    const baseHandler = client.fallbackNotificationHandler;
    let armed = false;
    client.fallbackNotificationHandler = async (n) => {
      await baseHandler(n);
      if (armed && n.method === 'notifications/tools/list_changed') announced(true);
    };
    armed = true;
    const bare = o.prefix && o.expect.startsWith(o.prefix) ? o.expect.slice(o.prefix.length) : o.expect;
    await step('add-tool', () => client.callTool({ name: o.tool, arguments: { name: bare } }, CallToolResultSchema, reqOpts));
    const timer = sleep(o.timeoutMs).then(() => false);
    out.checks.listChangedReceived = await Promise.race([changed, timer]);
    const after = await step('tools/list again', () => client.listTools({}, reqOpts));
    out.lists.toolsAfter = after?.tools?.map((t) => t.name) ?? null;
    out.checks.absentBefore = !before.includes(o.expect);
    out.checks.newToolListed = Boolean(out.lists.toolsAfter?.includes(o.expect));
    const called = await step('new tool', () => client.callTool({ name: o.expect, arguments: {} }, CallToolResultSchema, reqOpts));
    out.checks.newToolCalled = textOf(called).endsWith(`added ${bare}`);
  } else {
    clearTimeout(deadline);
    await client.close().catch(() => {});
    return fail(new Error(`unknown --script ${o.script} (smoke|everything|loop|listchanged)`));
  }

  if (o.terminate && typeof transport.terminateSession === 'function') {
    await step('terminate', () => transport.terminateSession().then(() => true));
  }
  closing = true;
  await client.close().catch(() => {});
  clearTimeout(deadline);
  const informational = ['toolsListChanged', 'rootsRequested', 'sdkProgress'];
  const required = Object.entries(out.checks).filter(([k]) => !informational.includes(k));
  out.ok = out.errors.filter((e) => e.step !== 'transport').length === 0 && required.every(([, v]) => v === true);
  emit(out, 0);
}

main().catch((e) => fail(e));
