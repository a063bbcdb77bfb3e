import client from 'prom-client';
import type { Knex } from 'knex';
import type { UsageRecorder } from './modules/usage/recorder';
import type { KeyCache } from './modules/verification/cache';

/** Most pre-bound label sets kept (operation names come from clients). */
const MAX_BOUND_SERIES = 1000;

/** One route and operation of a {@link LatencyHistogram}. */
class LatencySeries {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly labels: { route: string; operation: string }, private readonly buckets: readonly number[]) {
    this.counts = buckets.map(() => 0);
  }

  observe(seconds: number): void {
    for (let i = 0; i < this.buckets.length; i++) {
      if (seconds <= this.buckets[i]) {
        this.counts[i]++;
        break;
      }
    }
    this.sum += seconds;
    this.count++;
  }
}

/**
 * A Prometheus histogram by route and operation whose observation is a bucket search and three
 * additions: prom-client's validates and hashes the labels on every call, a measurable part of
 * the verification route's time.
 */
class LatencyHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly all = new Map<string, LatencySeries>();

  constructor(readonly name: string, readonly help: string, private readonly buckets: readonly number[]) {}

  series(route: string, operation: string): LatencySeries {
    const key = `${route} ${operation}`;
    let series = this.all.get(key);
    if (!series) {
      series = new LatencySeries({ route, operation }, this.buckets);
      this.all.set(key, series);
    }
    return series;
  }

  get() {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    for (const { labels, counts, sum, count } of this.all.values()) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += counts[i];
        values.push({ metricName: `${this.name}_bucket`, labels: { le, ...labels }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...labels }, value: count });
      values.push({ metricName: `${this.name}_sum`, labels, value: sum });
      values.push({ metricName: `${this.name}_count`, labels, value: count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {
    this.all.clear();
  }
}

/** Prometheus metrics of one service process. */
export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const requests = new client.Counter({
    name: 'qckeys_http_requests_total', help: 'HTTP requests by route, GraphQL operation and status',
    labelNames: ['route', 'operation', 'status'] as const, registers: [registry],
  });
  const duration = new LatencyHistogram(
    'qckeys_http_request_duration_seconds', 'HTTP request latency by route and GraphQL operation',
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  );
  registry.registerMetric(duration as unknown as client.Metric);
  const verifications = new client.Counter({
    name: 'qckeys_verifications_total', help: 'Key verifications by outcome', labelNames: ['code'] as const, registers: [registry],
  });
  const idempotency = new client.Counter({
    name: 'qckeys_idempotent_requests_total', help: 'Mutations sent with an Idempotency-Key by result (executed, replayed, conflict, in_progress)',
    labelNames: ['result'] as const, registers: [registry],
  });
  // label lookups hashed once per series, not on every request (the verification route is hot)
  const bound = new Map<string, { requests: client.Counter.Internal; duration: LatencySeries }>();
  const boundCodes = new Map<string, client.Counter.Internal>();
  return {
    registry,
    idempotency,
    observe(route: string, operation: string, status: number, seconds: number) {
      const key = `${route} ${operation} ${status}`;
      let series = bound.get(key);
      if (!series) {
        series = { requests: requests.labels(route, operation, String(status)), duration: duration.series(route, operation) };
        if (bound.size < MAX_BOUND_SERIES) bound.set(key, series);
      }
      series.requests.inc();
      series.duration.observe(seconds);
    },
    /** Counts one verification outcome. */
    verified(code: string) {
      let counter = boundCodes.get(code);
      if (!counter) {
        counter = verifications.labels(code);
        boundCodes.set(code, counter);
      }
      counter.inc();
    },
    /** Gauges read at scrape time from the running parts. */
    watch(parts: { usage: UsageRecorder; cache: KeyCache; knex: Knex }) {
      new client.Gauge({ name: 'qckeys_usage_buffer_depth', help: 'Verifications counted but not yet written', registers: [registry],
        collect() { this.set(parts.usage.depth); } });
      new client.Gauge({ name: 'qckeys_key_cache_entries', help: 'Entries in the verification cache', registers: [registry],
        collect() { this.set(parts.cache.size); } });
      const pool = () => (parts.knex.client as { pool?: { numUsed(): number; numFree(): number; numPendingAcquires(): number } }).pool;
      new client.Gauge({ name: 'qckeys_db_pool_connections', help: 'Database pool connections by state', labelNames: ['state'] as const, registers: [registry],
        collect() {
          const p = pool();
          if (!p) return;
          this.set({ state: 'used' }, p.numUsed());
          this.set({ state: 'free' }, p.numFree());
          this.set({ state: 'pending' }, p.numPendingAcquires());
        } });
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
