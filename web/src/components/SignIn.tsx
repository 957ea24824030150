/**
 * Sign-in with a Cognito user (username or email, and password), and the "choose a new
 * password" step Cognito requires after an administrator created the user.
 */
import { useState, type FormEvent } from "react";
import { AuthError } from "../auth/cognito";
import type { AuthState, AuthStore } from "../auth/store";

function errorText(error: unknown): string {
  return error instanceof AuthError ? error.message : "Sign-in failed unexpectedly. Please try again.";
}

/** Runs a form action with a busy flag and an error sentence, for both forms below. */
function useSubmit(action: (form: FormData) => Promise<void>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const onSubmit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await action(new FormData(event.currentTarget));
    } catch (caught) {
      setError(errorText(caught));
      setBusy(false); // only on failure: on success this form goes away
    }
  };
  return { busy, error, setError, onSubmit };
}

export function SignIn({ store, state }: { store: AuthStore; state: Exclude<AuthState, { status: "signedIn" }> }) {
  return state.status === "newPassword" ? (
    <NewPasswordForm store={store} />
  ) : (
    <SignInForm store={store} notice={state.notice} />
  );
}

function SignInForm({ store, notice }: { store: AuthStore; notice?: string }) {
  const { busy, error, onSubmit } = useSubmit((form) =>
    store.signIn(String(form.get("username")), String(form.get("password"))),
  );
  const message = error ?? notice;
  return (
    <section className="card narrow" aria-labelledby="sign-in-heading">
      <h2 id="sign-in-heading">Sign in</h2>
      {message ? (
        <div role="alert" className="alert">
          {message}
        </div>
      ) : null}
      <form onSubmit={onSubmit} aria-busy={busy}>
        <label htmlFor="username">Email or username</label>
        <input id="username" name="username" type="text" autoComplete="username" inputMode="email" required />
        <label htmlFor="password">Password</label>
        <input id="password" name="password" type="password" autoComplete="current-password" required />
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
      <p className="hint">Accounts are created by the administrator of this deployment.</p>
    </section>
  );
}

function NewPasswordForm({ store }: { store: AuthStore }) {
  const { busy, error, setError, onSubmit } = useSubmit(async (form) => {
    const password = String(form.get("newPassword"));
    if (password !== String(form.get("confirmPassword"))) {
      throw new AuthError("Mismatch", "The two passwords do not match.");
    }
    await store.completeNewPassword(password);
  });
  return (
    <section className="card narrow" aria-labelledby="new-password-heading">
      <h2 id="new-password-heading">Choose a new password</h2>
      <p>This is your first sign-in: please replace the temporary password you were given.</p>
      {error ? (
        <div role="alert" className="alert">
          {error}
        </div>
      ) : null}
      <form onSubmit={onSubmit} aria-busy={busy} onChange={() => setError(null)}>
        <label htmlFor="new-password">New password</label>
        <input id="new-password" name="newPassword" type="password" autoComplete="new-password" required />
        <label htmlFor="confirm-password">Confirm new password</label>
        <input id="confirm-password" name="confirmPassword" type="password" autoComplete="new-password" required />
        <button type="submit" disabled={busy}>
          {busy ? "Saving…" : "Set new password"}
        </button>
        <button type="button" className="secondary" onClick={() => store.signOut()}>
          Cancel
        </button>
      </form>
    </section>
  );
}
