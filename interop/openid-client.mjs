// panva's openid-client (current major) against mcp-authz: discovery (OpenID and RFC 8414),
// authorization code with PKCE and resource and its iss check, refresh, client credentials,
// introspection and revocation, as a confidential client authenticating with private_key_jwt;
// and the same code flow and refresh as a public client. The access tokens are then used at
// the example MCP server. Run by e2e/interop_test.go, which plays the user in its browser; see
// lib/harness.mjs.

import * as oidc from 'openid-client';
import { askUser, check, decodeJwt, env, importPrivateJwk, log, run, startCallbackServer, withTimeout } from './lib/harness.mjs';

const issuer = env('ISSUER');
const mcpURL = env('MCP_URL');
const rpClientID = env('RP_CLIENT_ID');
const rpJWK = JSON.parse(env('RP_PRIVATE_JWK'));
const publicClientID = env('PUBLIC_CLIENT_ID');

// http is allowed for the loopback issuer of the tests only.
const insecure = { execute: [oidc.allowInsecureRequests] };

// codeFlow runs one authorization with the user and redeems the code.
async function codeFlow(config, cb, label, scope) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: cb.redirectUrl,
    scope,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    resource: mcpURL,
  });
  askUser(url);
  const q = await cb.next();
  const callbackURL = new URL(cb.redirectUrl);
  callbackURL.search = q.toString();
  check(`${label}: redirect carries iss`, q.get('iss') === issuer, Object.fromEntries(q));

  // openid-client checks iss (RFC 9207) before it redeems the code.
  for (const [what, mutate] of [
    ['a wrong iss', (u) => u.searchParams.set('iss', 'https://attacker.example')],
    ['no iss', (u) => u.searchParams.delete('iss')],
  ]) {
    const bad = new URL(callbackURL);
    mutate(bad);
    let err = null;
    try {
      await oidc.authorizationCodeGrant(config, bad, { pkceCodeVerifier: verifier, expectedState: state }, { resource: mcpURL });
    } catch (e) {
      err = e;
    }
    // oauth4webapi says what is wrong in the cause of the error it throws.
    const why = err ? `${err.message}: ${err.cause?.message ?? ''}` : 'accepted';
    check(`${label}: openid-client refuses ${what}`, err && /"iss"/.test(why), why);
  }

  const tokens = await oidc.authorizationCodeGrant(config, callbackURL, { pkceCodeVerifier: verifier, expectedState: state }, { resource: mcpURL });
  const claims = decodeJwt(tokens.access_token);
  check(`${label}: tokens (bearer, refresh token, scope)`, tokens.token_type === 'bearer' && tokens.refresh_token && tokens.scope === scope && tokens.expiresIn() > 0, { ...tokens, access_token: '…', refresh_token: '…' });
  check(`${label}: access token audience and client`, claims.aud === mcpURL && claims.client_id === config.clientMetadata().client_id && claims.sub === 'u_alice', claims);
  return tokens;
}

