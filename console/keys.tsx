/**
 * The API Keys tab: smart filters with their counts, the table with paging and sorting, row
 * actions and actions on selected rows. Filters, order and page live in the URL.
 */
import { useEffect, useMemo, useState } from 'react';
import {
  ApiKeyFacetsDocument, ApiKeysDocument,
  type ApiKeyFieldsFragment, type ApiKeyFilter, type ApiKeyOrderField, type Client, type OrderDirection, type ResultOf,
} from '@qckeys/client';
import { CLOUD_LABELS, formatCount, formatDate, STATUS_LABELS, type Params, useDebounced, useLoad, useParams } from './api';
import { AddKeyDialog, BulkDialog, DeleteDialog, EditKeyDialog, RenewDialog, RevokeDialog } from './key-dialogs';
import { HistoryDialog } from './history';
import { ErrorLine, Field } from './ui';

const PAGE_SIZE = 50;
const DAY_MS = 86_400_000;

type Facets = ResultOf<typeof ApiKeyFacetsDocument>['apiKeyFacets'];
type FacetValue = Facets['teams'][number];

/** The filter of the URL's parameters, as the API takes it. */
function filterOf(params: Params, now = Date.now()): ApiKeyFilter {
  const filter: ApiKeyFilter = {};
  const list = (name: string) => params.getAll(name).filter(Boolean);
  const search = params.get('q')?.trim();
  if (search) filter.search = search;
  if (list('team').length) filter.teamIds = list('team');
  if (params.get('noteam') === '1') filter.withoutTeam = true;
  if (list('dev').length) filter.developerIds = list('dev');
  if (list('channel').length) filter.channelIds = list('channel');
  if (list('instance').length) filter.instanceIds = list('instance');
  if (list('cloud').length) filter.clouds = list('cloud') as ApiKeyFilter['clouds'];
  if (list('status').length) filter.statuses = list('status') as ApiKeyFilter['statuses'];
  const days = Number(params.get('expiring'));
  if (days === 7 || days === 30) {
    // expiring soon: still valid, and past its expiry within the window
    filter.expiresAfter = new Date(now).toISOString();
    filter.expiresBefore = new Date(now + days * DAY_MS).toISOString();
  }
  return filter;
}

const FILTER_PARAMS = ['q', 'team', 'noteam', 'dev', 'channel', 'instance', 'cloud', 'status', 'expiring'];
const PAGE_PARAMS = ['after', 'before', 'start'];

function orderOf(params: Params): { field: ApiKeyOrderField; direction: OrderDirection } {
  const [field, direction] = (params.get('sort') ?? 'CREATED_AT:DESC').split(':');
  const fields = ['NAME', 'CREATED_AT', 'EXPIRES_AT', 'LAST_USED_AT'];
  return {
    field: (fields.includes(field ?? '') ? field : 'CREATED_AT') as ApiKeyOrderField,
    direction: direction === 'ASC' ? 'ASC' : 'DESC',
  };
}

/** Which rows are selected: some IDs, or every key matching the filter but a few. */
type Selection = { all: false; ids: Set<string> } | { all: true; except: Set<string> };
const NONE: Selection = { all: false, ids: new Set() };

function selectionCount(selection: Selection, total: number): number {
  return selection.all ? total - selection.except.size : selection.ids.size;
}

/** The part of a bulk mutation's input that names the keys. */
function selectionInput(selection: Selection, filter: ApiKeyFilter): { apiKeyIds?: string[]; filter?: ApiKeyFilter; exceptIds?: string[] } {
  return selection.all ? { filter, exceptIds: [...selection.except] } : { apiKeyIds: [...selection.ids] };
}

const isSelected = (selection: Selection, id: string) => (selection.all ? !selection.except.has(id) : selection.ids.has(id));

type Dialog =
  | { kind: 'add' }
  | { kind: 'edit' | 'renew' | 'revoke' | 'delete' | 'history'; key: ApiKeyFieldsFragment }
  | { kind: 'bulk'; action: 'teams' | 'revoke' | 'delete' };

