import { timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { AppServices } from '../context';
import { ApiError, unauthenticated } from '../errors';
import type { Metrics } from '../metrics';
import { jsonAnswer, send, sendError } from './answers';

/** `GET /healthz`: the process runs. */
export function health(res: http.ServerResponse): void {
  send(res, jsonAnswer(200, { status: 'ok' }));
}

/**
 * `GET /readyz`: 200 while the database answers within a second, no shutdown has begun and no
 * part of the service has stopped on its own (`failed`: what stopped). With read replicas, also
 * each one's lag and whether it takes reads (a replica out of rotation does not make the service
 * unready: its reads go to the primary).
 */
export async function readiness(services: AppServices, res: http.ServerResponse, shuttingDown: boolean, failed: string | null = null): Promise<void> {
  const ready = !shuttingDown && failed === null && (await services.db.ping(1000));
  const replicas = services.db.replicas?.states();
  send(res, jsonAnswer(ready ? 200 : 503, {
    status: ready ? 'ready' : shuttingDown ? 'shutting down' : failed ?? 'database unavailable',
    ...replicas && { reads: replicas.some((r) => r.inRotation) ? 'replicas' : 'primary', replicas },
  }));
}

function bearerMatches(authorization: string | undefined, token: string): boolean {
  const given = Buffer.from(/^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1] ?? '');
  const wanted = Buffer.from(token);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

/** `GET /metrics` in Prometheus' text format; with METRICS_TOKEN set, only for `Authorization: Bearer <METRICS_TOKEN>`. */
export async function metricsRoute(services: AppServices, metrics: Metrics, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const { token } = services.config.metrics;
  if (token !== null && !bearerMatches(req.headers.authorization, token)) {
    return sendError(res, 'rest', unauthenticated('/metrics needs Authorization: Bearer <METRICS_TOKEN>'));
  }
  const text = await metrics.text();
  res.writeHead(200, { 'content-type': metrics.registry.contentType });
  res.end(text);
}

export const notFoundRoute = (res: http.ServerResponse, path: string) =>
  sendError(res, 'rest', new ApiError('NOT_FOUND', `No route ${path}`));

export const wrongMethod = (res: http.ServerResponse, allowed: string) =>
  sendError(res, 'rest', new ApiError('BAD_USER_INPUT', `Use ${allowed}`, {}, { status: 405 }));
