/**
 * Sign-in with a Cognito user (username or email, and password), and the steps Cognito may
 * ask for next: "choose a new password" after an administrator created the user, the 6-digit
 * code of an authenticator app (MFA), and enrolling such an app (a QR code made on the page).
 */
import { QRCodeSVG } from "qrcode.react";
import { useState, type FormEvent } from "react";
import { AuthError } from "../auth/cognito";
import { otpauthUri, type AuthState, type AuthStore } from "../auth/store";

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
  switch (state.status) {
    case "newPassword":
      return <NewPasswordForm store={store} />;
    case "mfaCode":
      return <MfaCodeForm store={store} />;
    case "mfaSetup":
      return <MfaSetupForm store={store} secret={state.secret} account={state.account} />;
    default:
      return <SignInForm store={store} notice={state.notice} />;
  }
}

/** The code as 6 digits (spaces allowed in between); a sentence when it is not. */
function sixDigits(form: FormData): string {
  const code = String(form.get("code") ?? "").replace(/\s/g, "");
  if (!/^\d{6}$/.test(code)) throw new AuthError("BadCode", "Enter the 6-digit code your authenticator app shows.");
  return code;
}

function ErrorAlert({ error }: { error: string | null }) {
  return error ? (
    <div role="alert" className="alert">
      {error}
    </div>
  ) : null;
}

function CodeInput() {
  return (
    <>
      <label htmlFor="mfa-code">Authentication code</label>
      <input
        id="mfa-code"
        name="code"
        type="text"
        inputMode="numeric"
        autoComplete="one-time-code"
        maxLength={7}
        required
        className="code-input"
      />
    </>
  );
}

function MfaCodeForm({ store }: { store: AuthStore }) {
  const { busy, error, setError, onSubmit } = useSubmit((form) => store.answerMfaCode(sixDigits(form)));
  return (
    <section className="card narrow" aria-labelledby="mfa-heading">
      <h2 id="mfa-heading">Two-step verification</h2>
      <p>Enter the 6-digit code your authenticator app shows for this site.</p>
      <ErrorAlert error={error} />
      <form onSubmit={onSubmit} aria-busy={busy} onChange={() => setError(null)}>
        <CodeInput />
        <button type="submit" disabled={busy}>
          {busy ? "Checking…" : "Verify"}
        </button>
        <button type="button" className="secondary" onClick={() => store.signOut()}>
          Cancel
        </button>
      </form>
    </section>
  );
}

function MfaSetupForm({ store, secret, account }: { store: AuthStore; secret: string; account: string }) {
  const { busy, error, setError, onSubmit } = useSubmit((form) => store.verifyMfaSetup(sixDigits(form)));
  const uri = otpauthUri(secret, account);
  return (
    <section className="card narrow" aria-labelledby="mfa-setup-heading">
      <h2 id="mfa-setup-heading">Set up two-step verification</h2>
      <p>
        This site asks for a code from an authenticator app at each sign-in. Scan the QR code with the app (any app for
        time-based codes), or type the setup key into it, then enter the 6-digit code it shows.
      </p>
      <figure className="qr">
        {/* Made on this page from the otpauth:// URI: the secret never goes to a QR service. */}
        <QRCodeSVG value={uri} size={192} marginSize={2} aria-label="QR code for your authenticator app" />
      </figure>
      <p className="setup-key">
        Setup key: <code>{secret.replace(/(.{4})(?=.)/g, "$1 ")}</code>
      </p>
      <p className="hint">
        On a phone: <a href={uri}>open this in an authenticator app on this device</a>.
      </p>
      <ErrorAlert error={error} />
      <form onSubmit={onSubmit} aria-busy={busy} onChange={() => setError(null)}>
        <CodeInput />
        <button type="submit" disabled={busy}>
          {busy ? "Checking…" : "Verify and sign in"}
        </button>
        <button type="button" className="secondary" onClick={() => store.signOut()}>
          Cancel
        </button>
      </form>
    </section>
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
