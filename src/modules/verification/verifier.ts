import { hash } from 'node:crypto';
import type { Principal } from '../../auth/principal';
import type { Database } from '../../db/database';
import { ApiError } from '../../errors';
import type { Clock } from '../../lib/clock';
import { KEY_CHANGES_CHANNEL, type KeyChanges } from '../api-keys/events';
import { verifiableKeyByDigest } from '../api-keys/keys';
import { isWellFormed } from '../api-keys/secrets';
import type { UsageDims } from '../usage/model';
import type { UsageRecorder } from '../usage/recorder';
import { KeyCache } from './cache';
import { LookupLimiter, type LookupLimits } from './limiter';
import type { VerifiableKey, VerificationResult } from './model';

/** Accounts whose keyless verifications keep a dimension object of their own; past it, the oldest is dropped. */
const MAX_KEYLESS_ACCOUNTS = 10_000;

export interface VerifierStats {
  onOutcome?: (code: VerificationResult['code']) => void;
  /** A database lookup of a secret the cache does not know: it found a key or not, or was refused by the principal's limit. */
  onLookup?: (result: 'found' | 'unknown' | 'refused') => void;
}

/** The answer to a principal past its limit of lookups of unknown secrets (HTTP 429 with Retry-After). */
export const lookupsExhausted = (retryAfterSeconds: number) => new ApiError('RATE_LIMITED',
  `Too many verifications of unknown keys from this token; retry in ${retryAfterSeconds} s`, { retryAfterSeconds });

const principalKey = (p: Principal) => `${p.accountId ?? ''}\u0000${p.subject}`;

/**
 * Answers "is this key good, and for what?" from an in-process cache of keys by digest, kept
 * fresh by change notifications from every replica, and counts every answer in usage.
 */
export class KeyVerifier {
  readonly cache: KeyCache;
  /** Lookups under way, by digest, so a burst of one unknown secret costs one statement. */
  private inflight = new Map<string, { generation: number; promise: Promise<VerifiableKey | null> }>();
  private stopListening: (() => Promise<void>) | null = null;
  private stopLocal: (() => void) | null = null;
  private readonly limiter: LookupLimiter;
  /** A key's usage dimensions, built once per cached key object (a changed key is a new object). */
  private readonly dimsByKey = new WeakMap<VerifiableKey, UsageDims>();
  /** Usage dimensions of an account's verifications that matched none of its keys: one object per account, counted as fast as a cached key's. */
  private readonly keylessDims = new Map<string, UsageDims>();

  constructor(
    private readonly db: Database,
    private readonly usage: UsageRecorder,
    private readonly changes: KeyChanges,
    private readonly clock: Clock,
    options: { cacheTtlMs: number; lookups: LookupLimits },
    private readonly stats: VerifierStats = {},
  ) {
    this.cache = new KeyCache(options.cacheTtlMs, clock);
    this.limiter = new LookupLimiter(options.lookups, clock);
  }

  private usageDimsOf(key: VerifiableKey): UsageDims {
    let dims = this.dimsByKey.get(key);
    if (!dims) {
      dims = {
        accountId: key.accountId, apiKeyId: key.id, channelId: key.channelId, instanceId: key.instanceId,
        developerId: key.developerId, cloud: key.cloud, teamIds: [...key.teamIds].sort(),
      };
      this.dimsByKey.set(key, dims);
    }
    return dims;
  }

  private keylessDimsOf(accountId: string): UsageDims {
    let dims = this.keylessDims.get(accountId);
    if (!dims) {
      if (this.keylessDims.size >= MAX_KEYLESS_ACCOUNTS) this.keylessDims.delete(this.keylessDims.keys().next().value as string);
      dims = { accountId, apiKeyId: '', channelId: '', instanceId: '', developerId: '', cloud: '', teamIds: [] };
      this.keylessDims.set(accountId, dims);
    }
    return dims;
  }

