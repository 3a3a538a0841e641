#!/usr/bin/env node
// A real OpenID provider for the auth tests: oidc-provider (certified OpenID Connect provider) with
// OIDC discovery, a JWKS, RFC 7662 introspection, the client_credentials grant, and an RFC 8693
// token-exchange grant registered on it. Access tokens are RS256 JWTs (iss, aud, exp, sub) signed with
// the provider's own keystore, so the gateway validates them against the provider's real discovery and
// JWKS.
//
//   node tests/peers/idp.mjs [--port 0]
//
// Prints `LISTENING <port>` on stdout when ready; the issuer is http://127.0.0.1:<port>.
//
// Clients (client_secret_basic):
//   vmcp-gateway  secret "gateway secret:/+&"  token exchange, client_credentials, introspection
//   alice, bob    secret "<name>-secret"       client_credentials: a user-ish token whose sub is the
//                                              client id (request it with resource=<audience>)
//   opaque-user   secret "opaque-user-secret"  client_credentials giving an opaque token (introspect it)
//
// The token-exchange grant validates the subject token (a JWT this provider signed), then issues a JWT
// access token for the requested `audience` with the subject's `sub` and `act: {sub: <client>}`.
//
// Test-only endpoints on the same server:
//   GET  /test/stats    {"exchanges","client_credentials","jwks","discovery","introspections","last_exchange"}
//   POST /test/config   JSON merged into the settings: exchange_delay_ms, audience_override (issue
//                       tokens for another audience), exchange_ttl, access_ttl, fail_exchange (an
//                       error_description: refuse every exchange with invalid_grant)
//   POST /test/rotate   publish the second key and sign with it from now on (key rotation)
//   POST /test/mint     {"claims":{...},"key":"current"|"next","header":{...}}: sign arbitrary claims
//                       with one of the provider's keys (tokens no grant would issue: missing sub, ...)
//   GET  /test/keys     the public JWKs of "current" and "next" (published or not)

import crypto from 'node:crypto';
import http from 'node:http';

import { createLocalJWKSet, importJWK, jwtVerify, SignJWT } from 'jose';
import Provider, { errors } from 'oidc-provider';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_TOKEN = 'urn:ietf:params:oauth:token-type:jwt';

const args = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (!a.startsWith('--')) {
    console.error(`idp: unexpected argument ${a}`);
    process.exit(2);
  }
  const eq = a.indexOf('=');
  if (eq > 0) args[a.slice(2, eq)] = a.slice(eq + 1);
  else args[a.slice(2)] = argv[++i];
}

function makeKey(kid) {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
}
function publicPart(jwk) {
  const { kty, n, e, kid, alg, use } = jwk;
  return { kty, n, e, kid, alg, use };
}

const keys = { current: makeKey('idp-key-1'), next: makeKey('idp-key-2') };
let published = [keys.current];  // the first one signs

const settings = {
  exchange_delay_ms: 0,
  audience_override: null,
  exchange_ttl: 600,
  access_ttl: 600,
  fail_exchange: null,
};
const stats = { exchanges: 0, client_credentials: 0, jwks: 0, discovery: 0, introspections: 0, last_exchange: null };

