/**
 * The page's sign-in state and the token lifecycle, outside React so it is easy to test;
 * components read it through useSyncExternalStore. It keeps the ID token fresh (refresh
 * shortly before expiry, and once more after a 401) and sends the person back to sign-in
 * with a clear sentence when the refresh token is gone.
 */
import { ApiError, SESSION_EXPIRED_MESSAGE } from "../api/errors";
import { AuthError, type CognitoClient, type NewPasswordChallenge, type SignInResult } from "./cognito";
import { clearSession, loadSession, needsRefresh, saveSession, type Session } from "./session";

export type AuthState =
  | { status: "signedOut"; notice?: string }
  | { status: "newPassword"; challenge: NewPasswordChallenge }
  | { status: "signedIn"; session: Session };

export class AuthStore {
  private state: AuthState;
  private readonly listeners = new Set<() => void>();
  private refreshing: Promise<Session> | null = null;
  private readonly cognito: CognitoClient;
  private readonly storage: Storage;

  constructor(cognito: CognitoClient, clientId: string, storage: Storage = localStorage) {
    this.cognito = cognito;
    this.storage = storage;
    const saved = loadSession(clientId, storage);
    this.state = saved ? { status: "signedIn", session: saved } : { status: "signedOut" };
  }

  getState = (): AuthState => this.state;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  private set(state: AuthState): void {
    this.state = state;
    if (state.status === "signedIn") saveSession(state.session, this.storage);
    else clearSession(this.storage);
    this.listeners.forEach((listener) => listener());
  }

  private apply(result: SignInResult): void {
    this.set(result.kind === "signedIn" ? { status: "signedIn", session: result.session } : { status: "newPassword", challenge: result });
  }

  /** Throws AuthError with a sentence for the form; moves on to signedIn or newPassword. */
  async signIn(username: string, password: string): Promise<void> {
    this.apply(await this.cognito.signIn(username.trim(), password));
  }

  async completeNewPassword(newPassword: string): Promise<void> {
    if (this.state.status !== "newPassword") throw new AuthError("NoChallenge", "Please sign in again.");
    this.apply(await this.cognito.completeNewPassword(this.state.challenge, newPassword));
  }

  /** Forgets the session now and revokes it on the server in the background. */
  signOut(notice?: string): void {
    const current = this.state;
    this.set(notice ? { status: "signedOut", notice } : { status: "signedOut" });
    if (current.status === "signedIn") {
      this.cognito.signOut(current.session).catch(() => undefined); // best effort: already forgotten here
    }
  }

  /** A valid ID token, refreshed first when it expires within REFRESH_MARGIN_MS (or if forced). */
  async idToken(force = false): Promise<string> {
    const current = this.state;
    if (current.status !== "signedIn") throw new ApiError(401, "signed_out");
    if (!force && !needsRefresh(current.session)) return current.session.idToken;
    // One refresh at a time, however many requests ask for a token meanwhile.
    this.refreshing ??= this.cognito.refresh(current.session).finally(() => {
      this.refreshing = null;
    });
    try {
      const session = await this.refreshing;
      if (this.state.status === "signedIn") this.set({ status: "signedIn", session });
      return session.idToken;
    } catch (error) {
      if (error instanceof AuthError && error.code === "NetworkError") throw new ApiError(0, "network");
      this.signOut(SESSION_EXPIRED_MESSAGE); // the refresh token expired or was revoked
      throw new ApiError(401, "session_expired");
    }
  }

  /** Runs an API call with a fresh token; after a 401, refreshes once and retries once. */
  async authorized<T>(call: (idToken: string) => Promise<T>): Promise<T> {
    try {
      return await call(await this.idToken());
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401 || this.state.status !== "signedIn") throw error;
    }
    try {
      return await call(await this.idToken(true));
    } catch (error) {
      if (error instanceof ApiError && error.status === 401 && this.state.status === "signedIn") {
        this.signOut(SESSION_EXPIRED_MESSAGE);
      }
      throw error;
    }
  }
}
