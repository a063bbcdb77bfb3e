/** The dialogs that change keys: add, edit, renew, revoke, delete, and actions on selected rows. */
import { useId, useMemo, useState } from 'react';
import {
  ApiKeyDocument, CreateApiKeyDocument, DeleteApiKeyDocument, DeleteApiKeysDocument, DevelopersDocument, InstancesDocument,
  RenewApiKeyDocument, RevokeApiKeyDocument, RevokeApiKeysDocument, TeamsDocument, UpdateApiKeyDocument, UpdateApiKeyTeamsDocument,
  type ApiKeyFieldsFragment, type ApiKeyFilter, type Client, type Cloud, type DeveloperInput, type UpdateApiKeyInput,
} from '@qckeys/client';
import { CLOUD_LABELS, errorCode, formatCount, formatDate, newIdempotencyKey, useDebounced, useLoad } from './api';
import { Confirm, ErrorLine, Field, Modal, SecretDialog } from './ui';

interface DialogProps {
  client: Client;
  onClose: () => void;
  /** After a change: a line for the notice area. */
  onDone: (text: string) => void;
}

const DAY_MS = 86_400_000;
const dateInput = (iso: string) => iso.slice(0, 10);
/** The end of the chosen day (UTC), so a key chosen to expire "on" a day works through it. */
const endOfDay = (day: string) => new Date(`${day}T23:59:59.000Z`).toISOString();
const splitNames = (text: string) => text.split(',').map((name) => name.trim()).filter(Boolean);

/** The account's teams as checkboxes (searchable), and new team names typed beside them. */
function TeamPicker(props: { client: Client; chosen: Set<string>; onChange: (ids: Set<string>) => void; legend: string; newNames?: string; onNewNames?: (text: string) => void }) {
  const [search, setSearch] = useState('');
  const term = useDebounced(search, 200);
  const teams = useLoad(`teams|${term}`, (signal) => props.client.request(TeamsDocument, { first: 100, ...(term ? { search: term } : {}) }, { signal }));
  const listId = useId();
  function toggle(id: string) {
    const next = new Set(props.chosen);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    props.onChange(next);
  }
  return (
    <fieldset>
      <legend>{props.legend}</legend>
      <input type="search" aria-label={`Search teams (${props.legend})`} placeholder="Search teams…" value={search} onChange={(e) => setSearch(e.target.value)} />
      <div className="choices" id={listId}>
        {teams.data?.teams.edges.map(({ node }) => (
          <label key={node.id} className="option">
            <input type="checkbox" checked={props.chosen.has(node.id)} onChange={() => toggle(node.id)} /> {node.name}
          </label>
        ))}
        {teams.data && teams.data.teams.edges.length === 0 && <span className="muted">No team{term ? ` named like “${term}”` : ' yet'}.</span>}
      </div>
      {props.onNewNames && (
        <Field label="New teams" hint="Names separated by commas; an existing team of that name is reused.">
          <input value={props.newNames ?? ''} onChange={(e) => props.onNewNames?.(e.target.value)} />
        </Field>
      )}
      <ErrorLine error={teams.error} />
    </fieldset>
  );
}

/** The developer: picked from those who worked in the instance, or a new name typed. */
function DeveloperField(props: { client: Client; instanceId: string; value: string; onChange: (name: string) => void }) {
  const term = useDebounced(props.value, 200);
  const developers = useLoad(`devs|${props.instanceId}|${term}`, (signal) => props.instanceId
    ? props.client.request(DevelopersDocument, { instanceId: props.instanceId, first: 20, ...(term ? { search: term } : {}) }, { signal })
    : Promise.resolve(null));
  const listId = useId();
  const known = developers.data?.developers.edges.map((e) => e.node) ?? [];
  const isNew = props.value.trim() !== '' && developers.data && !known.some((d) => d.name.toLowerCase() === props.value.trim().toLowerCase());
  return (
    <>
      <Field label="Developer" hint={isNew ? `“${props.value.trim()}” is new: the developer is created with the key.` : 'Pick one who worked in this instance, or type a new name.'}>
        <input list={listId} value={props.value} required disabled={!props.instanceId} onChange={(e) => props.onChange(e.target.value)} autoComplete="off" />
      </Field>
      <datalist id={listId}>
        {known.map((d) => <option key={d.id} value={d.name}>{d.active ? '' : 'inactive'}</option>)}
      </datalist>
    </>
  );
}

/** The developer input for a typed name: the account's developer of that name, or a new one. */
const developerInput = (name: string): DeveloperInput => ({ name: name.trim() });

