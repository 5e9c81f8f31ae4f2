// The official MCP TypeScript SDK, v2 client package (@modelcontextprotocol/client), against
// mcp-authz and the example MCP server, as an MCP client application would use it:
//   1. authorization code with a Client ID Metadata Document (client_id = an https URL), PKCE,
//      resource, a loopback redirect, through StreamableHTTPClientTransport; the SDK itself
//      checks iss (RFC 9207) when the callback is handed to finishAuth, and refuses a wrong or
//      missing one before it redeems the code;
//   2. step-up to mcp:admin on a 403 insufficient_scope (the SDK re-authorizes by itself);
//   3. refresh when the MCP server answers 401;
//   4. client credentials with private_key_jwt (PrivateKeyJwtProvider).
// Run by e2e/interop_test.go, which plays the user in its browser; see lib/harness.mjs.

import {
  Client,
  IssuerMismatchError,
  PrivateKeyJwtProvider,
  StreamableHTTPClientTransport,
  UnauthorizedError,
  discoverAuthorizationServerMetadata,
} from '@modelcontextprotocol/client';
import { check, decodeJwt, env, log, run, sameSet, startCallbackServer, withTimeout } from './lib/harness.mjs';
import { CIMDProvider } from './lib/cimd-provider.mjs';

const issuer = env('ISSUER');
const mcpURL = env('MCP_URL');
const cimdClientID = env('CIMD_CLIENT_ID');
const machineClientID = env('MACHINE_CLIENT_ID');
const machineJWK = JSON.parse(env('MACHINE_PRIVATE_JWK'));

function newClient() {
  return new Client({ name: 'mcp-authz-interop-v2', version: '0.0.0' });
}

async function connect(provider) {
  const client = newClient();
  const transport = new StreamableHTTPClientTransport(new URL(mcpURL), { authProvider: provider });
  await client.connect(transport);
  return { client, transport };
}

async function whoami(client) {
  const res = await client.callTool({ name: 'whoami', arguments: {} });
  if (res.isError) throw new Error(`whoami failed: ${JSON.stringify(res.content)}`);
  return res.structuredContent;
}

// callback waits for the redirect and checks state (the application's job; iss is the SDK's).
async function callback(cb, provider, label) {
  const q = await cb.next();
  check(`${label}: redirect has a code and iss`, q.get('code') && q.get('iss'), Object.fromEntries(q));
  check(`${label}: state returned unchanged`, q.get('state') === provider.states.at(-1), { got: q.get('state'), want: provider.states.at(-1) });
  return q;
}

// rejects reports whether p rejects with an error of class cls.
async function rejects(p, cls) {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return e instanceof cls ? true : String(e);
  }
}

