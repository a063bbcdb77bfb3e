import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

/**
 * What the idempotency store keeps instead of the Idempotency-Key and the response: an HMAC
 * of the key to find the row, and the response sealed with AES-256-GCM under a key derived
 * (HKDF) from the server secret and the Idempotency-Key value. Without the key value the
 * client holds, a stored response (which may carry a new API key secret) cannot be read.
 *
 * Every hash and cipher key is bound to the principal that sent the request (`owner`: its
 * account, subject and roles): another principal with the same Idempotency-Key value finds no
 * row of the first one's and could not open its answer anyway.
 */
export class IdempotencyCrypto {
  constructor(private readonly secret: Buffer) {
    if (secret.length < 32) throw new Error('The idempotency secret must be at least 32 bytes');
  }

  keyHash(owner: string, key: string): Buffer {
    return createHmac('sha256', this.secret).update(`key\u0000${owner}\u0000${key}`).digest();
  }

  requestHash(owner: string, fingerprint: string): Buffer {
    return createHmac('sha256', this.secret).update(`request\u0000${owner}\u0000${fingerprint}`).digest();
  }

  private cipherKey(owner: string, key: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.secret, Buffer.from(owner, 'utf8'), Buffer.from(`qckeys idempotency v2\u0000${key}`, 'utf8'), 32));
  }

  seal(owner: string, key: string, plaintext: string): { iv: Buffer; data: Buffer } {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.cipherKey(owner, key), iv);
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return { iv, data };
  }

  /** The plaintext, or null when it cannot be opened (another server secret, another owner, tampering). */
  open(owner: string, key: string, iv: Buffer, data: Buffer): string | null {
    if (data.length < 16) return null;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.cipherKey(owner, key), iv);
      decipher.setAuthTag(data.subarray(data.length - 16));
      return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString('utf8');
    } catch {
      return null;
    }
  }
}

/** The server secret: IDEMPOTENCY_SECRET, else derived from JWT_SECRET, else random (replays then last one process). */
export function idempotencySecret(configured: string | null, jwtSecret: string | null): { secret: Buffer; ephemeral: boolean } {
  if (configured !== null) return { secret: Buffer.from(configured, 'utf8'), ephemeral: false };
  if (jwtSecret !== null) {
    return { secret: Buffer.from(hkdfSync('sha256', jwtSecret, 'qckeys', 'idempotency secret', 32)), ephemeral: false };
  }
  return { secret: randomBytes(32), ephemeral: true };
}
