/** The console's building blocks: a modal dialog, error and notice lines, the one-time secret. */
import { cloneElement, useEffect, useId, useRef, useState, type ReactElement, type ReactNode } from 'react';
import { describeError } from './api';

/**
 * A modal `<dialog>`: the browser keeps focus inside it and closes it on Escape; focus moves to
 * its first field (or button) when it opens.
 */
export function Modal(props: { title: string; onClose: () => void; children: ReactNode; wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const onClose = useRef(props.onClose);
  onClose.current = props.onClose;
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    dialog.showModal();
    const first = dialog.querySelector<HTMLElement>('input:not([type=hidden]), select, textarea, .primary');
    first?.focus();
    const cancel = (event: Event) => {
      event.preventDefault();
      onClose.current();
    };
    dialog.addEventListener('cancel', cancel);
    return () => {
      dialog.removeEventListener('cancel', cancel);
      dialog.close();
    };
  }, []);
  return (
    <dialog ref={ref} aria-labelledby={titleId} className={props.wide ? 'wide' : undefined}>
      <header>
        <h2 id={titleId}>{props.title}</h2>
        <button type="button" className="icon" aria-label="Close" onClick={props.onClose}>×</button>
      </header>
      {props.children}
    </dialog>
  );
}

export function ErrorLine({ error }: { error: unknown }) {
  if (!error) return null;
  return <p role="alert" className="error">{describeError(error)}</p>;
}

/**
 * A labelled control: the label names it (and only it: not its options or hint), the hint
 * describes it. `children` is the one control.
 */
export function Field(props: { label: string; hint?: string; inline?: boolean; children: ReactElement<{ id?: string; 'aria-describedby'?: string }> }) {
  const id = useId();
  const hintId = `${id}-hint`;
  const control = cloneElement(props.children, { id, ...(props.hint ? { 'aria-describedby': hintId } : {}) });
  return (
    <div className={props.inline ? 'inline' : 'field'}>
      <label htmlFor={id}>{props.label}</label>
      {control}
      {props.hint && <small id={hintId}>{props.hint}</small>}
    </div>
  );
}

/** The secret of a new or renewed key, shown this once with a copy button; dropped when closed. */
export function SecretDialog(props: { title: string; keyName: string; secret: string; onClose: () => void }) {
  const [copied, setCopied] = useState<'yes' | 'failed' | null>(null);
  const field = useRef<HTMLInputElement>(null);
  async function copy() {
    try {
      await navigator.clipboard.writeText(props.secret);
      setCopied('yes');
    } catch {
      // no clipboard permission: select the text so Ctrl+C copies it
      field.current?.select();
      setCopied('failed');
    }
  }
  return (
    <Modal title={props.title} onClose={props.onClose}>
      <p>The secret of <strong>{props.keyName}</strong>. Copy it now: <strong>you will not see it again</strong> (only a digest is stored).</p>
      <div className="secret">
        <input ref={field} readOnly aria-label="Secret" value={props.secret} onFocus={(e) => e.currentTarget.select()} />
        <button type="button" className="primary" onClick={() => void copy()}>Copy</button>
      </div>
      <p role="status" className="notice">{copied === 'yes' ? 'Copied to the clipboard.' : copied === 'failed' ? 'The clipboard is not available: the secret is selected, press Ctrl+C.' : ''}</p>
      <footer><button type="button" onClick={props.onClose}>Done</button></footer>
    </Modal>
  );
}

/** A confirmation: the action runs on the confirm button, errors stay in the dialog. */
export function Confirm(props: {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => Promise<void>;
  onClose: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  async function run() {
    setBusy(true);
    setError(null);
    try {
      await props.onConfirm();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }
  return (
    <Modal title={props.title} onClose={props.onClose}>
      <form onSubmit={(e) => { e.preventDefault(); void run(); }}>
        {props.children}
        <ErrorLine error={error} />
        <footer>
          <button type="button" onClick={props.onClose}>Cancel</button>
          <button type="submit" className={props.danger ? 'primary danger' : 'primary'} disabled={busy}>{busy ? 'Working…' : props.confirmLabel}</button>
        </footer>
      </form>
    </Modal>
  );
}

/** Forward paging by cursor, with a way back: the end cursors of the pages passed, the last one the page shown. */
export function useCursorStack() {
  const [cursors, setCursors] = useState<string[]>([]);
  return {
    /** The cursor of the page shown (undefined: the first page). */
    cursor: cursors.at(-1),
    /** Back to the first page (the filter changed). */
    reset: () => setCursors([]),
    back: () => setCursors((c) => c.slice(0, -1)),
    forward: (endCursor: string) => setCursors((c) => [...c, endCursor]),
    atFirst: cursors.length === 0,
  };
}

/** The back and forward buttons of a page read with {@link useCursorStack}. */
export function CursorPager(props: {
  stack: ReturnType<typeof useCursorStack>; pageInfo: { hasNextPage: boolean; endCursor?: string | null } | undefined; back: string; forward: string;
}) {
  const { stack, pageInfo } = props;
  return (
    <>
      <button type="button" disabled={stack.atFirst} onClick={stack.back}>{props.back}</button>
      <button type="button" disabled={!pageInfo?.hasNextPage} onClick={() => stack.forward(pageInfo?.endCursor ?? '')}>{props.forward}</button>
    </>
  );
}
