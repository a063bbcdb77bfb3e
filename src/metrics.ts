import client from 'prom-client';
import type { Database } from './db/database';
import type { ReplicaState } from './db/replicas';
import type { UsageRecorder } from './modules/usage/recorder';
import type { KeyCache } from './modules/verification/cache';

/**
 * Most distinct operation names of a route that get series of their own. Names come from clients: past
 * this many, a new name is counted as {@link OTHER_OPERATION}, so series (and memory) stay bounded.
 */
export const MAX_OPERATIONS = 500;
export const OTHER_OPERATION = '(other)';

type Labels = Record<string, string>;
type Sample = { metricName?: string; labels: Record<string, string | number>; value: number };

/**
 * A Prometheus metric whose label sets are bound once, so that counting is plain arithmetic on
 * a series object: prom-client's metrics validate and hash their labels on every call, a
 * measurable part of the verification route's time. Registered with prom-client's registry,
 * which reads it through `get`.
 */
abstract class LightMetric<S extends { labels: Labels }> {
  abstract readonly type: 'counter' | 'histogram';
  readonly aggregator = 'sum';
  private readonly all = new Map<string, S>();

  constructor(readonly name: string, readonly help: string, private readonly labelNames: readonly string[]) {}

  protected abstract create(labels: Labels): S;
  protected abstract samples(series: S): Sample[];

  /** The series of these label values (in the order of the label names). */
  series(...values: string[]): S {
    const key = values.join('\u0000');
    let series = this.all.get(key);
    if (!series) {
      series = this.create(Object.fromEntries(this.labelNames.map((name, i) => [name, values[i]])));
      this.all.set(key, series);
    }
    return series;
  }

  get() {
    const values = [...this.all.values()].flatMap((series) => this.samples(series));
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {
    this.all.clear();
  }
}

class CounterSeries {
  value = 0;

  constructor(readonly labels: Labels) {}

  inc(): void {
    this.value++;
  }
}

class LightCounter extends LightMetric<CounterSeries> {
  readonly type = 'counter';

  protected create(labels: Labels): CounterSeries {
    return new CounterSeries(labels);
  }

  protected samples({ labels, value }: CounterSeries): Sample[] {
    return [{ labels, value }];
  }
}

class HistogramSeries {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly labels: Labels, private readonly buckets: readonly number[]) {
    this.counts = buckets.map(() => 0);
  }

