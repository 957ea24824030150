/**
 * The page's sign-in state and the token lifecycle, outside React so it is easy to test;
 * components read it through useSyncExternalStore. It walks the sign-in challenges (new
 * password, MFA code, MFA enrolment), keeps the ID token fresh (refresh shortly before
 * expiry, and once more after a 401) and sends the person back to sign-in with a clear
 * sentence when the refresh token is gone.
 */
import { ApiError, SESSION_EXPIRED_MESSAGE } from "../api/errors";
import {
  AuthError,
  SIGN_IN_EXPIRED_MESSAGE,
  type CognitoClient,
  type MfaCodeChallenge,
  type MfaSetupChallenge,
  type NewPasswordChallenge,
  type SignInResult,
} from "./cognito";
import { clearSession, loadSession, needsRefresh, removeLegacySession, saveSession, type Session } from "./session";

/** What an authenticator app shows for this site's entry. */
export const TOTP_ISSUER = "Skin lesion classifier";

export type AuthState =
  | { status: "signedOut"; notice?: string }
  | { status: "newPassword"; challenge: NewPasswordChallenge }
  | { status: "mfaCode"; challenge: MfaCodeChallenge }
  | { status: "mfaSetup"; challenge: MfaSetupChallenge; secret: string; account: string }
  | { status: "signedIn"; session: Session };

/** The otpauth:// URI an authenticator app reads from the QR code (Key URI format). */
export function otpauthUri(secret: string, account: string, issuer = TOTP_ISSUER): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  const query = new URLSearchParams({ secret, issuer, algorithm: "SHA1", digits: "6", period: "30" });
  return `otpauth://totp/${label}?${query.toString().replace(/\+/g, "%20")}`;
}

export class AuthStore {
  private state: AuthState;
  private readonly listeners = new Set<() => void>();
  private refreshing: Promise<Session> | null = null;
  private readonly cognito: CognitoClient;
  private readonly storage: Storage;

  /** The name the person signed in with: the authenticator app's label for this account. */
  private account = "";

  constructor(cognito: CognitoClient, clientId: string, storage: Storage = sessionStorage) {
    this.cognito = cognito;
    this.storage = storage;
    removeLegacySession();
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

  /** Moves to the state a sign-in step ended in; an MFA enrolment first fetches its secret. */
  private async apply(result: SignInResult): Promise<void> {
    switch (result.kind) {
      case "signedIn":
        return this.set({ status: "signedIn", session: result.session });
      case "newPassword":
        return this.set({ status: "newPassword", challenge: result });
      case "mfaCode":
        return this.set({ status: "mfaCode", challenge: result });
      case "mfaSetup": {
        const { secret, challenge } = await this.cognito.associateSoftwareToken(result);
        return this.set({ status: "mfaSetup", challenge, secret, account: this.account || result.username });
      }
    }
  }

  private challenge<S extends AuthState["status"]>(status: S): Extract<AuthState, { status: S }> {
    if (this.state.status !== status) throw new AuthError("NoChallenge", "Please sign in again.");
    return this.state as Extract<AuthState, { status: S }>;
  }

  /** Throws AuthError with a sentence for the form; moves on to signedIn or a challenge. */
  async signIn(username: string, password: string): Promise<void> {
    this.account = username.trim();
    await this.apply(await this.cognito.signIn(this.account, password));
  }

  /** Answers a challenge; when its session has lapsed, back to the sign-in form with a notice. */
  private async step(answer: () => Promise<SignInResult>): Promise<void> {
    let result: SignInResult;
    try {
      result = await answer();
    } catch (error) {
      if (error instanceof AuthError && error.message === SIGN_IN_EXPIRED_MESSAGE) {
        return this.set({ status: "signedOut", notice: SIGN_IN_EXPIRED_MESSAGE });
      }
      throw error;
    }
    await this.apply(result);
  }

  async completeNewPassword(newPassword: string): Promise<void> {
    const { challenge } = this.challenge("newPassword");
    await this.step(() => this.cognito.completeNewPassword(challenge, newPassword));
  }

  /** The 6-digit code of the SOFTWARE_TOKEN_MFA challenge. */
  async answerMfaCode(code: string): Promise<void> {
    const { challenge } = this.challenge("mfaCode");
    await this.step(() => this.cognito.answerMfaCode(challenge, code.replace(/\s/g, "")));
  }

  /** Finishes MFA enrolment with the app's first code; signs in. */
  async verifyMfaSetup(code: string, deviceName = "Authenticator app"): Promise<void> {
    const { challenge } = this.challenge("mfaSetup");
    await this.step(() => this.cognito.verifySoftwareToken(challenge, code.replace(/\s/g, ""), deviceName));
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
    if (!current.session.refreshToken) {
      // Restored after a reload: the refresh token stayed in the old page's memory.
      this.signOut(SESSION_EXPIRED_MESSAGE);
      throw new ApiError(401, "session_expired");
    }
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
