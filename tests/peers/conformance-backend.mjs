#!/usr/bin/env node
// The project's own conformance backend: an MCP server on @modelcontextprotocol/sdk (McpServer +
// StreamableHTTPServerTransport, stateful sessions, resumable streams) exposing exactly the tools,
// resources, prompts and utilities that the official conformance suite's server scenarios call.
// Run it alone (`conformance server --url http://localhost:PORT/mcp`) or as the only backend of the
// gateway with names kept bare.
//
//   node tests/peers/conformance-backend.mjs --port N [--host 127.0.0.1] [--retry-ms 500] [--verbose]
//
// Prints `LISTENING <port>` on stdout once it accepts connections (port 0 picks a free port).

import { z } from 'zod';
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { completable } from '@modelcontextprotocol/sdk/server/completable.js';
import {
  CreateMessageResultSchema,
  ElicitResultSchema,
  ListToolsRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { serveStreamable } from './lib/streamable-host.mjs';

// A 1x1 red PNG and a minimal (empty) 8 kHz mono 16-bit WAV.
const PNG_1X1 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const WAV_EMPTY = Buffer.concat([
  Buffer.from('RIFF'), u32(36), Buffer.from('WAVEfmt '), u32(16), u16(1), u16(1), u32(8000), u32(16000),
  u16(2), u16(16), Buffer.from('data'), u32(0),
]).toString('base64');
function u32(n) {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
function u16(n) {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// SEP-1613: served verbatim in tools/list (the SDK would regenerate it from zod and drop keywords).
const JSON_SCHEMA_2020_12 = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: {
    address: {
      type: 'object',
      properties: { street: { type: 'string' }, city: { type: 'string' } },
    },
  },
  properties: {
    name: { type: 'string' },
    address: { $ref: '#/$defs/address' },
  },
  additionalProperties: false,
};
const RAW_INPUT_SCHEMAS = { json_schema_2020_12_tool: JSON_SCHEMA_2020_12 };

const COMPLETIONS = ['paris', 'park', 'party', 'test', 'testing', 'tested'];
const complete = (value) => {
  const v = String(value ?? '').toLowerCase();
  return COMPLETIONS.filter((c) => c.startsWith(v));
};

let cancellations = 0; // calls aborted by notifications/cancelled, across sessions

function createServer(ctx) {
  const mcp = new McpServer(
    { name: 'vmcp-conformance-backend', version: '1.0.0' },
    {
      // `tools` is left out on purpose: McpServer installs its tools/list handler eagerly for a declared
      // capability, before the wrapper below exists; registerTool() declares tools.listChanged itself.
      capabilities: {
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        logging: {},
        completions: {},
      },
    },
  );
  const server = mcp.server;

  // Serve RAW_INPUT_SCHEMAS verbatim: wrap the tools/list handler McpServer installs.
  const setRequestHandler = server.setRequestHandler.bind(server);
  server.setRequestHandler = (schema, handler) => {
    if (schema === ListToolsRequestSchema) {
      const inner = handler;
      handler = async (req, extra) => {
        const result = await inner(req, extra);
        for (const tool of result.tools) {
          if (RAW_INPUT_SCHEMAS[tool.name]) tool.inputSchema = structuredClone(RAW_INPUT_SCHEMAS[tool.name]);
        }
        return result;
      };
    }
    return setRequestHandler(schema, handler);
  };

  // Log notifications tied to the request (they travel on that request's POST stream), filtered by
  // the level the client set with logging/setLevel.
  const logTo = async (extra, level, data) => {
    if (server.isMessageIgnored(level, extra.sessionId)) return;
    await extra.sendNotification({
      method: 'notifications/message',
      params: { level, logger: 'conformance-backend', data },
    });
  };
  const text = (t) => ({ content: [{ type: 'text', text: t }] });

  // ---- tools ----
  mcp.registerTool('test_simple_text', { description: 'Returns simple text content', inputSchema: {} }, async () =>
    text('This is a simple text response for testing.'),
  );
  mcp.registerTool('test_image_content', { description: 'Returns image content (1x1 PNG)', inputSchema: {} }, async () => ({
    content: [{ type: 'image', data: PNG_1X1, mimeType: 'image/png' }],
  }));
  mcp.registerTool('test_audio_content', { description: 'Returns audio content (WAV)', inputSchema: {} }, async () => ({
    content: [{ type: 'audio', data: WAV_EMPTY, mimeType: 'audio/wav' }],
  }));
  mcp.registerTool('test_embedded_resource', { description: 'Returns an embedded resource', inputSchema: {} }, async () => ({
    content: [
      {
        type: 'resource',
        resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' },
      },
    ],
  }));
  mcp.registerTool(
    'test_multiple_content_types',
    { description: 'Returns text, image and resource content', inputSchema: {} },
    async () => ({
      content: [
        { type: 'text', text: 'Multiple content types test:' },
        { type: 'image', data: PNG_1X1, mimeType: 'image/png' },
        {
          type: 'resource',
          resource: {
            uri: 'test://mixed-content-resource',
            mimeType: 'application/json',
            text: JSON.stringify({ test: 'data', value: 123 }),
          },
        },
      ],
    }),
  );
  mcp.registerTool(
    'test_tool_with_logging',
    { description: 'Sends three info log notifications while it runs', inputSchema: {} },
    async (_args, extra) => {
      await logTo(extra, 'info', 'Tool execution started');
      await sleep(50);
      await logTo(extra, 'info', 'Tool processing data');
      await sleep(50);
      await logTo(extra, 'info', 'Tool execution completed');
      return text('Tool with logging executed successfully');
    },
  );
  mcp.registerTool(
    'test_tool_with_progress',
    { description: 'Reports progress 0, 50, 100 of 100 when given a progress token', inputSchema: {} },
    async (_args, extra) => {
      const token = extra._meta?.progressToken;
      for (const progress of [0, 50, 100]) {
        if (token !== undefined) {
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken: token, progress, total: 100, message: `Completed ${progress} of 100` },
          });
        }
        // Also wait after the last one: the SDK client runs notification handlers a microtask after
        // it settles a response, so a final progress event in the same read as the result is lost.
        await sleep(50);
      }
      return text(`Progress tool completed (token ${token === undefined ? 'none' : JSON.stringify(token)})`);
    },
  );
  mcp.registerTool('test_error_handling', { description: 'Always fails with isError: true', inputSchema: {} }, async () => {
    throw new Error('This tool intentionally returns an error for testing');
  });
  mcp.registerTool(
    'test_reconnection',
    {
      description:
        'Closes its POST SSE stream mid-call (SEP-1699); the result arrives after the client resumes with GET + Last-Event-ID',
      inputSchema: {},
    },
    async (_args, extra) => {
      // One id-bearing event first, so the stream is resumable even for a client that got no priming event.
      await extra.sendNotification({
        method: 'notifications/message',
        params: { level: 'info', logger: 'conformance-backend', data: 'test_reconnection: closing the stream' },
      });
      ctx.transport.closeSSEStream(extra.requestId);
      await sleep(100);
      return text('Reconnection test completed successfully: the result was delivered after the stream was closed.');
    },
  );
  mcp.registerTool(
    'test_sampling',
    { description: 'Asks the client for an LLM completion (sampling/createMessage)', inputSchema: { prompt: z.string() } },
    async ({ prompt }, extra) => {
      if (!server.getClientCapabilities()?.sampling) {
        return { isError: true, content: [{ type: 'text', text: 'Client does not support sampling' }] };
      }
      const r = await extra.sendRequest(
        {
          method: 'sampling/createMessage',
          params: { messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 },
        },
        CreateMessageResultSchema,
      );
      const reply = Array.isArray(r.content) ? r.content.find((c) => c.type === 'text')?.text : r.content?.text;
      return text(`LLM response: ${reply ?? JSON.stringify(r.content)}`);
    },
  );
  const elicit = async (extra, params) => {
    if (!server.getClientCapabilities()?.elicitation) {
      return { isError: true, content: [{ type: 'text', text: 'Client does not support elicitation' }] };
    }
    const r = await extra.sendRequest({ method: 'elicitation/create', params }, ElicitResultSchema);
    return r;
  };
  mcp.registerTool(
    'test_elicitation',
    { description: 'Asks the client for user input (elicitation/create)', inputSchema: { message: z.string() } },
    async ({ message }, extra) => {
      const r = await elicit(extra, {
        message,
        requestedSchema: {
          type: 'object',
          properties: {
            username: { type: 'string', description: "User's response" },
            email: { type: 'string', description: "User's email address" },
          },
          required: ['username', 'email'],
        },
      });
      if (r.isError) return r;
      return text(`User response: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`);
    },
  );
  mcp.registerTool(
    'test_elicitation_sep1034_defaults',
    { description: 'Elicitation whose schema has defaults for every primitive type (SEP-1034)', inputSchema: {} },
    async (_args, extra) => {
      const r = await elicit(extra, {
        message: 'Please review the fields (defaults provided)',
        requestedSchema: {
          type: 'object',
          properties: {
            name: { type: 'string', description: 'User name', default: 'John Doe' },
            age: { type: 'integer', description: 'User age', default: 30 },
            score: { type: 'number', description: 'User score', default: 95.5 },
            status: { type: 'string', description: 'User status', enum: ['active', 'inactive', 'pending'], default: 'active' },
            verified: { type: 'boolean', description: 'Verification status', default: true },
          },
          required: [],
        },
      });
      if (r.isError) return r;
      return text(`Elicitation completed: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`);
    },
  );
  mcp.registerTool(
    'test_elicitation_sep1330_enums',
    { description: 'Elicitation with all five enum schema variants (SEP-1330)', inputSchema: {} },
    async (_args, extra) => {
      const r = await elicit(extra, {
        message: 'Please pick options',
        requestedSchema: {
          type: 'object',
          properties: {
            untitledSingle: { type: 'string', description: 'Untitled single-select', enum: ['option1', 'option2', 'option3'] },
            titledSingle: {
              type: 'string',
              description: 'Titled single-select',
              oneOf: [
                { const: 'value1', title: 'First Option' },
                { const: 'value2', title: 'Second Option' },
                { const: 'value3', title: 'Third Option' },
              ],
            },
            legacyEnum: {
              type: 'string',
              description: 'Legacy titled enum',
              enum: ['opt1', 'opt2', 'opt3'],
              enumNames: ['Option One', 'Option Two', 'Option Three'],
            },
            untitledMulti: {
              type: 'array',
              description: 'Untitled multi-select',
              items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
            },
            titledMulti: {
              type: 'array',
              description: 'Titled multi-select',
              items: {
                anyOf: [
                  { const: 'value1', title: 'First Choice' },
                  { const: 'value2', title: 'Second Choice' },
                  { const: 'value3', title: 'Third Choice' },
                ],
              },
            },
          },
          required: [],
        },
      });
      if (r.isError) return r;
      return text(`Elicitation completed: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`);
    },
  );
  mcp.registerTool(
    'json_schema_2020_12_tool',
    {
      description: 'Tool with JSON Schema 2020-12 features ($schema, $defs, additionalProperties)',
      inputSchema: z
        .object({
          name: z.string().optional(),
          address: z.object({ street: z.string().optional(), city: z.string().optional() }).optional(),
        })
        .strict(),
    },
    async (args) => text(`json_schema_2020_12_tool called with ${JSON.stringify(args)}`),
  );

  // ---- for the gateway's own tests (not used by the conformance scenarios) ----
  // Runs until the client cancels it (notifications/cancelled), then counts the cancellation.
  // With a progressToken it first reports progress 0, so a test knows the call has reached it.
  mcp.registerTool('vmcp_wait_for_cancel', { description: 'Waits until cancelled (gateway tests)', inputSchema: {} }, async (_a, extra) => {
    const token = extra._meta?.progressToken;
    if (token !== undefined) {
      await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: 0 } });
    }
    await new Promise((resolve) => {
      if (extra.signal.aborted) return resolve();
      const t = setTimeout(resolve, 30_000);
      extra.signal.addEventListener('abort', () => {
        clearTimeout(t);
        cancellations += 1;
        resolve();
      });
    });
    return text('not cancelled');
  });
  mcp.registerTool('vmcp_cancellations', { description: 'How many calls were cancelled (gateway tests)', inputSchema: {} }, async () =>
    text(String(cancellations)),
  );

  // ---- resources ----
  mcp.registerResource(
    'static-text',
    'test://static-text',
    { description: 'A static text resource', mimeType: 'text/plain' },
    async (uri) => ({
      contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }],
    }),
  );
  mcp.registerResource(
    'static-binary',
    'test://static-binary',
    { description: 'A static binary resource (1x1 PNG)', mimeType: 'image/png' },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'image/png', blob: PNG_1X1 }] }),
  );
  mcp.registerResource(
    'template-data',
    new ResourceTemplate('test://template/{id}/data', { list: undefined, complete: { id: (v) => ['123', '456'].filter((x) => x.startsWith(v ?? '')) } }),
    { description: 'A resource template with an {id} parameter', mimeType: 'application/json' },
    async (uri, { id }) => ({
      contents: [
        {
          uri: uri.href,
          mimeType: 'application/json',
          text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
        },
      ],
    }),
  );
  mcp.registerResource(
    'watched-resource',
    'test://watched-resource',
    { description: 'A resource that can be subscribed to', mimeType: 'text/plain' },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'Watched resource content' }] }),
  );
  const subscriptions = new Set();
  server.setRequestHandler(SubscribeRequestSchema, async (req) => {
    const uri = req.params.uri;
    subscriptions.add(uri);
    // Announce one update shortly after subscribing (on the standalone GET stream), so a relay of
    // notifications/resources/updated can be observed.
    setTimeout(() => {
      if (subscriptions.has(uri)) server.sendResourceUpdated({ uri }).catch(() => {});
    }, 50).unref();
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, async (req) => {
    subscriptions.delete(req.params.uri);
    return {};
  });

  // ---- prompts ----
  mcp.registerPrompt('test_simple_prompt', { description: 'A prompt without arguments' }, async () => ({
    messages: [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }],
  }));
  mcp.registerPrompt(
    'test_prompt_with_arguments',
    {
      description: 'A prompt with two required arguments',
      argsSchema: {
        arg1: completable(z.string().describe('First test argument'), complete),
        arg2: completable(z.string().describe('Second test argument'), complete),
      },
    },
    async ({ arg1, arg2 }) => ({
      messages: [{ role: 'user', content: { type: 'text', text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` } }],
    }),
  );
  mcp.registerPrompt(
    'test_prompt_with_embedded_resource',
    { description: 'A prompt embedding a resource', argsSchema: { resourceUri: z.string().describe('URI of the resource to embed') } },
    async ({ resourceUri }) => ({
      messages: [
        {
          role: 'user',
          content: {
            type: 'resource',
            resource: { uri: resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' },
          },
        },
        { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
      ],
    }),
  );
  mcp.registerPrompt('test_prompt_with_image', { description: 'A prompt with image content' }, async () => ({
    messages: [
      { role: 'user', content: { type: 'image', data: PNG_1X1, mimeType: 'image/png' } },
      { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
    ],
  }));

  return mcp;
}

try {
  await serveStreamable({ name: 'conformance-backend', createServer, argv: process.argv.slice(2) });
} catch (e) {
  console.error(`conformance-backend: ${e.message}`);
  process.exit(2);
}