  observe(value: number): void {
    for (let i = 0; i < this.buckets.length; i++) {
      if (value <= this.buckets[i]) {
        this.counts[i]++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }
}

class LightHistogram extends LightMetric<HistogramSeries> {
  readonly type = 'histogram';

  constructor(name: string, help: string, labelNames: readonly string[], private readonly buckets: readonly number[]) {
    super(name, help, labelNames);
  }

  protected create(labels: Labels): HistogramSeries {
    return new HistogramSeries(labels, this.buckets);
  }

  protected samples({ labels, counts, sum, count }: HistogramSeries): Sample[] {
    let cumulative = 0;
    return [
      ...this.buckets.map((le, i) => {
        cumulative += counts[i];
        return { metricName: `${this.name}_bucket`, labels: { le, ...labels }, value: cumulative };
      }),
      { metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...labels }, value: count },
      { metricName: `${this.name}_sum`, labels, value: sum },
      { metricName: `${this.name}_count`, labels, value: count },
    ];
  }
}

/** Metrics of another thread of the process, as its registry's `getMetricsAsJSON()`. */
export type ThreadMetrics = () => Promise<client.MetricObjectWithValues<client.MetricValue<string>>[]>;

/**
 * Prometheus metrics of one service process, or of one of its threads: the process's own metrics
 * (CPU, memory, event loop) only where `processMetrics`.
 */
export function createMetrics({ processMetrics = true } = {}) {
  const registry = new client.Registry();
  if (processMetrics) client.collectDefaultMetrics({ register: registry });
  const threads: ThreadMetrics[] = [];
  const requests = new LightCounter('qckeys_http_requests_total', 'HTTP requests by route, GraphQL operation and status',
    ['route', 'operation', 'status']);
  registry.registerMetric(requests as unknown as client.Metric);
  const duration = new LightHistogram(
    'qckeys_http_request_duration_seconds', 'HTTP request latency by route and GraphQL operation', ['route', 'operation'],
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  );
  registry.registerMetric(duration as unknown as client.Metric);
  const verifications = new LightCounter('qckeys_verifications_total', 'Key verifications by outcome', ['code']);
  registry.registerMetric(verifications as unknown as client.Metric);
  const idempotency = new client.Counter({
    name: 'qckeys_idempotent_requests_total', help: 'Mutations sent with an Idempotency-Key by result (executed, replayed, conflict, in_progress)',
    labelNames: ['result'] as const, registers: [registry],
  });
  const poolWaitTimeouts = new client.Counter({
    name: 'qckeys_db_pool_wait_timeouts_total',
    help: 'Requests answered 503 because no database connection came free within DB_POOL_WAIT_MS (overload), by pool',
    labelNames: ['pool'] as const, registers: [registry],
  });
  const keyLookups = new client.Counter({
    name: 'qckeys_key_lookups_total',
    help: 'Database lookups of secrets the verification cache did not know, by result (found, unknown, refused: over the principal\'s limit)',
    labelNames: ['result'] as const, registers: [registry],
  });
  const reads = new client.Counter({
    name: 'qckeys_db_reads_total',
    help: 'GraphQL queries with read replicas, by where their reads went: replica, or primary_asked (x-read-primary), primary_after_write (read-your-writes), primary_no_replica (none in rotation)',
    labelNames: ['target'] as const, registers: [registry],
  });
  const usageFlushFailures = new client.Counter({
    name: 'qckeys_usage_flush_failures_total', help: 'Usage flushes that failed (their counts kept for the next flush, or dropped per bucket)',
    registers: [registry],
  });
  const usageBucketsDropped = new client.Counter({
    name: 'qckeys_usage_buckets_dropped_total', help: 'Usage buckets the database refused in every try, whose counts were dropped',
    registers: [registry],
  });
  // a route, operation and status find both their series in one lookup (the verification route is hot)
  const bound = new Map<string, { requests: CounterSeries; duration: HistogramSeries }>();
  const operationsByRoute = new Map<string, Set<string>>();
  return {
    registry,
    /** Adds another thread's metrics to {@link text}'s. */
    include(thread: ThreadMetrics) {
      threads.push(thread);
    },
    /**
     * The exposition of /metrics: this registry's, each series that other threads count as well
     * summed with theirs (the verification thread's requests, outcomes, lookups, connections).
     */
    async text(): Promise<string> {
      if (!threads.length) return registry.metrics();
      const own = await registry.getMetricsAsJSON();
      const others = await Promise.all(threads.map((thread) => thread()));
      const shared = new Set(others.flat().map((m) => m.name));
      const merged = client.AggregatorRegistry.aggregate([own.filter((m) => shared.has(m.name)), ...others]);
      // this thread's alone as they are (the process's own metrics' aggregators are for processes)
      for (const metric of own.filter((m) => !shared.has(m.name))) merged.registerMetric({ ...metric, get: () => metric } as unknown as client.Metric);
      return merged.metrics();
    },
    idempotency,
    keyLookups,
    poolWaitTimeouts,
    reads,
    usageFlushFailures,
    usageBucketsDropped,
    observe(route: string, operation: string, status: number, seconds: number) {
      let series = bound.get(`${route} ${operation} ${status}`);
      if (!series) {
        let operations = operationsByRoute.get(route);
        if (!operations) operationsByRoute.set(route, (operations = new Set()));
        if (!operations.has(operation) && operations.size < MAX_OPERATIONS) operations.add(operation);
        const label = operations.has(operation) ? operation : OTHER_OPERATION;
        series = { requests: requests.series(route, label, String(status)), duration: duration.series(route, label) };
        bound.set(`${route} ${label} ${status}`, series);
      }
      series.requests.inc();
      series.duration.observe(seconds);
    },
    /** Counts one verification outcome. */
    verified(code: string) {
      verifications.series(code).inc();
    },
    /** Gauges read at scrape time from the running parts. */
    watch(parts: { usage: UsageRecorder; cache: KeyCache; db: Database }) {
      new client.Gauge({ name: 'qckeys_usage_buffer_depth', help: 'Verifications counted but not yet written', registers: [registry],
        collect() { this.set(parts.usage.depth); } });
      new client.Gauge({ name: 'qckeys_key_cache_entries', help: 'Entries in the verification cache', registers: [registry],
        collect() { this.set(parts.cache.size); } });
      new client.Gauge({ name: 'qckeys_db_pool_connections', help: 'Database connections by pool (requests, system) and state (used, free; pending: callers waiting)',
        labelNames: ['pool', 'state'] as const, registers: [registry],
        collect() {
          for (const [pool, { used, idle, waiting }] of Object.entries(parts.db.stats())) {
            this.set({ pool, state: 'used' }, used);
            this.set({ pool, state: 'free' }, idle);
            this.set({ pool, state: 'pending' }, waiting);
          }
        } });
      const replicas = parts.db.replicas;
      if (replicas) {
        const gauge = (name: string, help: string, value: (s: ReplicaState) => number | null) => new client.Gauge({
          name, help, labelNames: ['replica'] as const, registers: [registry],
          collect() {
            for (const state of replicas.states()) {
              const v = value(state);
              if (v !== null) this.set({ replica: state.name }, v);
            }
          },
        });
        gauge('qckeys_db_replica_in_rotation', 'Whether the replica takes reads (1) or is out of rotation (0: lagging past DATABASE_REPLICA_MAX_LAG_MS, or unreachable)', (s) => (s.inRotation ? 1 : 0));
        gauge('qckeys_db_replica_lag_seconds', 'How old the newest primary write the replica may not have replayed could be (the bound that decides its rotation)', (s) => (s.lagMs === null ? null : s.lagMs / 1000));
        gauge('qckeys_db_replica_bytes_behind', 'At the last measurement, WAL bytes written on the primary and not yet replayed on the replica', (s) => s.bytesBehind);
      }
      const statements = { name: 'qckeys_db_statements_total', help: 'SQL statements of the service\'s work by pool (transaction control not counted)', type: 'counter', aggregator: 'sum' };
      registry.registerMetric({
        ...statements,
        get: () => Promise.resolve({ ...statements, values: Object.entries(parts.db.stats()).map(([pool, stats]) => ({ labels: { pool }, value: stats.statements })) }),
        reset: () => undefined,
      } as unknown as client.Metric);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
