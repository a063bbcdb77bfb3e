import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type { TokenVerifier } from './auth/tokens';
import type { AppServices } from './context';
import { sendUnexpected } from './http/answers';
import { createApollo } from './http/apollo';
import { graphqlRoute } from './http/graphql-route';
import { health, metricsRoute, notFoundRoute, readiness, wrongMethod } from './http/ops-routes';
import { closeServer, createHttpServer } from './http/server';
import { verifyRoute } from './http/verify-route';
import { createConsole } from './console';
import { createIde } from './ide';
import type { Metrics } from './metrics';

export interface App {
  server: http.Server;
  /** The server of /metrics when it has a port of its own (METRICS_PORT). */
  metricsServer: http.Server | null;
  /** Stops accepting, lets in-flight requests finish (bounded), then stops the GraphQL server. */
  close(timeoutMs: number): Promise<void>;
  /** Set once shutdown begins: readiness turns 503 at once. */
  shuttingDown: boolean;
  /** Set when a part of the service stopped on its own (the verification thread): readiness turns 503 with it. */
  failed: string | null;
}

/** The HTTP service: its routes, on one server (and /metrics on a second one when configured). */
export async function createApp(services: AppServices, tokens: TokenVerifier, metrics: Metrics): Promise<App> {
  const { config, logger } = services;
  const apollo = await createApollo(services, metrics);
  const ide = createIde({ devSecret: tokens.devSecret });
  const adminConsole = createConsole({ devSecret: tokens.devSecret });
  const metricsApart = config.metrics.port !== null;
  const app: App = {
    server: createHttpServer(config.http),
    metricsServer: metricsApart ? createHttpServer(config.http) : null,
    shuttingDown: false,
    failed: null,
    async close(timeoutMs) {
      app.shuttingDown = true;
      await Promise.all([app.server, app.metricsServer].filter((s) => s !== null).map((s) => closeServer(s, timeoutMs)));
      await apollo.stop();
    },
  };
  const handleGraphQL = graphqlRoute(services, apollo, tokens);
  const handleVerify = verifyRoute(services.verifier, tokens, metrics, () => app.shuttingDown);

  const unexpected = (req: http.IncomingMessage, res: http.ServerResponse, err: unknown) => sendUnexpected(logger, req, res, err);

  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const requestId = (typeof req.headers['x-request-id'] === 'string' && req.headers['x-request-id'].length <= 200)
      ? req.headers['x-request-id'] : randomUUID();
    if (ide.handles(req, url)) return ide.serve(req, res, url);
    if (adminConsole.handles(req, url)) return adminConsole.serve(req, res, url);
    switch (url.pathname) {
      case '/v1/keys/verify': // with a query string
        if (req.method !== 'POST') return wrongMethod(res, 'POST');
        return handleVerify(req, res, (err) => unexpected(req, res, err));
      case '/graphql':
        if (req.method !== 'POST' && req.method !== 'GET') return wrongMethod(res, 'GET or POST');
        return handleGraphQL(req, res, url, requestId);
      case '/healthz':
        return health(res);
      case '/readyz':
        return readiness(services, res, app.shuttingDown, app.failed);
      case '/metrics':
        if (!metricsApart) return metricsRoute(services, metrics, req, res);
        return notFoundRoute(res, url.pathname);
      default:
        return notFoundRoute(res, url.pathname);
    }
  }

  app.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    // the verification route is the hot path: no URL parsing, request ID or promise for it
    if (req.url === '/v1/keys/verify' && req.method === 'POST') {
      try {
        handleVerify(req, res, (err) => unexpected(req, res, err));
      } catch (err) {
        unexpected(req, res, err);
      }
      return;
    }
    route(req, res).catch((err: unknown) => unexpected(req, res, err));
  });
  app.metricsServer?.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const done = (err: unknown) => unexpected(req, res, err);
    if ((req.url ?? '').split('?')[0] === '/metrics' && req.method === 'GET') metricsRoute(services, metrics, req, res).catch(done);
    else notFoundRoute(res, (req.url ?? '').split('?')[0]);
  });
  return app;
}
