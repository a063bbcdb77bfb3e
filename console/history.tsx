/** A key's history, and the account's audit trail of key events. */
import { useState } from 'react';
import { ApiKeyEventsDocument, ApiKeyHistoryDocument, type ApiKeyEventFieldsFragment, type ApiKeyEventType, type Client, type ResultOf } from '@qckeys/client';
import { formatCount, formatTime, useDebounced, useLoad } from './api';
import { CursorPager, ErrorLine, Field, Modal, useCursorStack } from './ui';

const show = (value: unknown): string => {
  if (value === null || value === undefined) return '—';
  if (Array.isArray(value)) return value.length ? value.map(show).join(', ') : 'none';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
};

/** `{ field: { from, to } }`; a relation's ID is left out where its name stands beside it. */
function Changes({ changes }: { changes: unknown }) {
  if (!changes || typeof changes !== 'object') return null;
  const entries = Object.entries(changes as Record<string, { from?: unknown; to?: unknown }>);
  const named = new Set(entries.map(([field]) => field));
  const shown = entries.filter(([field]) => !((field.endsWith('Id') && named.has(field.slice(0, -2))) || (field === 'teamIds' && named.has('teams'))));
  return (
    <ul className="changes">
      {shown.map(([field, change]) => (
        <li key={field}><strong>{field}</strong>: {show(change?.from)} → {show(change?.to)}</li>
      ))}
    </ul>
  );
}

function EventRows({ events, withKey, busy }: { events: ApiKeyEventFieldsFragment[]; withKey: boolean; busy: boolean }) {
  return (
    <table className="events" aria-busy={busy}>
      <thead><tr><th scope="col">When</th>{withKey && <th scope="col">Key</th>}<th scope="col">Event</th><th scope="col">By</th><th scope="col">Changes</th></tr></thead>
      <tbody>
        {events.map((e) => (
          <tr key={e.id}>
            <td>{formatTime(e.at)}</td>
            {withKey && <td>{e.apiKeyName}</td>}
            <td>{e.type}</td>
            <td>{e.actor}</td>
            <td><Changes changes={e.changes} /></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function HistoryDialog(props: { client: Client; apiKey: { id: string; name: string }; onClose: () => void }) {
  const [pages, setPages] = useState<string[]>(['']);
  const history = useLoad(`history|${props.apiKey.id}|${pages.join(',')}`, async (signal) => {
    // every page asked so far, in order ("Load more" appends one)
    const results: ResultOf<typeof ApiKeyHistoryDocument>[] = [];
    for (const after of pages) results.push(await props.client.request(ApiKeyHistoryDocument, { id: props.apiKey.id, first: 20, ...(after ? { after } : {}) }, { signal }));
    return results;
  });
  const events = history.data?.flatMap((r) => r.apiKey?.history.edges.map((e) => e.node) ?? []) ?? [];
  const last = history.data?.at(-1)?.apiKey?.history;
  return (
    <Modal title={`History of ${props.apiKey.name}`} onClose={props.onClose} wide>
      <ErrorLine error={history.error} />
      {history.data && !history.data[0]?.apiKey && <p className="notice">This key no longer exists; its events are in the audit trail.</p>}
      <EventRows events={events} withKey={false} busy={history.loading} />
      <footer>
        {last?.pageInfo.hasNextPage && last.pageInfo.endCursor && <button type="button" onClick={() => setPages((p) => [...p, last.pageInfo.endCursor ?? ''])}>Load more</button>}
        <button type="button" className="primary" onClick={props.onClose}>Close</button>
      </footer>
    </Modal>
  );
}

const EVENT_TYPES: ApiKeyEventType[] = ['CREATED', 'UPDATED', 'TEAMS_CHANGED', 'RENEWED', 'REVOKED', 'DELETED'];

export function AuditTab({ client }: { client: Client }) {
  const [type, setType] = useState<ApiKeyEventType | ''>('');
  const [actorText, setActorText] = useState('');
  const actor = useDebounced(actorText.trim(), 300);
  const pages = useCursorStack();
  const { cursor } = pages;
  const filter = { ...(type ? { types: [type] } : {}), ...(actor ? { actor } : {}) };
  const events = useLoad(`audit|${type}|${actor}|${cursor ?? ''}`, (signal) =>
    client.request(ApiKeyEventsDocument, { filter, first: 50, ...(cursor ? { after: cursor } : {}) }, { signal }));
  const connection = events.data?.apiKeyEvents;
  return (
    <section aria-label="Audit trail">
      <div className="toolbar">
        <Field inline label="Event">
          <select value={type} onChange={(e) => { setType(e.target.value as ApiKeyEventType | ''); pages.reset(); }}>
            <option value="">Every kind</option>
            {EVENT_TYPES.map((t) => <option key={t} value={t}>{t}</option>)}
          </select>
        </Field>
        <Field inline label="By">
          <input value={actorText} placeholder="token subject" onChange={(e) => { setActorText(e.target.value); pages.reset(); }} />
        </Field>
        <span role="status">{connection ? `${formatCount(connection.totalCount)} events` : 'Loading…'}</span>
        <CursorPager stack={pages} pageInfo={connection?.pageInfo} back="‹ Newer" forward="Older ›" />
      </div>
      <ErrorLine error={events.error} />
      <EventRows events={connection?.edges.map((e) => e.node) ?? []} withKey busy={events.loading} />
      {connection?.totalCount === 0 && <p className="empty" role="status">No key events{type || actor ? ' match' : ' yet: adding a key records the first'}.</p>}
    </section>
  );
}
