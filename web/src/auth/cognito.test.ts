// @vitest-environment node
import { describe, expect, it } from "vitest";
import { COGNITO_URL, cognitoError, fakeFetch, json, tokens } from "../test/fakes";
import { AuthError, CognitoClient } from "./cognito";
import { sessionFromTokens } from "./session";

const client = () => new CognitoClient("https://cognito-idp.eu-west-1.amazonaws.com", "client123");

describe("CognitoClient", () => {
  it("signs in with USER_PASSWORD_AUTH through Cognito's JSON API", async () => {
    const fake = fakeFetch({ InitiateAuth: () => json({ AuthenticationResult: tokens() }) });
    const result = await client().signIn("ana@example.org", "secret-1");
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
    const challenge = await client().signIn("ana@example.org", "temp");
    expect(challenge).toEqual({ kind: "newPassword", username: "uuid-7", session: "s-1" });
    if (challenge.kind !== "newPassword") throw new Error("expected a challenge");
    const done = await client().completeNewPassword(challenge, "N3w-password!");
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
    const error = await client().signIn("ana", "x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect((error as AuthError).message).toBe(expected);
  });

  it("reports the network being down", async () => {
    fakeFetch({ InitiateAuth: () => Promise.reject(new TypeError("Failed to fetch")) });
    await expect(client().signIn("ana", "x")).rejects.toMatchObject({
      code: "NetworkError",
      message: "Could not reach the sign-in service. Check your connection and try again.",
    });
  });

  it("refreshes with REFRESH_TOKEN_AUTH and keeps the refresh token Cognito does not resend", async () => {
    const fresh = tokens("ana@example.org", 3600, "2");
    const fake = fakeFetch({ InitiateAuth: () => json({ AuthenticationResult: { ...fresh, RefreshToken: undefined } }) });
    const old = sessionFromTokens(tokens("ana@example.org", 10), "client123");
    const renewed = await client().refresh(old);
    expect(fake.calls[0]?.body).toEqual({
      AuthFlow: "REFRESH_TOKEN_AUTH",
      ClientId: "client123",
      AuthParameters: { REFRESH_TOKEN: "refresh-1" },
    });
    expect(renewed.idToken).toBe(fresh.IdToken);
    expect(renewed.refreshToken).toBe("refresh-1");
  });

  it("calls the configured endpoint (the local stack's moto Cognito)", async () => {
    const fake = fakeFetch({ GlobalSignOut: () => json({}) });
    const local = new CognitoClient("http://127.0.0.1:5000", "client123");
    const session = sessionFromTokens(tokens(), "client123");
    await local.signOut(session);
    expect(fake.calls[0]?.url).toBe("http://127.0.0.1:5000/");
    expect(fake.calls[0]?.body).toEqual({ AccessToken: session.accessToken });
  });
});
