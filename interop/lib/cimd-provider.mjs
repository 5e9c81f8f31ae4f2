// CIMDProvider is an in-memory OAuthClientProvider (the MCP TypeScript SDK's interface, the same in
// v1 and v2) for a public client identified by a metadata document URL. It keeps what the SDK
// gives it and records what it was asked to do.
import { askUser } from './harness.mjs';

export class CIMDProvider {
  constructor(redirectUrl, { clientID, clientName }) {
    this._redirectUrl = redirectUrl;
    this._clientName = clientName;
    this.clientMetadataUrl = clientID;
    this.authorizationURLs = [];
    this.states = [];
  }
  get redirectUrl() {
    return this._redirectUrl;
  }
  get clientMetadata() {
    return {
      client_name: this._clientName,
      redirect_uris: [this._redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  state() {
    const s = crypto.randomUUID();
    this.states.push(s);
    return s;
  }
  clientInformation() {
    return this._clientInformation;
  }
  saveClientInformation(info) {
    this._clientInformation = info;
  }
  tokens() {
    return this._tokens;
  }
  saveTokens(tokens) {
    this._tokens = tokens;
  }
  redirectToAuthorization(url) {
    this.authorizationURLs.push(new URL(url));
    askUser(url);
  }
  saveCodeVerifier(v) {
    this._codeVerifier = v;
  }
  codeVerifier() {
    return this._codeVerifier;
  }
  saveDiscoveryState(s) {
    this._discovery = s;
  }
  discoveryState() {
    return this._discovery;
  }
  invalidateCredentials(scope) {
    if (scope === 'all' || scope === 'tokens') this._tokens = undefined;
    if (scope === 'all' || scope === 'client') this._clientInformation = undefined;
    if (scope === 'all' || scope === 'discovery') this._discovery = undefined;
  }
}
