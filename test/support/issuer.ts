// A test OpenID issuer served by the auxiliary Worker: real key pairs, jose signatures,
// discovery and JWKS documents registered at https://<random>.issuer.test/, counted hits.
//
//   const issuer = await TestIssuer.create();           // RS256 key, published
//   const token = await issuer.sign({ sub: 'u1', aud: 'https://api.acme.com' });
//   await issuer.hits('/jwks')                           // fetches the Worker made
import { SignJWT, exportJWK, generateKeyPair, type JWK, type JWTPayload } from 'jose';

export type TestAlg = 'RS256' | 'ES256' | 'PS256' | 'EdDSA' | 'RS384' | 'ES384';

export interface TestKey { kid: string; alg: TestAlg; privateKey: CryptoKey; publicJwk: JWK }

const CONTROL = 'https://control.test';
let counter = 0;

export async function makeKey(alg: TestAlg, kid = `k${++counter}-${alg.toLowerCase()}`, options: { modulusLength?: number } = {}): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...options });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey: privateKey as CryptoKey, publicJwk };
}

/** What a URL of the stand-in answers (test/fixtures/issuer-worker.js describes each behaviour). */
export interface RouteSpec {
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  behaviour?: 'hang' | 'huge' | 'introspect' | 'refuse';
  delayMs?: number;
  bytes?: number;
  answers?: Record<string, unknown>;
}

export async function register(url: string, spec: RouteSpec): Promise<void> {
  const response = await fetch(`${CONTROL}/routes`, { method: 'PUT', body: JSON.stringify({ url, ...spec }) });
  if (response.status !== 204) throw new Error(`control call failed: ${response.status}`);
}

export async function hitsOn(options: { url: string } | { host: string }): Promise<number> {
  const query = 'url' in options ? `url=${encodeURIComponent(options.url)}` : `host=${encodeURIComponent(options.host)}`;
  const response = await fetch(`${CONTROL}/hits?${query}`);
  return ((await response.json()) as { count: number }).count;
}

export class TestIssuer {
  readonly host: string;
  readonly origin: string;
  /** The `iss` value, exactly as tokens carry it. */
  readonly issuer: string;
  readonly jwksUri: string;
  keys: TestKey[];

  private constructor(host: string, path: string, keys: TestKey[]) {
    this.host = host;
    this.origin = `https://${host}`;
    this.issuer = `${this.origin}${path}`;
    this.jwksUri = `${this.origin}/jwks`;
    this.keys = keys;
  }

  /** A new issuer on its own host, with one key per alg (RS256 by default), published. */
  static async create(options: { algs?: TestAlg[]; path?: string; publish?: boolean; cacheControl?: string } = {}): Promise<TestIssuer> {
    const host = `i${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.issuer.test`;
    const keys = await Promise.all((options.algs ?? ['RS256']).map((alg) => makeKey(alg)));
    const issuer = new TestIssuer(host, options.path ?? '/', keys);
    if (options.publish !== false) await issuer.publish({ cacheControl: options.cacheControl });
    return issuer;
  }

  get discoveryUrl(): string {
    return `${this.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  }

  /** Where an SSF receiver finds this issuer as a transmitter: `/.well-known/ssf-configuration`
   *  after the host, then the issuer's path (SSF 1.0 §7.2, RFC 8414 placement). */
  get ssfConfigurationUrl(): string {
    return `${this.origin}/.well-known/ssf-configuration${new URL(this.issuer).pathname.replace(/\/$/, '')}`;
  }

  /** Registers the SSF transmitter configuration (naming this issuer and its JWKS) and the JWKS. */
  async publishSsf(options: { cacheControl?: string; documentIssuer?: string; jwksUri?: string } = {}): Promise<void> {
    await register(this.ssfConfigurationUrl, { body: {
      spec_version: '1_0', issuer: options.documentIssuer ?? this.issuer, jwks_uri: options.jwksUri ?? this.jwksUri,
      delivery_methods_supported: ['urn:ietf:rfc:8935'],
    } });
    await this.publishJwks(options);
  }

  /** Registers the discovery document and the JWKS (with the current keys). */
  async publish(options: { cacheControl?: string; documentIssuer?: string } = {}): Promise<void> {
    await register(this.discoveryUrl, { body: { issuer: options.documentIssuer ?? this.issuer, jwks_uri: this.jwksUri } });
    await this.publishJwks(options);
  }

  async publishJwks(options: { cacheControl?: string; keys?: JWK[] } = {}): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (options.cacheControl) headers['cache-control'] = options.cacheControl;
    await register(this.jwksUri, { headers, body: { keys: options.keys ?? this.keys.map((k) => k.publicJwk) } });
  }

  /** Replaces what a path of this issuer's host answers (failures, hangs, redirects). */
  async serve(path: string, spec: Parameters<typeof register>[1]): Promise<void> {
    await register(`${this.origin}${path}`, spec);
  }

  async hits(path?: string): Promise<number> {
    return path === undefined ? hitsOn({ host: this.host }) : hitsOn({ url: `${this.origin}${path}` });
  }

  /** Signs claims; `iss`, `iat` and `exp` (now + 1 h) default unless given (undefined removes). */
  async sign(claims: JWTPayload, options: { key?: TestKey; header?: Record<string, unknown>; now?: number } = {}): Promise<string> {
    const key = options.key ?? this.keys[0]!;
    const nowSeconds = Math.floor((options.now ?? Date.now()) / 1000);
    const payload: JWTPayload = { iss: this.issuer, iat: nowSeconds, exp: nowSeconds + 3600, ...claims };
    for (const name of Object.keys(payload)) if (payload[name] === undefined) delete payload[name];
    return new SignJWT(payload)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...options.header })
      .sign(key.privateKey);
  }
}
