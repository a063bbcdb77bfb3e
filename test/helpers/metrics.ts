/** The sum of a Prometheus metric's samples at `baseUrl/metrics` whose labels include `labels`. */
export async function metricValue(baseUrl: string, name: string, labels: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`, { headers })).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const sample = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => sample[k] === v)) sum += Number(match[3]);
  }
  return sum;
}

/** How much a metric moved while `work` ran. */
export async function metricDelta(baseUrl: string, name: string, labels: Record<string, string>, work: () => Promise<unknown>): Promise<number> {
  const before = await metricValue(baseUrl, name, labels);
  await work();
  return (await metricValue(baseUrl, name, labels)) - before;
}
