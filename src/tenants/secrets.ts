// A tenant config's write-only values at rest (docs/configuration.md "Write-only secrets"):
// sealed before a record reaches the Directory or KV, shown as {"set": true}, kept by the
// GET-edit-PUT cycle, and opened once per compiled record when the edge loads it.
//
// A sealed value's additional data names the tenant, the value's JSON Pointer, whose it is and
// where it is sent, so a ciphertext moved to another tenant, field or endpoint does not open.
// The edge key's private part is sealed the same way, made at the first write with SECRETS_KEY.
//
//   const sealed = await sealConfig(written, stored, keyring);    // admin PUT: { ok, config } | { ok: false, issues }
//   redactConfig(stored);                                         // what GET answers
//   const opened = await openSecrets(stored, keyring);            // the edge's load: { ok, opened } | { ok: false, issues }
//   compileTenant(stored, opened.opened);
import type { OpenedSecret, SecretsKeyring } from '../secrets/keyring';
import { isSealed, sealedKeyId, type Sealed } from '../secrets/sealed';
import type { StoredEdgeKey } from '../config/stored-edge-key';
import { edgeKeyPlace, generateEdgeKey, importSigningKey } from './edge-key';
import { secretSlots, type ConfigIssue, type SecretSlot, type TenantConfig } from '../config/schema';
import type { OpenedSecrets } from './tenant';

export type SealedConfig =
  /** `replacedEdgeKey`: the stored edge key no longer opened, so a new one was made (log it once written). */
  | { ok: true; config: TenantConfig; replacedEdgeKey: { kid: string; newKid: string; reason: string } | null }
  | { ok: false; issues: ConfigIssue[] };
/** `previousKey`: something opened only with SECRETS_KEY_PREVIOUS (the record awaits its reseal). */
export type OpenedConfig = { ok: true; opened: OpenedSecrets; previousKey: boolean } | { ok: false; issues: ConfigIssue[] };

/** The place a sealed value opens for: changing any part makes it not authentic. */
export const secretAad = (tenantId: string, place: Pick<SecretSlot, 'pointer' | 'owner' | 'destination'>): string =>
  JSON.stringify(['edge-token-verifier secret 1', tenantId, place.pointer, place.owner, place.destination]);

/** The stored form of a written config (parsed as 'written'): each secret written as itself is
 *  sealed with SECRETS_KEY, each {"set": true} takes the stored one of the same owner. A secret
 *  sent again unchanged keeps its stored text, so the record (and its ETag) stays the same; one
 *  that moved or was sealed with SECRETS_KEY_PREVIOUS is sealed anew. */
export async function sealConfig(written: TenantConfig, stored: TenantConfig | null, keyring: SecretsKeyring): Promise<SealedConfig> {
  const before = new Map((stored === null ? [] : secretSlots(stored)).map((slot) => [slot.owner, slot]));
  const currentKeyId = await keyring.currentKeyId();
  const config = structuredClone(written);
  const issues: ConfigIssue[] = [];
  const sealing: Sealing = { tenantId: written.id, keyring, currentKeyId };
  for (const slot of secretSlots(written)) {
    const sealed = await sealSlot(slot, before.get(slot.owner) ?? null, sealing);
    if (typeof sealed === 'string') issues.push({ path: slot.pointer, message: sealed });
    else setAt(config, slot.path, sealed);
  }
  const edge = await edgeKeyFor(stored?.edgeKey, sealing);
  if (edge.key !== undefined) config.edgeKey = edge.key;
  else if (keyring.problem !== null) {
    written.issuers.forEach((issuer, i) => {
      if (issuer.introspection?.clientAuth !== 'private_key_jwt') return;
      issues.push({
        path: `/issuers/${i}/introspection/clientAuth`,
        message: `private_key_jwt signs with the tenant's edge key, which needs SECRETS_KEY (${keyring.problem})`,
      });
    });
  }
  return issues.length === 0 ? { ok: true, config, replacedEdgeKey: edge.replaced } : { ok: false, issues };
}

/** The edge key a write stores: the stored one (sealed again when SECRETS_KEY rotated), or a new
 *  one when there is none and SECRETS_KEY is set, or when no key opens the stored one any more. */
async function edgeKeyFor(stored: StoredEdgeKey | undefined, s: Sealing):
  Promise<{ key: StoredEdgeKey | undefined; replaced: { kid: string; newKid: string; reason: string } | null }> {
  if (stored !== undefined && (s.currentKeyId === null || sealedKeyId(stored.d.sealed) === s.currentKeyId)) {
    return { key: stored, replaced: null };
  }
  if (s.keyring.problem !== null) return { key: stored, replaced: null };
  let reason: string | null = null;
  if (stored !== undefined) {
    const opened = await s.keyring.open(stored.d, secretAad(s.tenantId, edgeKeyPlace(stored)));
    if (opened.ok) {
      return { key: { ...stored, d: await s.keyring.seal(opened.value, secretAad(s.tenantId, edgeKeyPlace(stored))) }, replaced: null };
    }
    reason = opened.reason;
  }
  const made = await generateEdgeKey();
  const key = { ...made.publicKey, d: await s.keyring.seal(made.d, secretAad(s.tenantId, edgeKeyPlace(made.publicKey))) };
  return { key, replaced: stored === undefined ? null : { kid: stored.kid, newKid: key.kid, reason: reason! } };
}

interface Sealing { readonly tenantId: string; readonly keyring: SecretsKeyring; readonly currentKeyId: string | null }