export function AddKeyDialog(props: DialogProps) {
  const { client } = props;
  const [idempotencyKey] = useState(newIdempotencyKey);
  const [cloud, setCloud] = useState<Cloud | ''>('');
  const [instanceId, setInstanceId] = useState('');
  const [channelId, setChannelId] = useState('');
  const [developer, setDeveloper] = useState('');
  const [name, setName] = useState('');
  const [teamIds, setTeamIds] = useState<Set<string>>(new Set());
  const [newTeams, setNewTeams] = useState('');
  const [expires, setExpires] = useState(() => dateInput(new Date(Date.now() + 365 * DAY_MS).toISOString()));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<{ name: string; secret: string } | null>(null);

  const instances = useLoad(`instances|${cloud}`, (signal) => cloud ? client.request(InstancesDocument, { cloud }, { signal }) : Promise.resolve(null));
  const instance = instances.data?.instances.find((i) => i.id === instanceId);

  async function submit() {
    setBusy(true);
    setError(null);
    try {
      const { createApiKey } = await client.request(CreateApiKeyDocument, {
        input: {
          name: name.trim(), instanceId, channelId, developer: developerInput(developer),
          teamIds: [...teamIds], newTeamNames: splitNames(newTeams), expiresAt: endOfDay(expires),
        },
      }, { idempotencyKey });
      setCreated({ name: createApiKey.apiKey.name, secret: createApiKey.secret });
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

  if (created) {
    return <SecretDialog title="API key added" keyName={created.name} secret={created.secret} onClose={() => props.onDone(`Added ${created.name}.`)} />;
  }
  return (
    <Modal title="Add API key" onClose={props.onClose} wide>
      <form onSubmit={(e) => { e.preventDefault(); void submit(); }}>
        <div className="grid">
          <Field label="Cloud">
            <select value={cloud} required onChange={(e) => { setCloud(e.target.value as Cloud); setInstanceId(''); setChannelId(''); }}>
              <option value="">Choose a cloud…</option>
              {Object.entries(CLOUD_LABELS).map(([value, label]) => <option key={value} value={value}>{label}</option>)}
            </select>
          </Field>
          <Field label="Instance">
            <select value={instanceId} required disabled={!cloud} onChange={(e) => { setInstanceId(e.target.value); setChannelId(''); }}>
              <option value="">{cloud ? 'Choose an instance…' : 'Choose a cloud first'}</option>
              {instances.data?.instances.map((i) => <option key={i.id} value={i.id}>{i.name}</option>)}
            </select>
          </Field>
          {cloud && instances.data?.instances.length === 0 && (
            <p className="notice wide">This account has no {CLOUD_LABELS[cloud]} instance yet. Create one first (CLI: <code>qckeys instances create</code>, or the <code>createInstance</code> mutation).</p>
          )}
          <Field label="Channel">
            <select value={channelId} required disabled={!instance} onChange={(e) => setChannelId(e.target.value)}>
              <option value="">{instance ? 'Choose a channel…' : 'Choose an instance first'}</option>
              {instance?.channels.map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
            </select>
          </Field>
          {instance && instance.channels.length === 0 && <p className="notice wide">{instance.name} offers no channel yet: add one to the instance first.</p>}
          <DeveloperField client={client} instanceId={instanceId} value={developer} onChange={setDeveloper} />
          <Field label="Key name" hint="1 to 100 characters, unique in the instance.">
            <input value={name} required maxLength={100} onChange={(e) => setName(e.target.value)} />
          </Field>
          <Field label="Expiration date" hint="The key stops verifying at the end of this day (UTC).">
            <input type="date" value={expires} required onChange={(e) => setExpires(e.target.value)} />
          </Field>
        </div>
        <TeamPicker client={client} legend="Teams" chosen={teamIds} onChange={setTeamIds} newNames={newTeams} onNewNames={setNewTeams} />
        <ErrorLine error={error} />
        <footer>
          <button type="button" onClick={props.onClose}>Cancel</button>
          <button type="submit" className="primary" disabled={busy}>{busy ? 'Adding…' : 'Add API key'}</button>
        </footer>
      </form>
    </Modal>
  );
}

export function EditKeyDialog(props: DialogProps & { apiKey: ApiKeyFieldsFragment }) {
  const { client } = props;
  const [base, setBase] = useState(props.apiKey);
  const [name, setName] = useState(base.name);
  const [channelId, setChannelId] = useState(base.channel.id);
  const [developer, setDeveloper] = useState(base.developer.name);
  const [teamIds, setTeamIds] = useState(() => new Set(base.teams.map((t) => t.id)));
  const [expires, setExpires] = useState(dateInput(base.expiresAt));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const instances = useLoad(`instances|${base.cloud}`, (signal) => client.request(InstancesDocument, { cloud: base.cloud }, { signal }));
  const channels = instances.data?.instances.find((i) => i.id === base.instance.id)?.channels ?? [base.channel];

  function reset(key: ApiKeyFieldsFragment) {
    setBase(key);
    setName(key.name);
    setChannelId(key.channel.id);
    setDeveloper(key.developer.name);
    setTeamIds(new Set(key.teams.map((t) => t.id)));
    setExpires(dateInput(key.expiresAt));
  }

  /** Only what the user changed, with the version read: someone else's change meanwhile is a CONFLICT. */
  const input = useMemo(() => {
    const change: UpdateApiKeyInput = { id: base.id, expectedVersion: base.version };
    if (name.trim() !== base.name) change.name = name.trim();
    if (channelId !== base.channel.id) change.channelId = channelId;
    if (developer.trim().toLowerCase() !== base.developer.name.toLowerCase()) change.developer = developerInput(developer);
    const before = base.teams.map((t) => t.id).sort().join(',');
    if ([...teamIds].sort().join(',') !== before) change.teamIds = [...teamIds];
    if (expires !== dateInput(base.expiresAt)) change.expiresAt = endOfDay(expires);
    return change;
  }, [base, name, channelId, developer, teamIds, expires]);
  const unchanged = Object.keys(input).length === 2;

  async function submit() {
    setBusy(true);
    setError(null);
    try {
      const { updateApiKey } = await client.request(UpdateApiKeyDocument, { input });
      props.onDone(`Saved ${updateApiKey.apiKey.name}.`);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }
  async function reload() {
    const { apiKey } = await client.request(ApiKeyDocument, { id: base.id });
    if (apiKey) {
      reset(apiKey);
      setError(null);
    }
  }

  return (
    <Modal title={`Edit ${base.name}`} onClose={props.onClose} wide>
      <form onSubmit={(e) => { e.preventDefault(); void submit(); }}>
        <div className="grid">
          <Field label="Key name"><input value={name} required maxLength={100} onChange={(e) => setName(e.target.value)} /></Field>
          <Field label="Instance" hint="A key stays bound to its instance."><input value={`${base.instance.name} (${CLOUD_LABELS[base.cloud]})`} readOnly /></Field>
          <Field label="Channel">
            <select value={channelId} onChange={(e) => setChannelId(e.target.value)}>
              {channels.map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
            </select>
          </Field>
          <DeveloperField client={client} instanceId={base.instance.id} value={developer} onChange={setDeveloper} />
          <Field label="Expiration date"><input type="date" value={expires} required onChange={(e) => setExpires(e.target.value)} /></Field>
        </div>
        <TeamPicker client={client} legend="Teams" chosen={teamIds} onChange={setTeamIds} />
        {errorCode(error) === 'CONFLICT'
          ? (
            <div role="alert" className="error">
              Someone else changed this key while you were editing it; nothing was saved.{' '}
              <button type="button" className="link" onClick={() => void reload()}>Load their version</button> and make your change again.
            </div>
          )
          : <ErrorLine error={error} />}
        <footer>
          <button type="button" onClick={props.onClose}>Cancel</button>
          <button type="submit" className="primary" disabled={busy || unchanged}>{busy ? 'Saving…' : 'Save'}</button>
        </footer>
      </form>
    </Modal>
  );
}

const GRACE_PERIODS: [number, string][] = [[0, 'None: the old secret stops at once'], [3600, '1 hour'], [86_400, '1 day'], [7 * 86_400, '7 days']];

export function RenewDialog(props: DialogProps & { apiKey: ApiKeyFieldsFragment }) {
  const [idempotencyKey] = useState(newIdempotencyKey);
  const [grace, setGrace] = useState(0);
  const [renewed, setRenewed] = useState<string | null>(null);
  if (renewed) return <SecretDialog title="API key renewed" keyName={props.apiKey.name} secret={renewed} onClose={() => props.onDone(`Renewed ${props.apiKey.name}.`)} />;
  return (
    <Confirm title={`Renew ${props.apiKey.name}?`} confirmLabel="Renew" onClose={props.onClose} onConfirm={async () => {
      const { renewApiKey } = await props.client.request(RenewApiKeyDocument, { input: { id: props.apiKey.id, gracePeriodSeconds: grace } }, { idempotencyKey });
      setRenewed(renewApiKey.secret);
    }}>
      <p>The key gets a new secret. Systems using the old one need the new one.</p>
      <Field label="Grace period" hint="How long the old secret keeps verifying.">
        <select value={grace} onChange={(e) => setGrace(Number(e.target.value))}>
          {GRACE_PERIODS.map(([seconds, label]) => <option key={seconds} value={seconds}>{label}</option>)}
        </select>
      </Field>
    </Confirm>
  );
}

export function RevokeDialog(props: DialogProps & { apiKey: ApiKeyFieldsFragment }) {
  const [idempotencyKey] = useState(newIdempotencyKey);
  const [reason, setReason] = useState('');
  return (
    <Confirm title={`Revoke ${props.apiKey.name}?`} confirmLabel="Revoke" danger onClose={props.onClose} onConfirm={async () => {
      await props.client.request(RevokeApiKeyDocument, { input: { id: props.apiKey.id, ...(reason.trim() ? { reason: reason.trim() } : {}) } }, { idempotencyKey });
      props.onDone(`Revoked ${props.apiKey.name}.`);
    }}>
      <p>Revoking is final: no secret of this key verifies again. Its history is kept.</p>
      <Field label="Reason" hint="Kept in the key's history.">
        <textarea value={reason} maxLength={500} onChange={(e) => setReason(e.target.value)} />
      </Field>
    </Confirm>
  );
}

export function DeleteDialog(props: DialogProps & { apiKey: ApiKeyFieldsFragment }) {
  const [idempotencyKey] = useState(newIdempotencyKey);
  return (
    <Confirm title={`Delete ${props.apiKey.name}?`} confirmLabel="Delete" danger onClose={props.onClose} onConfirm={async () => {
      await props.client.request(DeleteApiKeyDocument, { input: { id: props.apiKey.id } }, { idempotencyKey });
      props.onDone(`Deleted ${props.apiKey.name}.`);
    }}>
      <p>The key ({props.apiKey.status.toLowerCase()}, expires {formatDate(props.apiKey.expiresAt)}) leaves the list and stops verifying. Its events stay in the account's audit trail.</p>
    </Confirm>
  );
}

/** Manage Teams, Revoke selected and Delete selected, on the chosen IDs or on all matching but a few. */
export function BulkDialog(props: DialogProps & {
  action: 'teams' | 'revoke' | 'delete';
  count: number;
  input: { apiKeyIds?: string[]; filter?: ApiKeyFilter; exceptIds?: string[] };
}) {
  const { client, input, count } = props;
  const [idempotencyKey] = useState(newIdempotencyKey);
  const [reason, setReason] = useState('');
  const [add, setAdd] = useState<Set<string>>(new Set());
  const [remove, setRemove] = useState<Set<string>>(new Set());
  const [newTeams, setNewTeams] = useState('');
  const keys = `${formatCount(count)} key${count === 1 ? '' : 's'}`;

  if (props.action === 'revoke') {
    return (
      <Confirm title={`Revoke ${keys}?`} confirmLabel={`Revoke ${keys}`} danger onClose={props.onClose} onConfirm={async () => {
        const { revokeApiKeys } = await client.request(RevokeApiKeysDocument, { input: { ...input, ...(reason.trim() ? { reason: reason.trim() } : {}) } }, { idempotencyKey });
        props.onDone(`Revoked ${revokeApiKeys.revokedCount} key(s)${revokeApiKeys.alreadyRevokedCount ? `; ${revokeApiKeys.alreadyRevokedCount} were revoked already` : ''}.`);
      }}>
        <p>Revoking is final for every selected key. Keys revoked already keep their reason.</p>
        <Field label="Reason" hint="Kept in each key's history."><textarea value={reason} maxLength={500} onChange={(e) => setReason(e.target.value)} /></Field>
      </Confirm>
    );
  }
  if (props.action === 'delete') {
    return (
      <Confirm title={`Delete ${keys}?`} confirmLabel={`Delete ${keys}`} danger onClose={props.onClose} onConfirm={async () => {
        const { deleteApiKeys } = await client.request(DeleteApiKeysDocument, { input }, { idempotencyKey });
        props.onDone(`Deleted ${deleteApiKeys.deletedCount} key(s).`);
      }}>
        <p>The selected keys leave the list and stop verifying. Their events stay in the audit trail.</p>
      </Confirm>
    );
  }
  const nothing = add.size === 0 && remove.size === 0 && splitNames(newTeams).length === 0;
  return (
    <Confirm title={`Manage the teams of ${keys}`} confirmLabel={`Apply to ${keys}`} onClose={props.onClose} onConfirm={async () => {
      if (nothing) throw new Error('Choose a team to add or remove.');
      const { updateApiKeyTeams } = await client.request(UpdateApiKeyTeamsDocument, {
        input: { ...input, addTeamIds: [...add], removeTeamIds: [...remove], addNewTeamNames: splitNames(newTeams) },
      }, { idempotencyKey });
      props.onDone(`Changed the teams of ${updateApiKeyTeams.updatedCount} key(s).`);
    }}>
      <div className="grid">
        <TeamPicker client={client} legend="Add to teams" chosen={add} onChange={setAdd} newNames={newTeams} onNewNames={setNewTeams} />
        <TeamPicker client={client} legend="Remove from teams" chosen={remove} onChange={setRemove} />
      </div>
    </Confirm>
  );
}
