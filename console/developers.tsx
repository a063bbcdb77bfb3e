/** The account's developers, and deactivation: refused while they hold active keys, unless those are revoked with it. */
import { useState } from 'react';
import { ApiKeysDocument, DeactivateDeveloperDocument, DevelopersDocument, type Client, type DeveloperFieldsFragment } from '@qckeys/client';
import { formatCount, newIdempotencyKey, useDebounced, useLoad } from './api';
import { Confirm, CursorPager, ErrorLine, Field, useCursorStack } from './ui';

export function DevelopersTab(props: { client: Client; canWrite: boolean; notify: (text: string) => void }) {
  const { client } = props;
  const [searchText, setSearchText] = useState('');
  const search = useDebounced(searchText.trim(), 200);
  const pages = useCursorStack();
  const [deactivating, setDeactivating] = useState<DeveloperFieldsFragment | null>(null);
  const { cursor } = pages;
  const developers = useLoad(`developers|${search}|${cursor ?? ''}`, (signal) =>
    client.request(DevelopersDocument, { first: 50, ...(search ? { search } : {}), ...(cursor ? { after: cursor } : {}) }, { signal }));
  const connection = developers.data?.developers;
  return (
    <section aria-label="Developers">
      <div className="toolbar">
        <Field inline label="Search developers">
          <input type="search" value={searchText} onChange={(e) => { setSearchText(e.target.value); pages.reset(); }} />
        </Field>
        <span role="status">{connection ? `${formatCount(connection.totalCount)} developers` : 'Loading…'}</span>
        <CursorPager stack={pages} pageInfo={connection?.pageInfo} back="‹ Previous" forward="Next ›" />
      </div>
      <ErrorLine error={developers.error} />
      <table>
        <thead><tr><th scope="col">Name</th><th scope="col">Instances</th><th scope="col">Active keys</th><th scope="col">Status</th>{props.canWrite && <th scope="col">Actions</th>}</tr></thead>
        <tbody>
          {connection?.edges.map(({ node }) => (
            <tr key={node.id}>
              <td>{node.name}</td>
              <td>{node.instances.map((i) => i.name).join(', ')}</td>
              <td>{node.activeApiKeyCount}</td>
              <td>{node.active ? 'Active' : <span className="muted">Deactivated</span>}</td>
              {props.canWrite && (
                <td className="actions">
                  {node.active && <button type="button" aria-label={`Deactivate ${node.name}`} onClick={() => setDeactivating(node)}>Deactivate</button>}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {connection?.totalCount === 0 && <p className="empty" role="status">{search ? 'No developer matches.' : 'No developers yet: adding a key with a new developer name creates one.'}</p>}
      {deactivating && (
        <DeactivateDialog client={client} developer={deactivating} onClose={() => setDeactivating(null)}
          onDone={(text) => { setDeactivating(null); props.notify(text); developers.reload(); }} />
      )}
    </section>
  );
}

/** Lists the developer's active keys, which must be revoked first; offers to revoke them with the deactivation. */
function DeactivateDialog(props: { client: Client; developer: DeveloperFieldsFragment; onClose: () => void; onDone: (text: string) => void }) {
  const { client, developer } = props;
  const [idempotencyKey] = useState(newIdempotencyKey);
  const active = useLoad(`active|${developer.id}`, (signal) => client.request(ApiKeysDocument, {
    filter: { developerIds: [developer.id], statuses: ['ACTIVE'] }, orderBy: { field: 'NAME', direction: 'ASC' }, first: 100,
  }, { signal }));
  const keys = active.data?.apiKeys;
  const count = keys?.totalCount ?? developer.activeApiKeyCount;
  return (
    <Confirm title={`Deactivate ${developer.name}?`} danger onClose={props.onClose}
      confirmLabel={count > 0 ? `Revoke ${count} key${count === 1 ? '' : 's'} and deactivate` : 'Deactivate'}
      onConfirm={async () => {
        const { deactivateDeveloper } = await client.request(DeactivateDeveloperDocument, { input: { id: developer.id, revokeApiKeys: count > 0 } }, { idempotencyKey });
        const revoked = deactivateDeveloper.revokedApiKeys.length;
        props.onDone(`Deactivated ${developer.name}${revoked ? ` and revoked ${revoked} key(s)` : ''}.`);
      }}>
      {count > 0
        ? (
          <>
            <p role="alert" className="warning">{developer.name} still holds {count} active key{count === 1 ? '' : 's'}. A developer with active keys cannot be deactivated: these must be revoked first.</p>
            <ul className="keylist">
              {keys?.edges.map(({ node }) => <li key={node.id}>{node.name} <span className="muted">({node.instance.name}, {node.channel.name})</span></li>)}
              {keys && keys.totalCount > keys.edges.length && <li>…and {keys.totalCount - keys.edges.length} more</li>}
            </ul>
          </>
        )
        : <p>{developer.name} holds no active key. Deactivated developers are no longer offered for new keys.</p>}
      <ErrorLine error={active.error} />
    </Confirm>
  );
}
