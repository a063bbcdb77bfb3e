import http from 'node:http';
import type { Config } from '../config';

/**
 * An HTTP server that bounds what a connection may hold: the time to send the headers and the
 * whole request, the idle time between requests, and the number of connections.
 */
export function createHttpServer(limits: Config['http']): http.Server {
  const server = http.createServer({
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // how often Node checks the two timeouts above (its default, 30 s, would let a slow client stay that long)
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs, limits.requestTimeoutMs),
  });
  server.maxConnections = limits.maxConnections;
  return server;
}

/** Starts listening on `port` (0: any free one) at `host`; a failure to (a port in use) rejects. */
export function listen(server: http.Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
}

/** Stops accepting, lets in-flight requests finish (bounded by `timeoutMs`), then closes every connection. */
export function closeServer(server: http.Server, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => { server.closeAllConnections(); resolve(); }, timeoutMs);
    timer.unref();
    server.close(() => { clearTimeout(timer); resolve(); });
    server.closeIdleConnections();
  });
}