/** The sealed value for one written slot, or why there is none (never quoting a value). */
async function sealSlot(slot: SecretSlot, previous: SecretSlot | null, s: Sealing): Promise<Sealed | string> {
  const aad = secretAad(s.tenantId, slot);
  const stored = previous !== null && isSealed(previous.value) ? previous.value : null;
  const samePlace = previous !== null && previous.pointer === slot.pointer && previous.destination === slot.destination;
  const current = stored !== null && (s.currentKeyId === null || sealedKeyId(stored.sealed) === s.currentKeyId);
  const cannotSeal = () =>
    `cannot be stored: ${s.keyring.problem} (secrets are kept only sealed with it: npx wrangler secret put SECRETS_KEY)`;

  if (typeof slot.value === 'string') {
    if (s.keyring.problem !== null) return cannotSeal();
    if (stored !== null && samePlace && current) {
      const opened = await s.keyring.open(stored, aad);
      if (opened.ok && opened.value === slot.value) return stored;
    }
    return s.keyring.seal(slot.value, aad);
  }
  if (stored === null) return 'nothing is stored to keep: write the secret itself';
  // Kept only for where it was written for: an admin token cannot send a stored secret elsewhere.
  if (previous!.destination !== slot.destination) {
    return 'the stored secret was written for another endpoint: write it again to send it to this one';
  }
  if (samePlace && current) return stored;
  if (s.keyring.problem !== null) return cannotSeal();
  const opened = await s.keyring.open(stored, secretAad(s.tenantId, previous!));
  if (!opened.ok) return 'the stored secret cannot be opened with SECRETS_KEY or SECRETS_KEY_PREVIOUS: write it again';
  return s.keyring.seal(opened.value, aad);
}

/** What the admin API answers for a stored config: each secret {"set": true}, and none of the
 *  edge key (its public part is at GET /tenants/:id/jwks). */
export function redactConfig(stored: TenantConfig): Record<string, unknown> {
  const view = structuredClone(stored) as TenantConfig & { edgeKey?: unknown };
  for (const slot of secretSlots(stored)) setAt(view, slot.path, { set: true });
  delete view.edgeKey;
  return view as unknown as Record<string, unknown>;
}

/** A stored record's secrets (parsed as 'stored'), opened for compileTenant, and the edge key's
 *  private key imported when an issuer signs with it; a value that does not open is an issue at
 *  its path, so the record is that tenant's tenant_config_invalid. */
export async function openSecrets(config: TenantConfig, keyring: SecretsKeyring | null): Promise<OpenedConfig> {
  const values = new Map<string, string>();
  const issues: ConfigIssue[] = [];
  let previousKey = false;
  const open = async (sealed: unknown, aad: string): Promise<OpenedSecret> => {
    const opened: OpenedSecret = keyring === null || !isSealed(sealed) ? { ok: false, reason: 'unknown_key' }
      : await keyring.open(sealed, aad);
    if (opened.ok && !opened.current) previousKey = true;
    return opened;
  };
  for (const slot of secretSlots(config)) {
    const opened = await open(slot.value, secretAad(config.id, slot));
    if (opened.ok) values.set(slot.pointer, opened.value);
    else issues.push({ path: slot.pointer, message: openFailure(opened.reason, keyring) });
  }
  let signingKey: CryptoKey | null = null;
  if (signsWithEdgeKey(config)) {
    const opened = await openSigningKey(config, open, keyring);
    if (opened instanceof CryptoKey) signingKey = opened;
    else issues.push(opened);
  }
  return issues.length === 0 ? { ok: true, opened: { values, signingKey }, previousKey } : { ok: false, issues };
}

/** The edge key's private key, imported (non-extractable), or why it cannot be. */
async function openSigningKey(config: TenantConfig, open: (sealed: unknown, aad: string) => Promise<OpenedSecret>,
  keyring: SecretsKeyring | null): Promise<CryptoKey | ConfigIssue> {
  const key = config.edgeKey;
  if (key === undefined) return { path: '/edgeKey', message: 'private_key_jwt needs the tenant\'s edge key, and the record has none' };
  const opened = await open(key.d, secretAad(config.id, edgeKeyPlace(key)));
  if (!opened.ok) return { path: '/edgeKey/d', message: openFailure(opened.reason, keyring) };
  return importSigningKey(key, opened.value)
    .catch(() => ({ path: '/edgeKey/d', message: 'does not import as the P-256 private key of its public key' }));
}

/** Whether loading the config needs keys: a secret not written as itself, or an issuer signing
 *  with the edge key. */
export const needsOpening = (config: TenantConfig): boolean =>
  signsWithEdgeKey(config) || secretSlots(config).some((slot) => typeof slot.value !== 'string');

const signsWithEdgeKey = (config: TenantConfig): boolean =>
  config.issuers.some((issuer) => issuer.introspection?.clientAuth === 'private_key_jwt');

function openFailure(reason: 'unknown_key' | 'not_authentic', keyring: SecretsKeyring | null): string {
  if (reason === 'not_authentic') return 'does not open here: changed, or sealed for another tenant or place';
  const problems = [keyring?.problem ?? (keyring === null ? 'SECRETS_KEY is not set' : null), keyring?.previousProblem ?? null]
    .filter((p): p is string => p !== null);
  return `sealed with a key that is neither SECRETS_KEY nor SECRETS_KEY_PREVIOUS${problems.length > 0 ? ` (${problems.join('; ')})` : ''}`;
}

function setAt(root: object, path: readonly (string | number)[], value: unknown): void {
  let at = root as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  at[path[path.length - 1]!] = value;
}
