/**
 * The reference admin console: the API Keys tab built only on the public GraphQL API and the
 * @qckeys/client package, so a frontend team can copy it. Bundled at build time
 * (scripts/build-console.ts) and served by the service at /console (src/console.ts).
 */
import { useEffect, useMemo, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { ViewerDocument, type Client } from '@qckeys/client';
import { errorCode, makeClient, readConfig, useLoad, useParams } from './api';
import { DevelopersTab } from './developers';
import { AuditTab } from './history';
import { KeysTab } from './keys';
import { UsageTab } from './usage';
import { ErrorLine, Field } from './ui';
import './console.css';

const config = readConfig();
// the pasted token lives for this browser tab only
const TOKEN_STORE = 'qckeys-console-token';

const TABS = [['keys', 'API Keys'], ['developers', 'Developers'], ['usage', 'Usage'], ['audit', 'Audit trail']] as const;
type Tab = (typeof TABS)[number][0];

function TokenForm(props: { error: unknown; onToken: (token: string) => void }) {
  const [text, setText] = useState('');
  return (
    <main className="signin">
      <h1>qckeys console</h1>
      <form onSubmit={(e) => { e.preventDefault(); if (text.trim()) props.onToken(text.trim().replace(/^Bearer\s+/i, '')); }}>
        <Field label="Bearer token" hint="A JWT of your account with role admin (every action) or viewer (read only). It is kept for this browser tab only.">
          <textarea value={text} required rows={4} onChange={(e) => setText(e.target.value)} autoFocus />
        </Field>
        <ErrorLine error={props.error} />
        <button type="submit" className="primary">Open the console</button>
      </form>
    </main>
  );
}

function Console(props: { client: Client; onSignOut: () => void; onAuthError: (err: unknown) => void }) {
  const { client } = props;
  const [params, setParams] = useParams();
  const [notice, setNotice] = useState('');
  const viewer = useLoad('viewer', (signal) => client.request(ViewerDocument, undefined, { signal }));
  useEffect(() => {
    if (errorCode(viewer.error) === 'UNAUTHENTICATED') props.onAuthError(viewer.error);
  }, [viewer.error]);
  const tab: Tab = TABS.find(([t]) => t === params.get('tab'))?.[0] ?? 'keys';
  const who = viewer.data?.viewer;
  const canWrite = who?.roles.includes('admin') ?? false;

  return (
    <div className="app">
      <header className="top">
        <h1>qckeys</h1>
        <nav aria-label="Sections">
          {TABS.map(([t, label]) => (
            <a key={t} href={`?tab=${t}`} aria-current={tab === t ? 'page' : undefined}
              onClick={(e) => { e.preventDefault(); setParams((p) => { [...p.keys()].forEach((k) => p.delete(k)); if (t !== 'keys') p.set('tab', t); }); }}>{label}</a>
          ))}
        </nav>
        <span className="who">{who ? `${who.subject} · ${who.accountId} · ${canWrite ? 'admin' : 'read only'}` : ''}</span>
        <button type="button" onClick={props.onSignOut}>Change token</button>
      </header>
      <p role="status" aria-live="polite" className="notice">{notice}</p>
      <ErrorLine error={viewer.error} />
      {/* the tab loads beside the viewer query; write actions show once the roles are known */}
      {!(errorCode(viewer.error) === 'UNAUTHENTICATED') && (
        <main>
          {tab === 'keys' && <KeysTab client={client} canWrite={canWrite} notify={setNotice} />}
          {tab === 'developers' && <DevelopersTab client={client} canWrite={canWrite} notify={setNotice} />}
          {tab === 'usage' && <UsageTab client={client} />}
          {tab === 'audit' && <AuditTab client={client} />}
        </main>
      )}
    </div>
  );
}

function App() {
  const [token, setToken] = useState(() => sessionStorage.getItem(TOKEN_STORE) ?? config.devToken);
  const [authError, setAuthError] = useState<unknown>(null);
  const client = useMemo(() => (token ? makeClient(config.endpoint, token) : null), [token]);
  function use(next: string) {
    sessionStorage.setItem(TOKEN_STORE, next);
    setAuthError(null);
    setToken(next);
  }
  function signOut(err: unknown = null) {
    sessionStorage.removeItem(TOKEN_STORE);
    setAuthError(err);
    setToken('');
  }
  if (!client) return <TokenForm error={authError} onToken={use} />;
  return <Console key={token} client={client} onSignOut={() => signOut()} onAuthError={signOut} />;
}

createRoot(document.getElementById('console')!).render(<App />);
