import { useState } from 'preact/hooks';
import { ApiError, fetchViewer, session, type Viewer } from '../api';

export function SignIn({ notice, onSignedIn }: { notice: string | null; onSignedIn: (viewer: Viewer) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(notice);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const trimmed = key.trim();
    if (!trimmed) {
      setError('Enter an API key (cl_…).');
      return;
    }
    setBusy(true);
    try {
      const viewer = await fetchViewer(trimmed);
      session.signIn(trimmed);
      onSignedIn(viewer);
    } catch (err) {
      const e = err as ApiError;
      setError(e.code === 'UNAUTHENTICATED' ? 'This API key is not valid: it may be mistyped, revoked or rotated.' : e.message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="content" class="sign-in">
      <h1>Custody Ledger</h1>
      <p>Sign in with your API key. It is kept for this browser tab only and sent to this service alone.</p>
      <form onSubmit={(e) => void submit(e)} novalidate>
        <label for="api-key">API key</label>
        <input id="api-key" name="api-key" type="password" autocomplete="off" spellcheck={false} value={key} onInput={(e) => setKey((e.target as HTMLInputElement).value)} aria-describedby={error ? 'sign-in-error' : undefined} aria-invalid={error ? true : undefined} />
        {error ? (
          <p id="sign-in-error" class="problem" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
