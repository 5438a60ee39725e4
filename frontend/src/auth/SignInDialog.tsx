/**
 * Sign in or register. When the session expired it says so and signs back in over the page,
 * so a half-drawn area or a filled-in form is still there afterwards.
 */
import { useEffect, useRef, useState, type FormEvent } from "react";
import { useAuth, useCapabilities, useServices } from "../app/context";
import { describeError } from "../api/errors";

const expiredSignIn = (status: string, mode: string | null) => status === "expired" && mode === "sign-in";

const PROVIDER_NAMES: Record<string, string> = { google: "Google", github: "GitHub" };

/** "Continue with Google/GitHub" for the providers the server is configured for. */
function OAuthButtons() {
  const { client } = useServices();
  const capabilities = useCapabilities();
  const [providers, setProviders] = useState<string[]>([]);
  const offered = capabilities?.has("get", "/auth/oauth/providers") ?? false;
  useEffect(() => {
    if (offered) client.oauthProviders().then(setProviders, () => setProviders([]));
  }, [client, offered]);
  if (providers.length === 0) return null;
  return (
    <div className="oauth">
      {providers.map((p) => (
        <a key={p} className="button" href={client.oauthLoginUrl(p)}>
          Continue with {PROVIDER_NAMES[p] ?? p}
        </a>
      ))}
    </div>
  );
}

export function SignInDialog() {
  const auth = useAuth();
  const mode = auth.dialog;
  const [email, setEmail] = useState(auth.user?.email ?? "");
  const [secret, setSecret] = useState("");
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [registered, setRegistered] = useState(false);
  const first = useRef<HTMLInputElement>(null);
  const password = useRef<HTMLInputElement>(null);

  // Each time the dialog opens (or switches form): clear the error, offer the known email, and
  // put the cursor where typing starts (the password, when only the session ended).
  useEffect(() => {
    setError(null);
    if (auth.user?.email) setEmail((current) => current || auth.user!.email);
    (expiredSignIn(auth.status, mode) ? password.current : first.current)?.focus();
  }, [mode]);

  if (mode === null) return null;
  const expired = auth.status === "expired";

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === "register") {
        await auth.register(email, secret, name);
        setRegistered(true);
      } else {
        await auth.signIn(email, secret);
      }
      setSecret("");
    } catch (caught) {
      setError(describeError(caught));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="dialog-backdrop">
      <form className="dialog" onSubmit={submit} aria-labelledby="auth-title" data-testid="auth-dialog">
        <h2 id="auth-title">{mode === "register" ? "Create an account" : expired ? "Your session has ended" : "Sign in"}</h2>
        {expired && mode === "sign-in" ? (
          <p className="hint">Sign in again to carry on; everything on the page stays as it is.</p>
        ) : null}
        {registered ? <p className="hint">Account created.</p> : null}
        {mode === "register" ? (
          <label>
            Name
            <input ref={first} value={name} onChange={(e) => setName(e.target.value)} autoComplete="name" maxLength={200} />
          </label>
        ) : null}
        <label>
          Email
          <input
            ref={mode === "register" ? undefined : first}
            type="email"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            autoComplete="email"
          />
        </label>
        <label>
          Password
          <input
            ref={password}
            type="password"
            required
            minLength={mode === "register" ? 8 : 1}
            value={secret}
            onChange={(e) => setSecret(e.target.value)}
            autoComplete={mode === "register" ? "new-password" : "current-password"}
          />
        </label>
        <OAuthButtons />
        {error ? (
          <p className="form-error" role="alert">
            {error}
          </p>
        ) : null}
        <div className="dialog-actions">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? "…" : mode === "register" ? "Create account" : "Sign in"}
          </button>
          {!expired ? (
            <button type="button" onClick={() => auth.openDialog(null)}>
              Cancel
            </button>
          ) : null}
        </div>
        <p className="switch">
          {mode === "register" ? (
            <>
              Have an account?{" "}
              <button type="button" className="link" onClick={() => auth.openDialog("sign-in")}>
                Sign in
              </button>
            </>
          ) : (
            <>
              New here?{" "}
              <button type="button" className="link" onClick={() => auth.openDialog("register")}>
                Create an account
              </button>
            </>
          )}
        </p>
      </form>
    </div>
  );
}
