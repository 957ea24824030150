// @vitest-environment node
import { readFileSync } from "node:fs";
import { describe, expect, it, vi } from "vitest";
import { byChallenge, challenge, COGNITO_URL, cognitoError, fakeFetch, json, passwordVerifier, tokens } from "../test/fakes";
import { AuthError, CognitoClient, type MfaSetupChallenge } from "./cognito";
import { sessionFromTokens } from "./session";

const POOL = "eu-west-1_TEST";
const srpClient = () => new CognitoClient("https://cognito-idp.eu-west-1.amazonaws.com", "client123", { userPoolId: POOL });
const passwordClient = () =>
  new CognitoClient("https://cognito-idp.eu-west-1.amazonaws.com", "client123", { authFlow: "USER_PASSWORD_AUTH" });

interface Vector {
  userPoolId: string;
  userIdForSrp: string;
  password: string;
  smallA: string;
  largeA: string;
  salt: string;
  srpB: string;
  secretBlock: string;
  date: string;
  timestamp: string;
  signature: string;
}
const VECTORS = (
  JSON.parse(readFileSync(new URL("../test/fixtures/srp_vectors.json", import.meta.url), "utf8")) as { vectors: Vector[] }
).vectors;

/** Plays Cognito for one reference vector: accepts the claim only if it is the server's. */
function referenceServer(v: Vector) {
  return fakeFetch({
    InitiateAuth: (call) => {
      const params = (call.body as { AuthParameters: Record<string, string> }).AuthParameters;
      if (params.SRP_A !== v.largeA) return cognitoError("InvalidParameterException", "unexpected SRP_A");
      return json({
        ChallengeName: "PASSWORD_VERIFIER",
        ChallengeParameters: {
          SALT: v.salt,
          SRP_B: v.srpB,
          SECRET_BLOCK: v.secretBlock,
          USERNAME: v.userIdForSrp,
          USER_ID_FOR_SRP: v.userIdForSrp,
        },
      });
    },
    RespondToAuthChallenge: (call) => {
      const responses = (call.body as { ChallengeResponses: Record<string, string> }).ChallengeResponses;
      const ok =
        responses.PASSWORD_CLAIM_SIGNATURE === v.signature &&
        responses.TIMESTAMP === v.timestamp &&
        responses.PASSWORD_CLAIM_SECRET_BLOCK === v.secretBlock;
      return ok ? json({ AuthenticationResult: tokens() }) : cognitoError("NotAuthorizedException", "Incorrect username or password.");
    },
  });
}

/** A client whose secret a and clock are the reference vector's. */
function clientFor(v: Vector) {
  const bytes = Uint8Array.from(v.smallA.padStart(256, "0").match(/../g) ?? [], (h) => parseInt(h, 16));
  vi.spyOn(crypto, "getRandomValues").mockImplementation(<T extends ArrayBufferView | null>(array: T): T => {
    (array as unknown as Uint8Array).set(bytes);
    return array;
  });
  return new CognitoClient("https://cognito-idp.eu-west-1.amazonaws.com", "client123", {
    userPoolId: v.userPoolId,
    now: () => new Date(v.date),
  });
}

describe("CognitoClient SRP sign-in", () => {
  it("proves the password as the server-side reference expects, never sending it", async () => {
    const v = VECTORS[0] as Vector;
    const fake = referenceServer(v);
    const result = await clientFor(v).signIn("ana@example.org", v.password);
    expect(result.kind).toBe("signedIn");
    const [initiate, respond] = fake.calls;
    expect(initiate?.body).toEqual({
      AuthFlow: "USER_SRP_AUTH",
      ClientId: "client123",
      AuthParameters: { USERNAME: "ana@example.org", SRP_A: v.largeA },
    });
    expect(respond?.body).toMatchObject({
      ChallengeName: "PASSWORD_VERIFIER",
      ChallengeResponses: { USERNAME: v.userIdForSrp, PASSWORD_CLAIM_SIGNATURE: v.signature, TIMESTAMP: v.timestamp },
    });
    expect(JSON.stringify(fake.calls.map((c) => c.body))).not.toContain(v.password);
  });

  it("is refused by the reference server with a wrong password", async () => {
    const v = VECTORS[1] as Vector;
    referenceServer(v);
    await expect(clientFor(v).signIn("ana", `${v.password}!`)).rejects.toMatchObject({
      code: "NotAuthorizedException",
      message: "Incorrect username or password.",
    });
  });

  it("says so when the verifier challenge is incomplete", async () => {
    fakeFetch({ InitiateAuth: () => json({ ChallengeName: "PASSWORD_VERIFIER", ChallengeParameters: { SALT: "ab" } }) });
    await expect(srpClient().signIn("ana", "x")).rejects.toMatchObject({ code: "BadChallenge" });
  });

  it("says so instead of failing obscurely on a page without WebCrypto (plain http)", async () => {
    const fake = fakeFetch({});
    vi.stubGlobal("crypto", { getRandomValues: crypto.getRandomValues.bind(crypto) });
    await expect(srpClient().signIn("ana", "x")).rejects.toMatchObject({ code: "InsecureContext", message: /https:/ });
    expect(fake.calls).toHaveLength(0);
  });

  it("needs the user pool id", () => {
    expect(() => new CognitoClient("https://c.test", "client123")).toThrow(/user pool id/);
  });
});