export function KeysTab(props: { client: Client; canWrite: boolean; notify: (text: string) => void }) {
  const { client, canWrite, notify } = props;
  const [params, setParams] = useParams();
  const [searchText, setSearchText] = useState(params.get('q') ?? '');
  const search = useDebounced(searchText, 200);
  const [selection, setSelection] = useState<Selection>(NONE);
  const [dialog, setDialog] = useState<Dialog | null>(null);

  // typing writes the search to the URL once the user pauses: Back returns to the list before it
  useEffect(() => {
    if ((params.get('q') ?? '') === search) return;
    setParams((p) => {
      if (search) p.set('q', search);
      else p.delete('q');
      PAGE_PARAMS.forEach((name) => p.delete(name));
    });
  }, [search]);
  useEffect(() => setSearchText(params.get('q') ?? ''), [params.get('q')]);

  const filterKey = FILTER_PARAMS.map((name) => `${name}=${params.getAll(name).join(',')}`).join('&');
  const filter = useMemo(() => filterOf(params), [filterKey]);
  const order = orderOf(params);
  const after = params.get('after');
  const before = params.get('before');
  const start = Math.max(1, Number(params.get('start')) || 1);

  // a new filter starts a new selection
  useEffect(() => setSelection(NONE), [filterKey]);

  const listKey = `${filterKey}|${order.field}:${order.direction}|${after}|${before}`;
  const keys = useLoad(listKey, (signal) => client.request(ApiKeysDocument, {
    filter, orderBy: order, ...(before ? { last: PAGE_SIZE, before } : { first: PAGE_SIZE, ...(after ? { after } : {}) }),
  }, { signal }));
  // on the first visit the counts are asked once the page is shown: counting a large account
  // afresh takes longer than its first page, and the two would share the database's cores
  const facets = useLoad(keys.data || keys.error ? filterKey : null, (signal) => client.request(ApiKeyFacetsDocument, { filter, first: 50 }, { signal }));

  const page = keys.data?.apiKeys;
  const rows = page?.edges.map((e) => e.node) ?? [];
  const total = page?.totalCount ?? 0;
  const filtered = FILTER_PARAMS.some((name) => params.has(name));

  function setFilter(change: (p: Params) => void) {
    setParams((p) => {
      change(p);
      PAGE_PARAMS.forEach((name) => p.delete(name));
    });
  }
  function clearFilters() {
    setSearchText('');
    setFilter((p) => FILTER_PARAMS.forEach((name) => p.delete(name)));
  }
  function toggleValue(name: string, value: string) {
    setFilter((p) => {
      const values = p.getAll(name);
      p.delete(name);
      (values.includes(value) ? values.filter((v) => v !== value) : [...values, value]).forEach((v) => p.append(name, v));
    });
  }
  function sortBy(field: ApiKeyOrderField, direction?: OrderDirection) {
    const next = direction ?? (order.field === field && order.direction === 'ASC' ? 'DESC' : 'ASC');
    setParams((p) => {
      p.set('sort', `${field}:${next}`);
      PAGE_PARAMS.forEach((name) => p.delete(name));
    });
  }
  function go(direction: 'next' | 'previous') {
    if (!page) return;
    setParams((p) => {
      PAGE_PARAMS.forEach((name) => p.delete(name));
      const nextStart = direction === 'next' ? start + rows.length : Math.max(1, start - PAGE_SIZE);
      if (direction === 'next' && page.pageInfo.endCursor) p.set('after', page.pageInfo.endCursor);
      if (direction === 'previous' && page.pageInfo.startCursor && nextStart > 1) p.set('before', page.pageInfo.startCursor);
      if (nextStart > 1) p.set('start', String(nextStart));
    });
  }
  function changed(text: string) {
    notify(text);
    setDialog(null);
    keys.reload();
    facets.reload();
  }

  const allOnPage = rows.length > 0 && rows.every((k) => isSelected(selection, k.id));
  function toggleRow(id: string) {
    setSelection((s) => {
      if (s.all) {
        const except = new Set(s.except);
        if (except.has(id)) except.delete(id);
        else except.add(id);
        return { all: true, except };
      }
      const ids = new Set(s.ids);
      if (ids.has(id)) ids.delete(id);
      else ids.add(id);
      return { all: false, ids };
    });
  }
  function togglePage() {
    setSelection((s) => {
      if (s.all) {
        const except = new Set(s.except);
        rows.forEach((k) => (allOnPage ? except.add(k.id) : except.delete(k.id)));
        return { all: true, except };
      }
      const ids = new Set(s.ids);
      rows.forEach((k) => (allOnPage ? ids.delete(k.id) : ids.add(k.id)));
      return { all: false, ids };
    });
  }
  const selectedCount = selectionCount(selection, total);
  const last = page ? start + rows.length - 1 : 0;

  return (
    <div className="keys">
      <aside className="filters" aria-label="Filters">
        <Field label="Search names">
          <input type="search" value={searchText} placeholder="Key name contains…" onChange={(e) => setSearchText(e.target.value)} />
        </Field>
        <FacetGroup legend="Status" name="status" values={facets.data?.apiKeyFacets.statuses} labels={STATUS_LABELS} params={params} onToggle={toggleValue} />
        <fieldset>
          <legend>Expiration</legend>
          {([['', 'Any time', null], ['7', 'Expiring within 7 days', facets.data?.apiKeyFacets.expiringWithin7Days], ['30', 'Expiring within 30 days', facets.data?.apiKeyFacets.expiringWithin30Days]] as const).map(([value, label, count]) => (
            <label key={value} className="option">
              <input type="radio" name="expiring" checked={(params.get('expiring') ?? '') === value}
                onChange={() => setFilter((p) => (value ? p.set('expiring', value) : p.delete('expiring')))} />
              {label}{count != null && <span className="count"> ({formatCount(count)})</span>}
            </label>
          ))}
        </fieldset>
        <FacetGroup legend="Teams" name="team" values={facets.data?.apiKeyFacets.teams} params={params} onToggle={toggleValue}>
          <label className="option">
            <input type="checkbox" checked={params.get('noteam') === '1'} onChange={() => setFilter((p) => (p.get('noteam') === '1' ? p.delete('noteam') : p.set('noteam', '1')))} />
            No team<span className="count"> ({facets.data ? formatCount(facets.data.apiKeyFacets.withoutTeam) : '…'})</span>
          </label>
        </FacetGroup>
        <FacetGroup legend="Developers" name="dev" values={facets.data?.apiKeyFacets.developers} params={params} onToggle={toggleValue} />
        <FacetGroup legend="Channels" name="channel" values={facets.data?.apiKeyFacets.channels} params={params} onToggle={toggleValue} />
        <FacetGroup legend="Instances" name="instance" values={facets.data?.apiKeyFacets.instances} params={params} onToggle={toggleValue} />
        <FacetGroup legend="Clouds" name="cloud" values={facets.data?.apiKeyFacets.clouds} labels={CLOUD_LABELS} params={params} onToggle={toggleValue} />
        {filtered && <button type="button" onClick={clearFilters}>Clear filters</button>}
        <ErrorLine error={facets.error} />
      </aside>

      <section className="list" aria-label="API keys">
        <div className="toolbar">
          {canWrite && <button type="button" className="primary" onClick={() => setDialog({ kind: 'add' })}>Add API key</button>}
          <Field inline label="Sort by">
            <select value={`${order.field}:${order.direction}`} onChange={(e) => { const [f, d] = e.target.value.split(':'); sortBy(f as ApiKeyOrderField, d as OrderDirection); }}>
              <option value="CREATED_AT:DESC">Newest first</option>
              <option value="CREATED_AT:ASC">Oldest first</option>
              <option value="NAME:ASC">Name A–Z</option>
              <option value="NAME:DESC">Name Z–A</option>
              <option value="EXPIRES_AT:ASC">Expiring soonest</option>
              <option value="EXPIRES_AT:DESC">Expiring latest</option>
              <option value="LAST_USED_AT:DESC">Recently used</option>
              <option value="LAST_USED_AT:ASC">Least recently used</option>
            </select>
          </Field>
          <span className="range" role="status" aria-live="polite">
            {page ? (total === 0 ? '0 keys' : `${start}–${last} of ${formatCount(total)}`) : 'Loading…'}
          </span>
          <button type="button" aria-label="Previous page" disabled={!page || start <= 1} onClick={() => go('previous')}>‹ Previous</button>
          <button type="button" aria-label="Next page" disabled={!page?.pageInfo.hasNextPage && !(before && page)} onClick={() => go('next')}>Next ›</button>
        </div>

        {canWrite && selectedCount > 0 && (
          <div className="bulk" role="region" aria-label="Actions on selected rows">
            <span>{formatCount(selectedCount)} selected</span>
            {!selection.all && allOnPage && total > rows.length && (
              <button type="button" className="link" onClick={() => setSelection({ all: true, except: new Set() })}>Select all {formatCount(total)} matching</button>
            )}
            {selection.all && <span>(all matching{selection.except.size ? `, except ${selection.except.size}` : ''})</span>}
            <button type="button" onClick={() => setDialog({ kind: 'bulk', action: 'teams' })}>Manage Teams</button>
            <button type="button" onClick={() => setDialog({ kind: 'bulk', action: 'revoke' })}>Revoke selected</button>
            <button type="button" className="danger" onClick={() => setDialog({ kind: 'bulk', action: 'delete' })}>Delete selected</button>
            <button type="button" className="link" onClick={() => setSelection(NONE)}>Clear selection</button>
          </div>
        )}

        <ErrorLine error={keys.error} />
        <table aria-busy={keys.loading}>
          <thead>
            <tr>
              {canWrite && <th className="check"><input type="checkbox" aria-label="Select all keys on this page" checked={allOnPage} onChange={togglePage} disabled={!rows.length} /></th>}
              <SortHeader label="Name" field="NAME" order={order} onSort={sortBy} />
              <th scope="col">Teams</th>
              <th scope="col">Developer</th>
              <th scope="col">Channel</th>
              <th scope="col">Instance</th>
              <SortHeader label="Expiration Date" field="EXPIRES_AT" order={order} onSort={sortBy} />
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((key) => (
              <tr key={key.id} className={isSelected(selection, key.id) ? 'selected' : undefined}>
                {canWrite && <td className="check"><input type="checkbox" aria-label={`Select ${key.name}`} checked={isSelected(selection, key.id)} onChange={() => toggleRow(key.id)} /></td>}
                <td><span className="name">{key.name}</span> <span className={`status ${key.status.toLowerCase()}`}>{STATUS_LABELS[key.status]}</span><br /><code className="hint">{key.hint}</code></td>
                <td>{key.teams.map((t) => t.name).join(', ') || <span className="muted">No team</span>}</td>
                <td>{key.developer.name}</td>
                <td>{key.channel.name}</td>
                <td>{key.instance.name} <span className="muted">({CLOUD_LABELS[key.cloud]})</span></td>
                <td>{formatDate(key.expiresAt)}</td>
                <td className="actions">
                  {canWrite && <button type="button" onClick={() => setDialog({ kind: 'edit', key })} aria-label={`Edit ${key.name}`}>Edit</button>}
                  {canWrite && key.status !== 'REVOKED' && <button type="button" onClick={() => setDialog({ kind: 'renew', key })} aria-label={`Renew ${key.name}`}>Renew</button>}
                  {canWrite && key.status !== 'REVOKED' && <button type="button" onClick={() => setDialog({ kind: 'revoke', key })} aria-label={`Revoke ${key.name}`}>Revoke</button>}
                  {canWrite && <button type="button" className="danger" onClick={() => setDialog({ kind: 'delete', key })} aria-label={`Delete ${key.name}`}>Delete</button>}
                  <button type="button" onClick={() => setDialog({ kind: 'history', key })} aria-label={`History of ${key.name}`}>History</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {page && rows.length === 0 && (
          <div className="empty" role="status">
            {filtered
              ? <p>No key matches these filters. <button type="button" className="link" onClick={clearFilters}>Clear the filters</button> to see every key.</p>
              : canWrite
                ? <p>No API keys yet. Choose <strong>Add API key</strong>: pick a cloud, an instance and a channel, name the developer who will hold it, and copy the secret it shows you once.</p>
                : <p>No API keys yet. An admin of this account can add them; your token can only read.</p>}
          </div>
        )}
      </section>

      {dialog?.kind === 'add' && <AddKeyDialog client={client} onClose={() => setDialog(null)} onDone={changed} />}
      {dialog?.kind === 'edit' && <EditKeyDialog client={client} apiKey={dialog.key} onClose={() => setDialog(null)} onDone={changed} />}
      {dialog?.kind === 'renew' && <RenewDialog client={client} apiKey={dialog.key} onClose={() => setDialog(null)} onDone={changed} />}
      {dialog?.kind === 'revoke' && <RevokeDialog client={client} apiKey={dialog.key} onClose={() => setDialog(null)} onDone={changed} />}
      {dialog?.kind === 'delete' && <DeleteDialog client={client} apiKey={dialog.key} onClose={() => setDialog(null)} onDone={changed} />}
      {dialog?.kind === 'history' && <HistoryDialog client={client} apiKey={dialog.key} onClose={() => setDialog(null)} />}
      {dialog?.kind === 'bulk' && (
        <BulkDialog client={client} action={dialog.action} count={selectedCount} input={selectionInput(selection, filter)}
          onClose={() => setDialog(null)} onDone={(text) => { setSelection(NONE); changed(text); }} />
      )}
    </div>
  );
}

function SortHeader(props: { label: string; field: ApiKeyOrderField; order: { field: ApiKeyOrderField; direction: OrderDirection }; onSort: (field: ApiKeyOrderField) => void }) {
  const active = props.order.field === props.field;
  return (
    <th scope="col" aria-sort={active ? (props.order.direction === 'ASC' ? 'ascending' : 'descending') : 'none'}>
      <button type="button" className="sort" onClick={() => props.onSort(props.field)}>
        {props.label}{active ? (props.order.direction === 'ASC' ? ' ▲' : ' ▼') : ''}
      </button>
    </th>
  );
}

/** One smart filter: a checkbox per value with its count; chosen values stay listed at 0. */
function FacetGroup(props: {
  legend: string;
  name: string;
  values: FacetValue[] | undefined;
  labels?: Record<string, string>;
  params: Params;
  onToggle: (name: string, value: string) => void;
  children?: React.ReactNode;
}) {
  const chosen = props.params.getAll(props.name);
  const values = props.values ?? [];
  const shown = [...values, ...chosen.filter((id) => !values.some((v) => v.id === id)).map((id) => ({ id, label: props.labels?.[id] ?? id, count: 0 }))];
  return (
    <fieldset>
      <legend>{props.legend}</legend>
      {props.children}
      {props.values === undefined && <span className="muted">…</span>}
      {shown.map((value) => (
        <label key={value.id} className="option">
          <input type="checkbox" checked={chosen.includes(value.id)} onChange={() => props.onToggle(props.name, value.id)} />
          {props.labels?.[value.label] ?? value.label}<span className="count"> ({formatCount(value.count)})</span>
        </label>
      ))}
    </fieldset>
  );
}