  async start(): Promise<void> {
    this.stopLocal = this.changes.listen((keyIds) => this.cache.invalidateKeys(keyIds));
    this.stopListening = await this.db.listen(KEY_CHANGES_CHANNEL, {
      onMessage: (payload) => {
        const keyIds = payload.split(',');
        this.cache.invalidateKeys(keyIds);
        this.changes.heard(keyIds);
      },
      onReset: () => this.cache.clear(),
    });
  }

  async stop(): Promise<void> {
    this.stopLocal?.();
    this.stopLocal = null;
    await this.stopListening?.();
    this.stopListening = null;
  }

  /**
   * The key of a digest the cache does not know, from the database. A lookup already under way
   * for the digest is joined; a new one takes a token of the principal's limit (given back when
   * it finds a key), and is refused with RATE_LIMITED when none is left.
   */
  private lookup(hex: string, principal: Principal): Promise<VerifiableKey | null> {
    const generation = this.cache.generation;
    const pending = this.inflight.get(hex);
    // a lookup that started before the latest invalidation may have read the old row: don't join it
    if (pending && pending.generation === generation) return pending.promise;
    const who = principalKey(principal);
    const wait = this.limiter.take(who);
    if (wait > 0) {
      this.stats.onLookup?.('refused');
      return Promise.reject(lookupsExhausted(wait));
    }
    const promise = verifiableKeyByDigest(this.db, Buffer.from(hex, 'hex')).then((key) => {
      if (key) this.limiter.giveBack(who);
      this.stats.onLookup?.(key ? 'found' : 'unknown');
      this.cache.set(hex, key, generation);
      return key;
    }).finally(() => {
      if (this.inflight.get(hex)?.promise === promise) this.inflight.delete(hex);
    });
    this.inflight.set(hex, { generation, promise });
    return promise;
  }

  /**
   * The answer, counted in usage. Synchronous when the cache holds the key (or the secret is
   * malformed): the verification route answers those without waiting on anything.
   */
  verify(principal: Principal, secret: string, instanceId: string | null): VerificationResult | Promise<VerificationResult> {
    // the one-shot hash is several times cheaper than createHash() on this hot path; same SHA-256 as digestOf
    const hex = hash('sha256', secret, 'hex');
    const cached = this.cache.get(hex);
    // a cached key's digest is that of a stored secret, which is well-formed: only other secrets need the check
    if (cached) return this.counted(principal, decide(principal, cached, instanceId, this.clock()));
    if (!isWellFormed(secret)) return this.counted(principal, { valid: false, code: 'MALFORMED', key: null });
    if (cached === null) return this.counted(principal, decide(principal, null, instanceId, this.clock()));
    return this.lookup(hex, principal).then((key) => this.counted(principal, decide(principal, key, instanceId, this.clock())));
  }

  private counted(principal: Principal, result: VerificationResult): VerificationResult {
    const key = result.key;
    if (key) {
      this.usage.record(this.usageDimsOf(key), result.code);
    } else if (principal.accountId !== null) {
      // unknown to this account: counted in its totals, under no key
      this.usage.record(this.keylessDimsOf(principal.accountId), result.code);
    }
    this.stats.onOutcome?.(result.code);
    return result;
  }
}

function decide(principal: Principal, found: VerifiableKey | null, instanceId: string | null, now: number): VerificationResult {
  if (
    !found ||
    (principal.accountId !== null && found.accountId !== principal.accountId) ||
    (found.secretValidUntil !== null && found.secretValidUntil.getTime() <= now)
  ) {
    return { valid: false, code: 'NOT_FOUND', key: null };
  }
  if (found.revokedAt) return { valid: false, code: 'REVOKED', key: found };
  if (found.expiresAt.getTime() <= now) return { valid: false, code: 'EXPIRED', key: found };
  if (instanceId !== null && instanceId !== found.instanceId) return { valid: false, code: 'INSTANCE_MISMATCH', key: found };
  return { valid: true, code: 'VALID', key: found };
}