describe("CognitoClient MFA", () => {
  it("answers SOFTWARE_TOKEN_MFA with the code, the session and the SRP username", async () => {
    const fake = fakeFetch({
      InitiateAuth: () => passwordVerifier("uuid-7"),
      RespondToAuthChallenge: byChallenge({
        PASSWORD_VERIFIER: () => challenge("SOFTWARE_TOKEN_MFA", "mfa-1", {}),
        SOFTWARE_TOKEN_MFA: () => json({ AuthenticationResult: tokens() }),
      }),
    });
    const step = await srpClient().signIn("ana@example.org", "pw");
    expect(step).toEqual({ kind: "mfaCode", username: "uuid-7", session: "mfa-1" });
    if (step.kind !== "mfaCode") throw new Error("expected the MFA challenge");
    expect((await srpClient().answerMfaCode(step, "123456")).kind).toBe("signedIn");
    expect(fake.calls.at(-1)?.body).toEqual({
      ChallengeName: "SOFTWARE_TOKEN_MFA",
      ClientId: "client123",
      Session: "mfa-1",
      ChallengeResponses: { USERNAME: "uuid-7", SOFTWARE_TOKEN_MFA_CODE: "123456" },
    });
  });

  it("enrols a TOTP app: AssociateSoftwareToken, VerifySoftwareToken, then MFA_SETUP", async () => {
    const fake = fakeFetch({
      AssociateSoftwareToken: () => json({ SecretCode: "JBSWY3DPEHPK3PXP", Session: "s-2" }),
      VerifySoftwareToken: () => json({ Status: "SUCCESS", Session: "s-3" }),
      RespondToAuthChallenge: () => json({ AuthenticationResult: tokens() }),
    });
    const start: MfaSetupChallenge = { kind: "mfaSetup", username: "uuid-7", session: "s-1" };
    const { secret, challenge: next } = await srpClient().associateSoftwareToken(start);
    expect(secret).toBe("JBSWY3DPEHPK3PXP");
    expect((await srpClient().verifySoftwareToken(next, "654321", "Phone")).kind).toBe("signedIn");
    expect(fake.calls.map((c) => [c.route, c.body])).toEqual([
      ["AssociateSoftwareToken", { Session: "s-1" }],
      ["VerifySoftwareToken", { Session: "s-2", UserCode: "654321", FriendlyDeviceName: "Phone" }],
      [
        "RespondToAuthChallenge",
        { ChallengeName: "MFA_SETUP", ClientId: "client123", Session: "s-3", ChallengeResponses: { USERNAME: "uuid-7" } },
      ],
    ]);
  });

  it.each([
    ["CodeMismatchException", "Invalid code received for user", "That code is not right. Enter the current 6-digit code from your authenticator app."],
    ["NotAuthorizedException", "Invalid session for the user, session is expired.", "This sign-in took too long. Please sign in again."],
  ])("turns %s in the MFA step into a sentence", async (type, serverMessage, expected) => {
    fakeFetch({ RespondToAuthChallenge: () => cognitoError(type, serverMessage) });
    const error = await srpClient()
      .answerMfaCode({ kind: "mfaCode", username: "u", session: "s" }, "000000")
      .catch((e: unknown) => e);
    expect((error as AuthError).message).toBe(expected);
  });

  it("refuses a VerifySoftwareToken that does not succeed", async () => {
    fakeFetch({ VerifySoftwareToken: () => json({ Status: "ERROR" }) });
    await expect(
      srpClient().verifySoftwareToken({ kind: "mfaSetup", username: "u", session: "s" }, "000000", "x"),
    ).rejects.toMatchObject({ code: "CodeMismatchException" });
  });

  it("says which MFA setup it cannot offer", async () => {
    fakeFetch({ InitiateAuth: () => challenge("MFA_SETUP", "s", { MFAS_CAN_SETUP: '["SMS_MFA"]' }) });
    await expect(passwordClient().signIn("ana", "x")).rejects.toMatchObject({ code: "UnsupportedChallenge" });
  });
});

