/**
 * The console's link to the API: one @qckeys/client client per token, the URL as the console's
 * state (filters, paging, tab), and small hooks around requests.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, createClient, type Client } from '@qckeys/client';

/** What the service writes into the page (see `src/console.ts`). */
export interface ConsoleConfig {
  endpoint: string;
  devToken: string;
}

export function readConfig(): ConsoleConfig {
  const element = document.getElementById('qckeys-console-config');
  return { endpoint: '/graphql', devToken: '', ...(JSON.parse(element?.textContent ?? '{}') as Partial<ConsoleConfig>) };
}

export function makeClient(endpoint: string, token: string): Client {
  return createClient({ url: endpoint, token, timeoutMs: 30_000 });
}

/** A message for an error of any kind, with the API's code when it has one. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.code === 'UNAUTHENTICATED') return 'The token is missing, invalid or expired. Paste a new one.';
    if (err.code === 'FORBIDDEN') return 'Your token\'s role does not allow this.';
    if (err.code === 'CONFLICT') return err.message;
    return `${err.message}${err.field ? ` (${err.field})` : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}

export const errorCode = (err: unknown): string | null => (err instanceof ApiError ? err.code : null);

/** A new Idempotency-Key, made when a dialog opens: a resent click returns the first answer. */
export const newIdempotencyKey = () => `console-${crypto.randomUUID()}`;

// ---------------------------------------------------------------------------------------------
// The URL is the state: `?tab=keys&q=ci&team=…&status=ACTIVE&sort=NAME:ASC&after=…`

export type Params = URLSearchParams;

let listeners: (() => void)[] = [];
window.addEventListener('popstate', () => listeners.forEach((l) => l()));

/** The page's query parameters, and a setter that writes them to the URL (a history entry each). */
export function useParams(): [Params, (change: (p: Params) => void, replace?: boolean) => void] {
  const [params, setParams] = useState(() => new URLSearchParams(location.search));
  useEffect(() => {
    const listener = () => setParams(new URLSearchParams(location.search));
    listeners.push(listener);
    return () => {
      listeners = listeners.filter((l) => l !== listener);
    };
  }, []);
  const update = useCallback((change: (p: Params) => void, replace = false) => {
    const next = new URLSearchParams(location.search);
    change(next);
    const url = `${location.pathname}${next.size ? `?${next}` : ''}`;
    if (replace) history.replaceState(null, '', url);
    else history.pushState(null, '', url);
    listeners.forEach((l) => l());
  }, []);
  return [params, update];
}

// ---------------------------------------------------------------------------------------------

export interface Loaded<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/**
 * Runs `load` whenever `key` changes (and on `reload`); an answer that arrives after a newer
 * request was sent is dropped, so typing fast never shows an older result. A `null` key waits.
 */
export function useLoad<T>(key: string | null, load: (signal: AbortSignal) => Promise<T>): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: unknown; loading: boolean }>({ data: null, error: null, loading: true });
  const [round, setRound] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    if (key === null) return;
    const controller = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    loadRef.current(controller.signal).then(
      (data) => { if (!controller.signal.aborted) setState({ data, error: null, loading: false }); },
      (error: unknown) => { if (!controller.signal.aborted) setState((s) => ({ data: s.data, error, loading: false })); },
    );
    return () => controller.abort();
  }, [key, round]);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  return { ...state, reload };
}

/** A value that follows `value` after `ms` without change (search as you type). */
export function useDebounced<T>(value: T, ms: number): T {
  const [current, setCurrent] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setCurrent(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return current;
}

export const CLOUD_LABELS: Record<string, string> = { SALESFORCE: 'Salesforce', SERVICENOW: 'ServiceNow', M365: 'Microsoft 365' };
export const STATUS_LABELS: Record<string, string> = { ACTIVE: 'Active', EXPIRED: 'Expired', REVOKED: 'Revoked' };

export const formatDate = (iso: string | null | undefined) => (iso ? new Date(iso).toISOString().slice(0, 10) : '—');
export const formatTime = (iso: string | null | undefined) => (iso ? new Date(iso).toISOString().replace('T', ' ').slice(0, 16) + ' UTC' : '—');
export const formatCount = (n: number) => n.toLocaleString('en-US');
