import { describe, expect, it } from "vitest";
import { ApiError, SESSION_EXPIRED_MESSAGE } from "../api/errors";
import { challenge, cognitoError, fakeFetch, json, tokens } from "../test/fakes";
import { CognitoClient } from "./cognito";
import { saveSession, sessionFromTokens, STORAGE_KEY } from "./session";
import { AuthStore, otpauthUri } from "./store";

const savedToken = () => JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? "{}").idToken as string;

/** A store signed in through Cognito (its first call answered here, the rest by the test's fake). */
async function signedInStore(lifetimeS = 3600): Promise<AuthStore> {
  let first = true;
  const fetchFn: typeof fetch = async (input, init) => {
    if (!first) return fetch(input, init);
    first = false;
    return json({ AuthenticationResult: tokens("ana@example.org", lifetimeS) });
  };
  const cognito = new CognitoClient("https://cognito.test", "client123", { authFlow: "USER_PASSWORD_AUTH", fetchFn });
  const store = new AuthStore(cognito, "client123");
  await store.signIn("ana@example.org", "pw");
  return store;
}

const restoredStore = () =>
  new AuthStore(new CognitoClient("https://cognito.test", "client123", { authFlow: "USER_PASSWORD_AUTH" }), "client123");

describe("AuthStore token storage", () => {
  it("keeps the refresh token in memory only: sessionStorage gets the short-lived tokens, localStorage nothing", async () => {
    fakeFetch({});
    const store = await signedInStore();
    const state = store.getState();
    expect(state.status === "signedIn" && state.session.refreshToken).toBe("refresh-1");
    const stored = sessionStorage.getItem(STORAGE_KEY) ?? "";
    expect(JSON.parse(stored)).toMatchObject({ idToken: expect.any(String), accessToken: expect.any(String) });
    expect(stored).not.toContain("refresh-1");
    expect(stored).not.toContain("refreshToken");
    expect(localStorage.length).toBe(0);
  });

  it("removes a session an older build left in localStorage", () => {
    localStorage.setItem("skinlesion.session.v1", JSON.stringify({ refreshToken: "30-day-token" }));
    restoredStore();
    expect(localStorage.getItem("skinlesion.session.v1")).toBeNull();
  });

  it("restores the tab's session after a reload and uses its token while it is fresh", async () => {
    const fake = fakeFetch({});
    saveSession(sessionFromTokens(tokens("ana@example.org", 3600), "client123"));
    const store = restoredStore();
    expect(store.getState().status).toBe("signedIn");
    await expect(store.idToken()).resolves.toBe(savedToken());
    expect(fake.calls).toHaveLength(0);
  });

  it("after a reload, signs out near expiry without asking Cognito (no refresh token to use)", async () => {
    const fake = fakeFetch({ GlobalSignOut: () => json({}) });
    saveSession(sessionFromTokens(tokens("ana@example.org", 30), "client123"));
    const store = restoredStore();
    await expect(store.idToken()).rejects.toMatchObject({ status: 401 });
    expect(store.getState()).toEqual({ status: "signedOut", notice: SESSION_EXPIRED_MESSAGE });
    expect(fake.calls.map((c) => c.route)).toEqual(["GlobalSignOut"]); // no refresh attempt
    expect(sessionStorage.length).toBe(0);
  });
});