describe("CognitoClient password flow (local stack)", () => {
  it("signs in with USER_PASSWORD_AUTH through Cognito's JSON API", async () => {
    const fake = fakeFetch({ InitiateAuth: () => json({ AuthenticationResult: tokens() }) });
    const result = await passwordClient().signIn("ana@example.org", "secret-1");
    expect(result.kind).toBe("signedIn");
    const [call] = fake.calls;
    expect(call?.url).toBe(COGNITO_URL);
    expect(call?.init.method).toBe("POST");
    const headers = new Headers(call?.init.headers);
    expect(headers.get("Content-Type")).toBe("application/x-amz-json-1.1");
    expect(headers.get("X-Amz-Target")).toBe("AWSCognitoIdentityProviderService.InitiateAuth");
    expect(call?.body).toEqual({
      AuthFlow: "USER_PASSWORD_AUTH",
      ClientId: "client123",
      AuthParameters: { USERNAME: "ana@example.org", PASSWORD: "secret-1" },
    });
  });

  it("answers NEW_PASSWORD_REQUIRED with the challenge's own username", async () => {
    const fake = fakeFetch({
      InitiateAuth: () =>
        json({ ChallengeName: "NEW_PASSWORD_REQUIRED", Session: "s-1", ChallengeParameters: { USER_ID_FOR_SRP: "uuid-7" } }),
      RespondToAuthChallenge: () => json({ AuthenticationResult: tokens() }),
    });
    const step = await passwordClient().signIn("ana@example.org", "temp");
    expect(step).toEqual({ kind: "newPassword", username: "uuid-7", session: "s-1" });
    if (step.kind !== "newPassword") throw new Error("expected a challenge");
    const done = await passwordClient().completeNewPassword(step, "N3w-password!");
    expect(done.kind).toBe("signedIn");
    expect(fake.byRoute("RespondToAuthChallenge")[0]?.body).toEqual({
      ChallengeName: "NEW_PASSWORD_REQUIRED",
      ClientId: "client123",
      Session: "s-1",
      ChallengeResponses: { USERNAME: "uuid-7", NEW_PASSWORD: "N3w-password!" },
    });
  });

  it.each([
    ["NotAuthorizedException", "Incorrect username or password.", "Incorrect username or password."],
    ["com.amazonaws#UserNotFoundException", "User does not exist.", "No account exists with that username."],
    ["NotAuthorizedException", "Password attempts exceeded", "Too many failed attempts. Please wait a while and try again."],
    ["InvalidPasswordException", "Password does not conform to policy: Password not long enough", "That password is not allowed: Password not long enough"],
    ["InvalidParameterException", "USER_PASSWORD_AUTH flow not enabled for this client", "Sign-in failed: USER_PASSWORD_AUTH flow not enabled for this client"],
  ])("turns %s into a sentence", async (type, serverMessage, expected) => {
    fakeFetch({ InitiateAuth: () => cognitoError(type, serverMessage) });
    const error = await passwordClient().signIn("ana", "x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect((error as AuthError).message).toBe(expected);
  });

  it("reports the network being down", async () => {
    fakeFetch({ InitiateAuth: () => Promise.reject(new TypeError("Failed to fetch")) });
    await expect(srpClient().signIn("ana", "x")).rejects.toMatchObject({
      code: "NetworkError",
      message: "Could not reach the sign-in service. Check your connection and try again.",
    });
  });

  it("refreshes with REFRESH_TOKEN_AUTH in the local stack and keeps the refresh token Cognito does not resend", async () => {
    const fresh = tokens("ana@example.org", 3600, "2");
    const fake = fakeFetch({ InitiateAuth: () => json({ AuthenticationResult: { ...fresh, RefreshToken: undefined } }) });
    const old = sessionFromTokens(tokens("ana@example.org", 10), "client123");
    const renewed = await passwordClient().refresh(old);
    expect(fake.calls[0]?.body).toEqual({
      AuthFlow: "REFRESH_TOKEN_AUTH",
      ClientId: "client123",
      AuthParameters: { REFRESH_TOKEN: "refresh-1" },
    });
    expect(renewed.idToken).toBe(fresh.IdToken);
    expect(renewed.refreshToken).toBe("refresh-1");
  });

  it("refreshes with GetTokensFromRefreshToken in the cloud and takes the rotated refresh token", async () => {
    const fresh = tokens("ana@example.org", 3600, "2");
    const fake = fakeFetch({ GetTokensFromRefreshToken: () => json({ AuthenticationResult: fresh }) });
    const renewed = await srpClient().refresh(sessionFromTokens(tokens("ana@example.org", 10), "client123"));
    expect(fake.calls.map((c) => [c.route, c.body])).toEqual([
      ["GetTokensFromRefreshToken", { ClientId: "client123", RefreshToken: "refresh-1" }],
    ]);
    expect(renewed.idToken).toBe(fresh.IdToken);
    expect(renewed.refreshToken).toBe("refresh-2");
  });

  it("calls the configured endpoint (the local stack's moto Cognito)", async () => {
    const fake = fakeFetch({ GlobalSignOut: () => json({}) });
    const local = new CognitoClient("http://127.0.0.1:5000", "client123", { authFlow: "USER_PASSWORD_AUTH" });
    const session = sessionFromTokens(tokens(), "client123");
    await local.signOut(session);
    expect(fake.calls[0]?.url).toBe("http://127.0.0.1:5000/");
    expect(fake.calls[0]?.body).toEqual({ AccessToken: session.accessToken });
  });
});
