// The official MCP TypeScript SDK, v1 (@modelcontextprotocol/sdk), against mcp-authz and the
// example MCP server, as an MCP client application would use it:
//   1. authorization code with a Client ID Metadata Document (client_id = an https URL), PKCE,
//      resource, a loopback redirect, through StreamableHTTPClientTransport and auth();
//   2. step-up to mcp:admin on a 403 insufficient_scope;
//   3. client credentials with private_key_jwt (PrivateKeyJwtProvider).
// Run by e2e/interop_test.go, which plays the user in its browser; see lib/harness.mjs.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError, discoverAuthorizationServerMetadata } from '@modelcontextprotocol/sdk/client/auth.js';
import { PrivateKeyJwtProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { check, decodeJwt, env, log, run, sameSet, startCallbackServer, withTimeout } from './lib/harness.mjs';
import { CIMDProvider } from './lib/cimd-provider.mjs';

const issuer = env('ISSUER');
const mcpURL = env('MCP_URL');
const cimdClientID = env('CIMD_CLIENT_ID');
const machineClientID = env('MACHINE_CLIENT_ID');
const machineJWK = JSON.parse(env('MACHINE_PRIVATE_JWK'));

// finishRedirect waits for the browser to come back to the loopback receiver and checks the
// authorization response the way RFC 9207 and the state parameter want. SDK v1 does neither
// check of iss itself (auth() takes no iss), so the application does it here.
async function finishRedirect(cb, provider, label) {
  const q = await cb.next();
  check(`${label}: redirect has a code`, q.get('code'), Object.fromEntries(q));
  check(`${label}: state returned unchanged`, q.get('state') === provider.states.at(-1), { got: q.get('state'), want: provider.states.at(-1) });
  check(`${label}: iss equals the issuer (RFC 9207)`, q.get('iss') === issuer, { got: q.get('iss'), want: issuer });
  return q;
}

async function connect(provider) {
  const client = new Client({ name: 'mcp-authz-interop-v1', version: '0.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(mcpURL), { authProvider: provider });
  await client.connect(transport);
  return { client, transport };
}

async function whoami(client) {
  const res = await client.callTool({ name: 'whoami', arguments: {} });
  if (res.isError) throw new Error(`whoami failed: ${JSON.stringify(res.content)}`);
  return res.structuredContent;
}

async function authorizationCodeWithCIMD() {
  const meta = await discoverAuthorizationServerMetadata(issuer);
  check('metadata advertises CIMD', meta.client_id_metadata_document_supported === true, meta);
  check('metadata advertises iss on authorization responses', meta.authorization_response_iss_parameter_supported === true, meta);
  check('metadata lists S256', (meta.code_challenge_methods_supported ?? []).includes('S256'), meta.code_challenge_methods_supported);

  const cb = await startCallbackServer();
  const provider = new CIMDProvider(cb.redirectUrl, { clientID: cimdClientID, clientName: 'Interop MCP client (TypeScript SDK v1)' });

  // First connection: 401, discovery, and a redirect to the authorization endpoint.
  const first = new Client({ name: 'mcp-authz-interop-v1', version: '0.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(mcpURL), { authProvider: provider });
  let unauthorized = null;
  try {
    await first.connect(transport);
  } catch (e) {
    unauthorized = e;
  }
  check('connect without a token asks for authorization', unauthorized instanceof UnauthorizedError, String(unauthorized));
  const authURL = provider.authorizationURLs[0];
  const p = authURL?.searchParams ?? new URLSearchParams();
  check('authorization request: client_id is the metadata document URL', p.get('client_id') === cimdClientID, p.get('client_id'));
  check('authorization request: PKCE S256', p.get('code_challenge_method') === 'S256' && (p.get('code_challenge') ?? '').length >= 43, Object.fromEntries(p));
  check('authorization request: resource is the MCP server', p.get('resource') === mcpURL, p.get('resource'));
  check('authorization request: scope from the 401 challenge', p.get('scope') === 'mcp:tools', p.get('scope'));
  check('authorization request: loopback redirect', p.get('redirect_uri') === cb.redirectUrl, p.get('redirect_uri'));
  check('authorization request: goes to the issuer', authURL && authURL.href.startsWith(issuer + '/authorize'), authURL?.href);

  const q = await finishRedirect(cb, provider, 'authorization');
  await transport.finishAuth(q.get('code'));
  const tokens = provider.tokens();
  check('token response: bearer access token and refresh token', /^bearer$/i.test(tokens?.token_type) && tokens?.access_token && tokens?.refresh_token, { ...tokens, access_token: '…', refresh_token: tokens?.refresh_token ? '…' : undefined });
  const claims = decodeJwt(tokens.access_token);
  check('access token: aud is the MCP server, client_id the document URL', claims.aud === mcpURL && claims.client_id === cimdClientID && claims.iss === issuer, claims);
  await transport.close();

  // Second connection with the token.
  const { client, transport: t2 } = await connect(provider);
  const tools = (await client.listTools()).tools.map((t) => t.name);
  check('tools/list', sameSet(tools, ['whoami', 'admin_stats']), tools);
  const id = await whoami(client);
  check('whoami: the user, the CIMD client, mcp:tools', id.subject === 'u_alice' && id.client_id === cimdClientID && sameSet(id.scopes, ['mcp:tools']), id);

  // Step-up: admin_stats needs mcp:admin; the server answers 403 insufficient_scope.
  let stepUpError = null;
  let stats = null;
  let stepTransport = t2;
  try {
    stats = await client.callTool({ name: 'admin_stats', arguments: {} });
  } catch (e) {
    stepUpError = e;
  }
  if (!(stepUpError instanceof UnauthorizedError)) {
    // SDK v1 holds a refresh token, so auth() refreshes instead of re-authorizing; a refresh
    // cannot widen a grant (RFC 6749 §6), the retry gets the same 403 and the transport gives
    // up ("Server returned 403 after trying upscoping"). What an application can do: forget
    // the refresh token and try again on a new transport, which then re-authorizes with the
    // scope of the challenge.
    log(`SDK v1 step-up did not re-authorize by itself: ${stepUpError?.message ?? 'the call succeeded'}`);
    check('step-up, SDK alone: refreshed (cannot widen) and gave up with 403', stepUpError && /403/.test(stepUpError.message), stepUpError?.message ?? stats);
    await t2.close();
    provider.saveTokens({ ...provider.tokens(), refresh_token: undefined });
    const c3 = await connect(provider);
    stepTransport = c3.transport;
    stepUpError = null;
    try {
      stats = await c3.client.callTool({ name: 'admin_stats', arguments: {} });
    } catch (e) {
      stepUpError = e;
    }
  }
  check('step-up: 403 insufficient_scope leads to a new authorization', stepUpError instanceof UnauthorizedError, String(stepUpError));
  const stepURL = provider.authorizationURLs.at(-1);
  check('step-up request: scope is the challenge scope', provider.authorizationURLs.length === 2 && sameSet(stepURL.searchParams.get('scope')?.split(' '), ['mcp:tools', 'mcp:admin']), stepURL.searchParams.get('scope'));
  const q2 = await finishRedirect(cb, provider, 'step-up');
  await stepTransport.finishAuth(q2.get('code'));
  await stepTransport.close();
  const again = await connect(provider);
  stats = await again.client.callTool({ name: 'admin_stats', arguments: {} });
  check('admin_stats after step-up', !stats.isError && stats.structuredContent?.tool_calls >= 1, stats.structuredContent ?? stats.content);
  const id2 = await whoami(again.client);
  check('whoami after step-up: mcp:tools and mcp:admin', sameSet(id2.scopes, ['mcp:tools', 'mcp:admin']), id2);

  // Refresh: the SDK refreshes when the server answers 401 to an expired token; here the
  // application asks for it by dropping the access token but keeping the refresh token.
  const before = provider.tokens();
  provider.saveTokens({ ...before, access_token: 'expired-or-unknown' });
  const id3 = await whoami(again.client);
  const after = provider.tokens();
  check('refresh on 401: new access token and rotated refresh token', after.access_token !== 'expired-or-unknown' && after.refresh_token !== before.refresh_token && id3.subject === 'u_alice', { scopes: id3.scopes });
  check('refresh keeps the audience and scopes', sameSet(id3.scopes, ['mcp:tools', 'mcp:admin']) && decodeJwt(after.access_token).aud === mcpURL, id3);
  await again.transport.close();
  cb.close();
}

async function clientCredentialsWithPrivateKeyJWT() {
  const provider = new PrivateKeyJwtProvider({
    clientId: machineClientID,
    privateKey: machineJWK,
    algorithm: 'ES256',
    expectedIssuer: issuer,
  });
  const { client, transport } = await connect(provider);
  const id = await whoami(client);
  check('client credentials (private_key_jwt): whoami is the machine client', id.subject === machineClientID && id.client_id === machineClientID && sameSet(id.scopes, ['mcp:tools']), id);
  const tokens = provider.tokens();
  check('client credentials: no refresh token', tokens && !tokens.refresh_token, Object.keys(tokens ?? {}));
  check('client credentials: aud is the MCP server', decodeJwt(tokens.access_token).aud === mcpURL, decodeJwt(tokens.access_token));
  await transport.close();
}

run(async () => {
  await withTimeout(authorizationCodeWithCIMD(), 90000, 'the authorization code flow');
  await withTimeout(clientCredentialsWithPrivateKeyJWT(), 30000, 'the client credentials flow');
});
