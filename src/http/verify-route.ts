import type http from 'node:http';
import { requireVerifier, type Principal } from '../auth/principal';
import type { TokenVerifier } from '../auth/tokens';
import { ApiError, fromDatabaseError, JSON_TYPE } from '../errors';
import type { Metrics } from '../metrics';
import type { VerifiableKey, VerificationResult } from '../modules/verification/model';
import type { KeyVerifier } from '../modules/verification/verifier';
import { sendError } from './answers';
import { readBodyThen } from './body';

/** Largest body of a verification: a key of at most 1000 characters and an instance ID. */
const MAX_VERIFY_BODY = 16_384;

interface Body { text: string; length: number }

const bodyOf = (value: unknown): Body => {
  const text = JSON.stringify(value);
  return { text, length: Buffer.byteLength(text) };
};

/**
 * The REST answers to verifications. Gateways verify the same keys all day: the answer for a
 * cached key object (replaced whenever the key changes) is serialised once per outcome.
 */
function verificationBodies(): (result: VerificationResult) => Body {
  const keyBodies = new WeakMap<VerifiableKey, Map<VerificationResult['code'], Body>>();
  const keylessBodies = new Map<VerificationResult['code'], Body>();
  return ({ valid, code, key }) => {
    const bodies = key ? keyBodies.get(key) ?? new Map<VerificationResult['code'], Body>() : keylessBodies;
    let body = bodies.get(code);
    if (!body) {
      body = bodyOf(key
        ? {
            valid, code, accountId: key.accountId, keyId: key.id, instanceId: key.instanceId, channelId: key.channelId,
            developerId: key.developerId, teamIds: key.teamIds, expiresAt: key.expiresAt.toISOString(),
          }
        : { valid, code });
      bodies.set(code, body);
      if (key) keyBodies.set(key, bodies);
    }
    return body;
  };
}

const badBody = () => new ApiError('BAD_USER_INPUT', 'The body must be {"key": string, "instanceId"?: string}');

/**
 * `POST /v1/keys/verify`, the hot path. A gateway's token and keys are soon cached: then the
 * answer is written in the callback that receives the body, with no promise to wait on.
 */
export function verifyRoute(verifier: KeyVerifier, tokens: TokenVerifier, metrics: Metrics, isShuttingDown: () => boolean) {
  const bodyFor = verificationBodies();

  return function handleVerify(req: http.IncomingMessage, res: http.ServerResponse, unexpected: (err: unknown) => void): void {
    const started = process.hrtime.bigint();
    // during shutdown, gateways on keep-alive connections must go elsewhere instead of being served until the timeout
    if (isShuttingDown()) res.setHeader('connection', 'close');
    const done = (status: number) => metrics.observe('/v1/keys/verify', '', status, Number(process.hrtime.bigint() - started) / 1e9);
    const fail = (err: ApiError) => {
      sendError(res, 'rest', err);
      done(res.statusCode);
    };
    const answer = (result: VerificationResult) => {
      const body = bodyFor(result);
      res.writeHead(200, { 'content-type': JSON_TYPE, 'content-length': body.length });
      res.end(body.text);
      done(200);
    };
    const failed = (err: unknown) => {
      const mapped = fromDatabaseError(err);
      if (mapped instanceof ApiError) return fail(mapped);
      unexpected(err);
      done(500);
    };

    const verifyAs = (principal: Principal) => {
      try {
        requireVerifier(principal);
      } catch (err) {
        return fail(err as ApiError);
      }
      readBodyThen(req, MAX_VERIFY_BODY, (err, text) => {
        if (err) return err instanceof ApiError ? fail(err) : unexpected(err);
        let input: { key?: unknown; instanceId?: unknown } = {};
        try {
          input = JSON.parse(text) as typeof input;
        } catch {
          // not JSON: the check below answers
        }
        if (typeof input !== 'object' || input === null || typeof input.key !== 'string' || input.key.length > 1000) return fail(badBody());
        if (input.instanceId != null && typeof input.instanceId !== 'string') return fail(new ApiError('BAD_USER_INPUT', 'instanceId must be a string'));
        try {
          const result = verifier.verify(principal, input.key, (input.instanceId as string | undefined) ?? null);
          if (result instanceof Promise) result.then(answer).catch(failed);
          else answer(result);
        } catch (error) {
          failed(error);
        }
      });
    };

    const known = tokens.cached(req.headers.authorization);
    if (known) return verifyAs(known);
    tokens.authenticate(req.headers.authorization).then(verifyAs, failed).catch(unexpected);
  };
}
