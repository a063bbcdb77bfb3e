/**
 * Polls `check` every `everyMs` until it holds, and resolves with how long that took (ms); fails
 * the test when it has not held within `timeoutMs`. For what the service does in the background
 * (a flush, a change notification, a log line), never for what a request's answer already tells.
 */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000, everyMs = 20): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
