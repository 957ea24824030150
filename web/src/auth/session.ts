/**
 * The signed-in session: Cognito's tokens. The refresh token lives in memory only; the ID and
 * access tokens (an hour at most) also go to sessionStorage, so a reload of the same tab keeps
 * the person signed in until they expire, and closing the tab forgets them. Nothing goes to
 * localStorage. Token claims are decoded here only to read the expiry and the name; the API
 * (API Gateway's Cognito authorizer, or the local gateway) verifies signatures.
 */

export interface Session {
  idToken: string;
  accessToken: string;
  /** In memory only: "" for a session restored after a reload (it then cannot be refreshed). */
  refreshToken: string;
  /** Epoch milliseconds at which the ID token expires (its `exp` claim). */
  expiresAt: number;
  /** What to show as "Signed in as …": the email claim, else the Cognito username. */
  displayName: string;
  /** The app client the tokens belong to: a session from another stack is not reused. */
  clientId: string;
}

/** Refresh this long before expiry, so a request never leaves with a token about to lapse. */
export const REFRESH_MARGIN_MS = 2 * 60 * 1000;
export const STORAGE_KEY = "skinlesion.session.v2";
/** Where older builds kept the whole session, refresh token included: removed on start. */
export const LEGACY_STORAGE_KEY = "skinlesion.session.v1";

function defaultStorage(): Storage {
  return sessionStorage;
}

function decodeBase64Url(part: string): string {
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** The JWT's payload claims, without verifying the signature (the server does that). */
export function decodeJwtClaims(token: string): Record<string, unknown> {
  const payload = token.split(".")[1];
  if (payload === undefined) throw new Error("not a JWT");
  const claims: unknown = JSON.parse(decodeBase64Url(payload));
  if (typeof claims !== "object" || claims === null) throw new Error("JWT payload is not an object");
  return claims as Record<string, unknown>;
}

interface Tokens {
  IdToken: string;
  AccessToken: string;
  RefreshToken: string;
}

/** Builds a Session from Cognito's AuthenticationResult (plus the refresh token it keeps). */
export function sessionFromTokens(tokens: Tokens, clientId: string): Session {
  const claims = decodeJwtClaims(tokens.IdToken);
  if (typeof claims.exp !== "number") throw new Error("ID token has no exp claim");
  const name = claims.email ?? claims["cognito:username"] ?? claims.sub ?? "";
  return {
    idToken: tokens.IdToken,
    accessToken: tokens.AccessToken,
    refreshToken: tokens.RefreshToken,
    expiresAt: claims.exp * 1000,
    displayName: String(name),
    clientId,
  };
}

export function needsRefresh(session: Session, now: number = Date.now()): boolean {
  return session.expiresAt - now < REFRESH_MARGIN_MS;
}

type StoredSession = Omit<Session, "refreshToken">;

function isStoredSession(value: unknown): value is StoredSession {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    ["idToken", "accessToken", "displayName", "clientId"].every((key) => typeof v[key] === "string") &&
    typeof v.expiresAt === "number"
  );
}

/** The stored session for this app client, or null (absent, corrupt or another stack's). */
export function loadSession(clientId: string, storage: Storage = defaultStorage()): Session | null {
  try {
    const parsed: unknown = JSON.parse(storage.getItem(STORAGE_KEY) ?? "null");
    if (!isStoredSession(parsed) || parsed.clientId !== clientId) return null;
    const { idToken, accessToken, expiresAt, displayName } = parsed;
    return { idToken, accessToken, refreshToken: "", expiresAt, displayName, clientId };
  } catch {
    return null;
  }
}

/** Stores the session without its refresh token (that one stays in memory). */
export function saveSession(session: Session, storage: Storage = defaultStorage()): void {
  const { idToken, accessToken, expiresAt, displayName, clientId } = session;
  storage.setItem(STORAGE_KEY, JSON.stringify({ idToken, accessToken, expiresAt, displayName, clientId }));
}

export function clearSession(storage: Storage = defaultStorage()): void {
  storage.removeItem(STORAGE_KEY);
}

/** Forgets a session an older build left in localStorage (with a 30-day refresh token). */
export function removeLegacySession(): void {
  try {
    localStorage.removeItem(LEGACY_STORAGE_KEY);
  } catch {
    // storage disabled: nothing was kept there either
  }
}