async function authorizationCodeWithCIMD() {
  const meta = await discoverAuthorizationServerMetadata(issuer);
  check('metadata: issuer echoes the URL it was fetched from', meta.issuer === issuer, meta.issuer);
  check('metadata advertises CIMD and iss', meta.client_id_metadata_document_supported === true && meta.authorization_response_iss_parameter_supported === true, meta);

  const cb = await startCallbackServer();
  const provider = new CIMDProvider(cb.redirectUrl, { clientID: cimdClientID, clientName: 'Interop MCP client (TypeScript SDK v2)' });
  const transport = new StreamableHTTPClientTransport(new URL(mcpURL), { authProvider: provider });
  const unauthorized = await rejects(newClient().connect(transport), UnauthorizedError);
  check('connect without a token asks for authorization', unauthorized === true, unauthorized);
  const authURL = provider.authorizationURLs[0];
  const p = authURL?.searchParams ?? new URLSearchParams();
  check('authorization request: client_id is the metadata document URL', p.get('client_id') === cimdClientID, p.get('client_id'));
  check('authorization request: PKCE S256', p.get('code_challenge_method') === 'S256' && (p.get('code_challenge') ?? '').length >= 43, Object.fromEntries(p));
  check('authorization request: resource is the MCP server', p.get('resource') === mcpURL, p.get('resource'));
  check('authorization request: scope from the 401 challenge', (p.get('scope') ?? '').split(' ').includes('mcp:tools'), p.get('scope'));
  check('authorization request: loopback redirect', p.get('redirect_uri') === cb.redirectUrl, p.get('redirect_uri'));

  const q = await callback(cb, provider, 'authorization');
  // The SDK checks iss before it redeems the code: a wrong or a missing one is refused, and the
  // code stays unused for the genuine callback.
  const wrong = new URLSearchParams(q);
  wrong.set('iss', 'https://attacker.example');
  const missing = new URLSearchParams(q);
  missing.delete('iss');
  const wrongRes = await rejects(transport.finishAuth(wrong), IssuerMismatchError);
  check('SDK refuses a callback with a wrong iss', wrongRes === true, wrongRes);
  const missingRes = await rejects(transport.finishAuth(missing), IssuerMismatchError);
  check('SDK refuses a callback without iss (the server advertises it)', missingRes === true, missingRes);
  check('nothing was redeemed on a bad iss', provider.tokens() === undefined, provider.tokens());
  await transport.finishAuth(q);
  check('authorization: SDK accepted iss and redeemed the code', provider.tokens()?.access_token, Object.keys(provider.tokens() ?? {}));
  const tokens = provider.tokens();
  check('token response: bearer access token and refresh token', /^bearer$/i.test(tokens?.token_type) && tokens?.access_token && tokens?.refresh_token, Object.keys(tokens ?? {}));
  const claims = decodeJwt(tokens.access_token);
  check('access token: aud is the MCP server, client_id the document URL', claims.aud === mcpURL && claims.client_id === cimdClientID && claims.iss === issuer, claims);
  await transport.close();

  const { client, transport: t2 } = await connect(provider);
  const tools = (await client.listTools()).tools.map((t) => t.name);
  check('tools/list', sameSet(tools, ['whoami', 'admin_stats']), tools);
  const id = await whoami(client);
  check('whoami: the user, the CIMD client, mcp:tools', id.subject === 'u_alice' && id.client_id === cimdClientID && id.scopes.includes('mcp:tools') && !id.scopes.includes('mcp:admin'), id);

  // Step-up: 403 insufficient_scope; the v2 transport sees that a refresh cannot widen the
  // grant and starts a new authorization for the union of the scopes.
  const stepUp = await rejects(client.callTool({ name: 'admin_stats', arguments: {} }), UnauthorizedError);
  check('step-up: 403 insufficient_scope leads to a new authorization', stepUp === true, stepUp);
  const stepURL = provider.authorizationURLs.at(-1);
  const stepScopes = stepURL?.searchParams.get('scope')?.split(' ') ?? [];
  check('step-up request: asks for mcp:tools and mcp:admin', provider.authorizationURLs.length === 2 && stepScopes.includes('mcp:tools') && stepScopes.includes('mcp:admin'), stepScopes);
  const q2 = await callback(cb, provider, 'step-up');
  await t2.finishAuth(q2);
  await t2.close();
  const again = await connect(provider);
  const stats = await again.client.callTool({ name: 'admin_stats', arguments: {} });
  check('admin_stats after step-up', !stats.isError && stats.structuredContent?.tool_calls >= 1, stats.structuredContent ?? stats.content);
  const id2 = await whoami(again.client);
  check('whoami after step-up: mcp:tools and mcp:admin', id2.scopes.includes('mcp:tools') && id2.scopes.includes('mcp:admin'), id2);

  // Refresh when the MCP server answers 401 (here: an access token it does not accept).
  const before = provider.tokens();
  provider.saveTokens({ ...before, access_token: 'expired-or-unknown' });
  const id3 = await whoami(again.client);
  const after = provider.tokens();
  check('refresh on 401: new access token and rotated refresh token', after.access_token !== 'expired-or-unknown' && after.refresh_token !== before.refresh_token && id3.subject === 'u_alice', { scopes: id3.scopes });
  check('refresh keeps the audience and scopes', sameSet(id3.scopes, id2.scopes) && decodeJwt(after.access_token).aud === mcpURL, id3);
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
  log(`@modelcontextprotocol/client against ${issuer}`);
  await withTimeout(authorizationCodeWithCIMD(), 90000, 'the authorization code flow');
  await withTimeout(clientCredentialsWithPrivateKeyJWT(), 30000, 'the client credentials flow');
});
