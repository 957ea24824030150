import { describe, expect, it } from "vitest";
import { ApiError, SESSION_EXPIRED_MESSAGE } from "../api/errors";
import { cognitoError, fakeFetch, json, tokens } from "../test/fakes";
import { CognitoClient } from "./cognito";
import { saveSession, sessionFromTokens } from "./session";
import { AuthStore } from "./store";

const savedToken = () => JSON.parse(localStorage.getItem("skinlesion.session.v1") ?? "{}").idToken as string;

function signedInStore(lifetimeS = 3600): AuthStore {
  saveSession(sessionFromTokens(tokens("ana@example.org", lifetimeS), "client123"));
  return new AuthStore(new CognitoClient("https://cognito.test", "client123"), "client123");
}

describe("AuthStore", () => {
  it("restores a saved session and uses its token while it is fresh", async () => {
    const fake = fakeFetch({});
    const store = signedInStore();
    const saved = savedToken();
    expect(store.getState().status).toBe("signedIn");
    await expect(store.idToken()).resolves.toBe(saved);
    expect(fake.calls).toHaveLength(0);
  });

  it("refreshes once, shared by concurrent callers, when the token is about to expire", async () => {
    const fresh = tokens("ana@example.org", 3600, "2");
    const fake = fakeFetch({ InitiateAuth: () => json({ AuthenticationResult: fresh }) });
    const store = signedInStore(30);
    const got = await Promise.all([store.idToken(), store.idToken()]);
    expect(got).toEqual([fresh.IdToken, fresh.IdToken]);
    expect(fake.byRoute("InitiateAuth")).toHaveLength(1);
  });

  it("refreshes and retries once after a 401", async () => {
    const fresh = tokens("ana@example.org", 3600, "2");
    fakeFetch({ InitiateAuth: () => json({ AuthenticationResult: fresh }) });
    const store = signedInStore();
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
    const store = signedInStore(30);
    await expect(store.authorized(async () => "never")).rejects.toMatchObject({ status: 401 });
    expect(store.getState()).toEqual({ status: "signedOut", notice: SESSION_EXPIRED_MESSAGE });
    expect(localStorage.length).toBe(0);
  });

  it("stays signed in when the refresh fails only because the network is down", async () => {
    fakeFetch({ InitiateAuth: () => Promise.reject(new TypeError("Failed to fetch")) });
    const store = signedInStore(30);
    await expect(store.idToken()).rejects.toMatchObject({ status: 0 });
    expect(store.getState().status).toBe("signedIn");
  });
});
