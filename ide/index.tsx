/**
 * The in-service GraphQL IDE: GraphiQL, bundled at build time (scripts/build-ide.ts) and served by
 * the service itself (src/ide.ts), so it needs no network access beyond the service.
 */
import { useEffect, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { useGraphiQLActions } from '@graphiql/react';
import 'graphiql/style.css';
import './ide.css';

/** What the service writes into the page (see `src/ide.ts`). */
interface IdeConfig {
  endpoint: string;
  headers: string;
  workers: { editor: string; json: string; graphql: string };
}

function readConfig(): IdeConfig {
  const element = document.getElementById('qckeys-ide-config');
  return JSON.parse(element?.textContent ?? '{}') as IdeConfig;
}

const config = readConfig();

// Monaco runs its language services in web workers; they are bundled next to this script.
(globalThis as unknown as { MonacoEnvironment: unknown }).MonacoEnvironment = {
  getWorker(_workerId: string, label: string): Worker {
    const url = label === 'json' ? config.workers.json : label === 'graphql' ? config.workers.graphql : config.workers.editor;
    return new Worker(url, { name: label });
  },
};

type FetcherParams = { query: string; operationName?: string | null; variables?: Record<string, unknown> | null };

/** Plain JSON POSTs to the service (Apollo's CSRF prevention accepts `content-type: application/json`). */
async function fetcher(params: FetcherParams, opts?: { headers?: Record<string, unknown> }): Promise<unknown> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
  for (const [name, value] of Object.entries(opts?.headers ?? {})) {
    if (value != null) headers[name] = String(value);
  }
  const res = await fetch(config.endpoint, { method: 'POST', headers, body: JSON.stringify(params), credentials: 'omit' });
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return { errors: [{ message: `HTTP ${res.status}: ${text.slice(0, 500)}` }] };
  }
}

/**
 * Every request needs a bearer token, so the schema (for completion and the docs) can only be
 * loaded once one is in the headers pane: fetch it again whenever the headers change.
 */
function Logo({ headers }: { headers: string }) {
  const { introspect } = useGraphiQLActions();
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return undefined;
    }
    const timer = setTimeout(() => void introspect(), 600);
    return () => clearTimeout(timer);
  }, [headers, introspect]);
  return <span className="qckeys-logo">qckeys</span>;
}

function App() {
  const [headers, setHeaders] = useState(config.headers);
  return (
    <GraphiQL
      fetcher={fetcher as never}
      defaultHeaders={config.headers}
      defaultEditorToolsVisibility="headers"
      onEditHeaders={setHeaders}
      defaultQuery={'# Put your bearer token in the Headers pane below, then run a query, e.g.\n#\n# query { viewer { subject accountId roles } }\n'}
    >
      <GraphiQL.Logo>
        <Logo headers={headers} />
      </GraphiQL.Logo>
    </GraphiQL>
  );
}

const root = document.getElementById('graphiql');
if (root) createRoot(root).render(<App />);
