import { describe, expect, it } from "vitest";
import { makeJwt, tokens } from "../test/fakes";
import {
  clearSession,
  decodeJwtClaims,
  loadSession,
  needsRefresh,
  REFRESH_MARGIN_MS,
  saveSession,
  sessionFromTokens,
  STORAGE_KEY,
} from "./session";

describe("session", () => {
  it("decodes base64url JWT claims, including non-ASCII names", () => {
    expect(decodeJwtClaims(makeJwt({ sub: "x", name: "Zoë" }))).toEqual({ sub: "x", name: "Zoë" });
    expect(() => decodeJwtClaims("garbage")).toThrow();
  });

  it("takes the expiry and display name from the ID token", () => {
    const t = tokens("ana@example.org", 600);
    const session = sessionFromTokens(t, "client123");
    expect(session.displayName).toBe("ana@example.org");
    expect(session.expiresAt).toBeGreaterThan(Date.now() + 590_000);
    expect(session.refreshToken).toBe("refresh-1");
  });

  it("wants a refresh within the margin before expiry", () => {
    const session = sessionFromTokens(tokens(), "client123");
    expect(needsRefresh(session, session.expiresAt - REFRESH_MARGIN_MS - 1000)).toBe(false);
    expect(needsRefresh(session, session.expiresAt - 1000)).toBe(true);
  });

  it("survives a reload of the tab for the same app client only, without its refresh token", () => {
    const session = sessionFromTokens(tokens(), "client123");
    saveSession(session);
    expect(sessionStorage.getItem(STORAGE_KEY)).not.toContain("refresh-1");
    expect(localStorage.length).toBe(0);
    expect(loadSession("client123")).toEqual({ ...session, refreshToken: "" });
    expect(loadSession("another-stack")).toBeNull();
    clearSession();
    expect(loadSession("client123")).toBeNull();
  });

  it("ignores a corrupt stored value", () => {
    sessionStorage.setItem(STORAGE_KEY, "{not json");
    expect(loadSession("client123")).toBeNull();
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ idToken: 1 }));
    expect(loadSession("client123")).toBeNull();
  });
});
