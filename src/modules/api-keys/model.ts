import type { ApiKeyEventType, ApiKeyStatus, Cloud } from '../../generated/graphql';

export interface ApiKeyRecord {
  id: string;
  accountId: string;
  name: string;
  hint: string;
  cloud: Cloud;
  instanceId: string;
  channelId: string;
  developerId: string;
  expiresAt: Date;
  /** Lifetime chosen at creation, the default for renewals. */
  lifetimeSeconds: number;
  createdAt: Date;
  updatedAt: Date;
  renewedAt: Date | null;
  revokedAt: Date | null;
  revocationReason: string | null;
  lastUsedAt: Date | null;
  deletedAt: Date | null;
  version: number;
}

export interface ApiKeyEventRecord {
  id: string;
  accountId: string;
  apiKeyId: string;
  apiKeyName: string;
  type: ApiKeyEventType;
  actor: string;
  at: Date;
  changes: Record<string, unknown> | null;
}

export function statusOf(key: Pick<ApiKeyRecord, 'revokedAt' | 'expiresAt'>, now = Date.now()): ApiKeyStatus {
  if (key.revokedAt) return 'REVOKED';
  return key.expiresAt.getTime() <= now ? 'EXPIRED' : 'ACTIVE';
}

/** Records in ID order, the order in which changes of many keys lock them and their payloads list them. */
export const inIdOrder = (a: { id: string }, b: { id: string }): number => (a.id < b.id ? -1 : 1);

export const MAX_LIFETIME_SECONDS = 3 * 366 * 24 * 3600;
export const DEFAULT_LIFETIME_SECONDS = 365 * 24 * 3600;
export const MAX_GRACE_SECONDS = 604_800;