const clients = [
  {
    client_id: 'vmcp-gateway',
    client_secret: 'gateway secret:/+&',
    grant_types: [TOKEN_EXCHANGE, 'client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'mcp:tools',
  },
  ...['alice', 'bob', 'opaque-user'].map((name) => ({
    client_id: name,
    client_secret: `${name}-secret`,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'mcp:tools',
  })),
];

function makeProvider(issuer) {
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: published },
    cookies: { keys: ['vmcp-test-cookie-key'] },
    scopes: ['openid', 'mcp:tools'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource, client) => ({
          scope: 'mcp:tools',
          audience: resource,
          accessTokenTTL: settings.access_ttl,
          accessTokenFormat: client.clientId === 'opaque-user' ? 'opaque' : 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    // Introspection of an opaque client_credentials token reports the client as the subject; exchanged
    // tokens name the acting client (RFC 8693 section 4.1).
    extraTokenClaims: (ctx, token) => {
      if (token.kind === 'ClientCredentials') return { sub: token.clientId };
      if (token.gty === 'token_exchange') return { act: { sub: token.clientId } };
      return undefined;
    },
    ttl: {
      AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL || settings.access_ttl,
      ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL || settings.access_ttl,
      Grant: 3600,
      Interaction: 3600,
      Session: 3600,
      IdToken: 3600,
    },
  });

  provider.registerGrantType(
    TOKEN_EXCHANGE,
    async (ctx) => {
      const p = ctx.oidc.params;
      stats.exchanges++;
      const auth = ctx.get('authorization');
      stats.last_exchange = {
        client: ctx.oidc.client.clientId,
        client_auth: auth ? auth.split(' ')[0] : 'none',
        subject_token_type: p.subject_token_type,
        requested_token_type: p.requested_token_type,
        audience: p.audience,
        scope: p.scope,
        resource: p.resource,
      };
      if (settings.exchange_delay_ms) await new Promise((r) => setTimeout(r, settings.exchange_delay_ms));
      if (settings.fail_exchange) throw new errors.InvalidGrant(settings.fail_exchange);
      if (p.requested_token_type !== undefined && p.requested_token_type !== ACCESS_TOKEN) {
        throw new errors.InvalidRequest('requested_token_type must be urn:ietf:params:oauth:token-type:access_token');
      }
      if (p.subject_token_type !== ACCESS_TOKEN && p.subject_token_type !== JWT_TOKEN) {
        throw new errors.InvalidRequest('unsupported subject_token_type');
      }
      if (!p.subject_token) throw new errors.InvalidRequest('subject_token is missing');
      let subject;
      try {
        ({ payload: subject } = await jwtVerify(p.subject_token, createLocalJWKSet({ keys: published.map(publicPart) }), {
          issuer,
        }));
      } catch (e) {
        throw new errors.InvalidGrant(`subject_token is not valid (${e.code || e.message})`);
      }
      if (!subject.sub) throw new errors.InvalidGrant('subject_token has no sub');
      const audience = settings.audience_override || p.audience;
      if (!audience) throw new errors.InvalidTarget('audience is required');
      const resourceServer = new provider.ResourceServer(audience, {
        audience,
        scope: 'mcp:tools',
        accessTokenFormat: 'jwt',
        accessTokenTTL: settings.exchange_ttl,
        jwt: { sign: { alg: 'RS256' } },
      });
      const token = new provider.AccessToken({
        accountId: subject.sub,
        client: ctx.oidc.client,
        scope: p.scope || undefined,
        gty: 'token_exchange',
        expiresIn: settings.exchange_ttl,
        resourceServer,
      });
      const value = await token.save();
      ctx.body = {
        access_token: value,
        issued_token_type: ACCESS_TOKEN,
        token_type: 'Bearer',
        expires_in: token.expiration,
        ...(token.scope ? { scope: token.scope } : {}),
      };
    },
    ['subject_token', 'subject_token_type', 'requested_token_type', 'audience', 'scope', 'resource', 'actor_token', 'actor_token_type'],
  );

  provider.on('grant.success', (ctx) => {
    if (ctx.oidc.params.grant_type === 'client_credentials') stats.client_credentials++;
  });
  provider.on('introspection.error', () => {});
  provider.on('server_error', (ctx, err) => console.error('idp: server error', err));
  return provider;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

let provider;
let issuer;
let callback;

async function testEndpoint(req, res, path) {
  if (path === '/test/stats' && req.method === 'GET') return sendJson(res, 200, stats);
  if (path === '/test/keys' && req.method === 'GET') {
    return sendJson(res, 200, { current: publicPart(keys.current), next: publicPart(keys.next) });
  }
  if (req.method !== 'POST') return sendJson(res, 405, { error: 'method not allowed' });
  const text = await readBody(req);
  const body = text ? JSON.parse(text) : {};
  if (path === '/test/config') {
    Object.assign(settings, body);
    return sendJson(res, 200, settings);
  }
  if (path === '/test/rotate') {
    published = [keys.next, keys.current];
    provider = makeProvider(issuer);
    callback = provider.callback();
    return sendJson(res, 200, { kids: published.map((k) => k.kid) });
  }
  if (path === '/test/mint') {
    const jwk = keys[body.key || 'current'];
    const key = await importJWK(jwk, 'RS256');
    const token = await new SignJWT(body.claims || {})
      .setProtectedHeader({ alg: 'RS256', kid: jwk.kid, typ: 'at+jwt', ...(body.header || {}) })
      .sign(key);
    return sendJson(res, 200, { token });
  }
  return sendJson(res, 404, { error: 'no such test endpoint' });
}

const server = http.createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  if (path.startsWith('/test/')) {
    testEndpoint(req, res, path).catch((e) => sendJson(res, 500, { error: String(e) }));
    return;
  }
  if (path === '/jwks') stats.jwks++;
  if (path === '/.well-known/openid-configuration') stats.discovery++;
  if (path === '/token/introspection') stats.introspections++;
  callback(req, res);
});

server.listen(Number(args.port || 0), '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  provider = makeProvider(issuer);
  callback = provider.callback();
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
