import type { Cloud, VerificationCode } from '../../generated/graphql';

/** What verification needs of a key, cached by the digest of its secret. */
export interface VerifiableKey {
  id: string;
  accountId: string;
  instanceId: string;
  channelId: string;
  developerId: string;
  cloud: Cloud;
  teamIds: string[];
  expiresAt: Date;
  revokedAt: Date | null;
  /** Set for a replaced secret inside its grace period. */
  secretValidUntil: Date | null;
}

export interface VerificationResult {
  valid: boolean;
  code: VerificationCode;
  /** The key, when found within the caller's reach. */
  key: VerifiableKey | null;
}