// mcpInitialize presents an access token to the example MCP server.
async function mcpInitialize(config, accessToken) {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'openid-client-interop', version: '0' } },
  });
  const headers = new Headers({ 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' });
  const resp = await oidc.fetchProtectedResource(config, accessToken, new URL(mcpURL), 'POST', body, headers);
  await resp.text();
  return resp.status;
}

async function confidentialClient() {
  const key = await importPrivateJwk(rpJWK);
  const auth = oidc.PrivateKeyJwt({ key, kid: rpJWK.kid });
  const config = await oidc.discovery(new URL(issuer), rpClientID, undefined, auth, insecure);
  const meta = config.serverMetadata();
  check('discovery (openid-configuration): issuer and endpoints', meta.issuer === issuer && meta.token_endpoint === issuer + '/token' && meta.introspection_endpoint && meta.revocation_endpoint, meta);
  check('discovery: private_key_jwt and S256 advertised', meta.token_endpoint_auth_methods_supported.includes('private_key_jwt') && meta.supportsPKCE('S256'), meta.token_endpoint_auth_methods_supported);
  const oauth2 = await oidc.discovery(new URL(issuer), rpClientID, undefined, auth, { ...insecure, algorithm: 'oauth2' });
  check('discovery (oauth-authorization-server, RFC 8414): same document', JSON.stringify(oauth2.serverMetadata()) === JSON.stringify(meta), oauth2.serverMetadata());

  const cb = await startCallbackServer();
  const tokens = await codeFlow(config, cb, 'confidential code flow', 'mcp:tools');
  check('confidential code flow: the token works at the MCP server', (await mcpInitialize(config, tokens.access_token)) === 200);

  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token, { resource: mcpURL });
  check('refresh: new access token, rotated refresh token, same audience and scope', refreshed.access_token !== tokens.access_token && refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token && refreshed.scope === 'mcp:tools' && decodeJwt(refreshed.access_token).aud === mcpURL, { scope: refreshed.scope });
  let widen = null;
  try {
    await oidc.refreshTokenGrant(config, refreshed.refresh_token, { resource: mcpURL, scope: 'mcp:tools mcp:admin' });
  } catch (e) {
    widen = e;
  }
  check('refresh cannot widen the scope', widen instanceof oidc.ResponseBodyError && widen.error === 'invalid_scope', widen ? `${widen.error ?? ''} ${widen.message}` : 'widened');

  const active = await oidc.tokenIntrospection(config, refreshed.access_token);
  check('introspection (private_key_jwt): access token active, with its claims', active.active === true && active.sub === 'u_alice' && active.client_id === rpClientID && active.scope === 'mcp:tools' && [active.aud].flat().includes(mcpURL) && active.iss === issuer, active);
  const rtActive = await oidc.tokenIntrospection(config, refreshed.refresh_token);
  check('introspection: refresh token active', rtActive.active === true, rtActive);
  const rotated = await oidc.tokenIntrospection(config, tokens.access_token);
  log(`introspection of the access token issued before the refresh: active=${rotated.active}`);

  await oidc.tokenRevocation(config, refreshed.refresh_token);
  const after = await oidc.tokenIntrospection(config, refreshed.access_token);
  check('revocation (private_key_jwt) of the refresh token revokes the grant', after.active === false && Object.keys(after).length === 1, after);
  let reuse = null;
  try {
    await oidc.refreshTokenGrant(config, refreshed.refresh_token, { resource: mcpURL });
  } catch (e) {
    reuse = e;
  }
  check('a revoked refresh token is refused', reuse instanceof oidc.ResponseBodyError && reuse.error === 'invalid_grant', reuse ? `${reuse.error ?? ''} ${reuse.message}` : 'accepted');

  const cc = await oidc.clientCredentialsGrant(config, { resource: mcpURL, scope: 'mcp:tools' });
  const ccClaims = decodeJwt(cc.access_token);
  check('client credentials (private_key_jwt): token for the client itself, no refresh token', !cc.refresh_token && ccClaims.sub === rpClientID && ccClaims.aud === mcpURL && cc.scope === 'mcp:tools', ccClaims);
  check('client credentials: the token works at the MCP server', (await mcpInitialize(config, cc.access_token)) === 200);
  const ccActive = await oidc.tokenIntrospection(config, cc.access_token);
  check('introspection of the client credentials token', ccActive.active === true && ccActive.sub === rpClientID, ccActive);
  await oidc.tokenRevocation(config, cc.access_token);
  const ccAfter = await oidc.tokenIntrospection(config, cc.access_token);
  check('revocation of an access token', ccAfter.active === false, ccAfter);
  // The MCP server validates the JWT itself and does not ask the introspection endpoint, so a
  // revoked access token works there until it expires (minutes): that is what self-contained
  // tokens are; revocation ends the grant and refreshing.
  log(`a revoked access token at the MCP server (validated locally): HTTP ${await mcpInitialize(config, cc.access_token)}`);
  cb.close();
}

async function publicClient() {
  const config = await oidc.discovery(new URL(issuer), publicClientID, undefined, oidc.None(), insecure);
  const cb = await startCallbackServer();
  const tokens = await codeFlow(config, cb, 'public code flow', 'mcp:tools');
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token, { resource: mcpURL });
  check('public refresh: rotated, same audience', refreshed.refresh_token !== tokens.refresh_token && decodeJwt(refreshed.access_token).aud === mcpURL, { scope: refreshed.scope });
  await oidc.tokenRevocation(config, refreshed.refresh_token);
  let reuse = null;
  try {
    await oidc.refreshTokenGrant(config, refreshed.refresh_token, { resource: mcpURL });
  } catch (e) {
    reuse = e;
  }
  check('public revocation (auth method none): the refresh token is dead', reuse instanceof oidc.ResponseBodyError && reuse.error === 'invalid_grant', reuse ? reuse.message : 'accepted');
  cb.close();
}

run(async () => {
  await withTimeout(confidentialClient(), 90000, 'the confidential client');
  await withTimeout(publicClient(), 60000, 'the public client');
});
