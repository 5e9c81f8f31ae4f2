// What every interop script shares: the line protocol with the Go test that runs it, the
// loopback redirect receiver a native MCP client has, and the checks.
//
// Protocol: the script writes one JSON object per line on stdout, and nothing else.
//   {"event":"authorize","url":"…"}   the user must now open url; the Go test plays the user in
//                                     its browser (real login and consent forms) and follows the
//                                     final redirect to our loopback receiver
//   {"event":"check","name":"…","ok":true|false,"detail":…}
//   {"event":"log","msg":"…"}
//   {"event":"error","message":"…","stack":"…"}   an exception ended the script
//   {"event":"report","data":…}                  facts for the Go test to assert on
//   {"event":"done","failed":N}
// The exit status is 0 only when every check passed and nothing threw.

import http from 'node:http';
import { once } from 'node:events';

let failed = 0;

export function emit(ev) {
  process.stdout.write(JSON.stringify(ev) + '\n');
}

export function log(msg) {
  emit({ event: 'log', msg });
}

// check records one assertion; detail is whatever helps when it fails.
export function check(name, ok, detail) {
  emit({ event: 'check', name, ok: !!ok, detail: detail === undefined ? null : detail });
  if (!ok) failed++;
  return !!ok;
}

// env returns a required environment variable.
export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is not set (this script is run by the e2e tests)`);
  return v;
}

// withTimeout rejects when p has not settled in ms.
export function withTimeout(p, ms, what) {
  let timer;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

// startCallbackServer listens on a loopback port, as a native app does (RFC 8252 §7.3), and
// hands over the query of each request to /callback.
export async function startCallbackServer() {
  const waiting = [];
  const received = [];
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://127.0.0.1');
    if (u.pathname !== '/callback') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Done: you can close this window.');
    if (waiting.length) waiting.shift()(u.searchParams);
    else received.push(u.searchParams);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    redirectUrl: `http://127.0.0.1:${server.address().port}/callback`,
    // next resolves with the query of the next redirect.
    next() {
      const p = received.length ? Promise.resolve(received.shift()) : new Promise((r) => waiting.push(r));
      return withTimeout(p, 30000, 'the authorization redirect');
    },
    close() {
      server.closeAllConnections?.();
      server.close();
    },
  };
}

// askUser hands an authorization URL to the user (the Go test's browser).
export function askUser(url) {
  emit({ event: 'authorize', url: String(url) });
}

// run runs main and exits with the outcome.
export function run(main) {
  main().then(
    () => {
      emit({ event: 'done', failed });
      process.exit(failed ? 1 : 0);
    },
    (err) => {
      emit({ event: 'error', message: String(err?.message ?? err), stack: String(err?.stack ?? '') });
      emit({ event: 'done', failed: failed + 1 });
      process.exit(1);
    },
  );
}

// decodeJwt returns the claims of a JWT without verifying it (the Go test and the MCP server
// verify; here it only tells what the client was given).
export function decodeJwt(token) {
  const part = String(token).split('.')[1];
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

// sameSet compares two lists as sets.
export function sameSet(a, b) {
  const x = [...new Set(a ?? [])].sort();
  const y = [...new Set(b ?? [])].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

// importPrivateJwk turns the private JWK the Go test generated into a WebCrypto signing key.
export async function importPrivateJwk(jwk) {
  const alg = jwk.kty === 'EC' ? { name: 'ECDSA', namedCurve: jwk.crv } : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  return crypto.subtle.importKey('jwk', jwk, alg, false, ['sign']);
}