describe("AuthStore MFA", () => {
  it("enrols: fetches the secret as soon as Cognito asks for MFA setup, then signs in with the first code", async () => {
    const fake = fakeFetch({
      InitiateAuth: () => challenge("MFA_SETUP", "s-1", { MFAS_CAN_SETUP: '["SOFTWARE_TOKEN_MFA"]' }),
      AssociateSoftwareToken: () => json({ SecretCode: "JBSWY3DPEHPK3PXP", Session: "s-2" }),
      VerifySoftwareToken: () => json({ Status: "SUCCESS", Session: "s-3" }),
      RespondToAuthChallenge: () => json({ AuthenticationResult: tokens() }),
    });
    const store = restoredStore();
    await store.signIn(" ana@example.org ", "pw");
    expect(store.getState()).toMatchObject({ status: "mfaSetup", secret: "JBSWY3DPEHPK3PXP", account: "ana@example.org" });
    expect(sessionStorage.length).toBe(0); // nothing stored before the sign-in ends
    await store.verifyMfaSetup("123 456");
    expect(store.getState().status).toBe("signedIn");
    expect(fake.byRoute("VerifySoftwareToken")[0]?.body).toMatchObject({ Session: "s-2", UserCode: "123456" });
  });

  it("goes back to the sign-in form with a notice when the challenge's session has lapsed", async () => {
    fakeFetch({
      InitiateAuth: () => challenge("SOFTWARE_TOKEN_MFA", "mfa-1"),
      RespondToAuthChallenge: () => cognitoError("NotAuthorizedException", "Invalid session for the user, session is expired."),
    });
    const store = restoredStore();
    await store.signIn("ana", "pw");
    expect(store.getState().status).toBe("mfaCode");
    await store.answerMfaCode("123456");
    expect(store.getState()).toEqual({ status: "signedOut", notice: "This sign-in took too long. Please sign in again." });
  });

  it("stays on the code step after a wrong code", async () => {
    fakeFetch({
      InitiateAuth: () => challenge("SOFTWARE_TOKEN_MFA", "mfa-1"),
      RespondToAuthChallenge: () => cognitoError("CodeMismatchException", "Invalid code received for user"),
    });
    const store = restoredStore();
    await store.signIn("ana", "pw");
    await expect(store.answerMfaCode("123456")).rejects.toMatchObject({ code: "CodeMismatchException" });
    expect(store.getState().status).toBe("mfaCode");
  });

  it("builds the otpauth URI an authenticator app reads", () => {
    expect(otpauthUri("JBSWY3DPEHPK3PXP", "ana@example.org")).toBe(
      "otpauth://totp/Skin%20lesion%20classifier:ana%40example.org?secret=JBSWY3DPEHPK3PXP&issuer=Skin%20lesion%20classifier&algorithm=SHA1&digits=6&period=30",
    );
  });
});

describe("AuthStore refresh", () => {
  it("refreshes once, shared by concurrent callers, when the token is about to expire", async () => {
    const fresh = tokens("ana@example.org", 3600, "2");
    const fake = fakeFetch({ InitiateAuth: () => json({ AuthenticationResult: fresh }) });
    const store = await signedInStore(30);
    const got = await Promise.all([store.idToken(), store.idToken()]);
    expect(got).toEqual([fresh.IdToken, fresh.IdToken]);
    expect(fake.byRoute("InitiateAuth")).toHaveLength(1);
  });

  it("refreshes and retries once after a 401", async () => {
    const fresh = tokens("ana@example.org", 3600, "2");
    fakeFetch({ InitiateAuth: () => json({ AuthenticationResult: fresh }) });
    const store = await signedInStore();
    const saved = savedToken();
    const seen: string[] = [];
    const result = await store.authorized(async (token) => {
      seen.push(token);
      if (seen.length === 1) throw new ApiError(401, "unauthorized");
      return "ok";
    });
    expect(result).toBe("ok");
    expect(seen).toEqual([saved, fresh.IdToken]);
    expect(savedToken()).toBe(fresh.IdToken); // the refreshed session survives a reload
  });

  it("signs out with the expiry sentence when the refresh token is rejected", async () => {
    fakeFetch({
      InitiateAuth: () => cognitoError("NotAuthorizedException", "Refresh Token has expired"),
      GlobalSignOut: () => json({}),
    });
    const store = await signedInStore(30);
    await expect(store.authorized(async () => "never")).rejects.toMatchObject({ status: 401 });
    expect(store.getState()).toEqual({ status: "signedOut", notice: SESSION_EXPIRED_MESSAGE });
    expect(sessionStorage.length).toBe(0);
  });

  it("stays signed in when the refresh fails only because the network is down", async () => {
    fakeFetch({ InitiateAuth: () => Promise.reject(new TypeError("Failed to fetch")) });
    const store = await signedInStore(30);
    await expect(store.idToken()).rejects.toMatchObject({ status: 0 });
    expect(store.getState().status).toBe("signedIn");
  });
});
