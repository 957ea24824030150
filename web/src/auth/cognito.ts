/**
 * A small client for Cognito's JSON API (the calls the AWS SDK makes, without the SDK):
 * USER_PASSWORD_AUTH sign-in, the NEW_PASSWORD_REQUIRED challenge, REFRESH_TOKEN_AUTH and
 * GlobalSignOut. The same calls work against the local stack's moto Cognito through
 * config.cognitoEndpoint.
 */
import { sessionFromTokens, type Session } from "./session";

/** A Cognito failure with a sentence for the person; `code` is Cognito's exception name. */
export class AuthError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "AuthError";
    this.code = code;
  }
}

/** Cognito asks the user to choose a new password (first sign-in with a temporary one). */
export interface NewPasswordChallenge {
  kind: "newPassword";
  username: string;
  session: string;
}

export type SignInResult = { kind: "signedIn"; session: Session } | NewPasswordChallenge;

export const NETWORK_MESSAGE = "Could not reach the sign-in service. Check your connection and try again.";

const MESSAGES: Record<string, string> = {
  NotAuthorizedException: "Incorrect username or password.",
  UserNotFoundException: "No account exists with that username.",
  UserNotConfirmedException: "This account is not confirmed yet. Ask your administrator to confirm it.",
  PasswordResetRequiredException: "A password reset is required for this account. Ask your administrator.",
  TooManyRequestsException: "Too many sign-in attempts. Please wait a moment and try again.",
  LimitExceededException: "Too many sign-in attempts. Please wait a moment and try again.",
  ResourceNotFoundException: "The sign-in service does not know this site's app client (config.json).",
};

function messageFor(code: string, serverMessage: string): string {
  if (code === "NotAuthorizedException" && /attempts exceeded/i.test(serverMessage)) {
    return "Too many failed attempts. Please wait a while and try again.";
  }
  if (code === "InvalidPasswordException") {
    return `That password is not allowed: ${serverMessage.replace(/^Password does not conform to policy: /, "")}`;
  }
  return MESSAGES[code] ?? `Sign-in failed: ${serverMessage || code}`;
}

export class CognitoClient {
  private readonly endpoint: string;
  private readonly clientId: string;
  private readonly fetchFn: typeof fetch;

  constructor(endpoint: string, clientId: string, fetchFn: typeof fetch = (...a) => fetch(...a)) {
    this.endpoint = endpoint.endsWith("/") ? endpoint : `${endpoint}/`;
    this.clientId = clientId;
    this.fetchFn = fetchFn;
  }

  /** One JSON API call; Cognito answers errors as {"__type": "...#Name", "message": "..."}. */
  private async call(target: string, body: object): Promise<Record<string, unknown>> {
    let response: Response;
    try {
      response = await this.fetchFn(this.endpoint, {
        method: "POST",
        headers: {
          "Content-Type": "application/x-amz-json-1.1",
          "X-Amz-Target": `AWSCognitoIdentityProviderService.${target}`,
        },
        body: JSON.stringify(body),
      });
    } catch {
      throw new AuthError("NetworkError", NETWORK_MESSAGE);
    }
    const data = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    if (!response.ok) {
      const rawType = String(data.__type ?? response.headers.get("x-amzn-ErrorType") ?? "UnknownError");
      const code = rawType.split("#").pop()?.split(":")[0] ?? rawType;
      throw new AuthError(code, messageFor(code, String(data.message ?? data.Message ?? "")));
    }
    return data;
  }

  private toResult(data: Record<string, unknown>, username: string, refreshToken?: string): SignInResult {
    const result = data.AuthenticationResult as Record<string, string> | undefined;
    if (result?.IdToken && result.AccessToken) {
      const tokens = {
        IdToken: result.IdToken,
        AccessToken: result.AccessToken,
        // Refresh responses carry no new refresh token unless rotation is on: keep the old one.
        RefreshToken: result.RefreshToken ?? refreshToken ?? "",
      };
      return { kind: "signedIn", session: sessionFromTokens(tokens, this.clientId) };
    }
    if (data.ChallengeName === "NEW_PASSWORD_REQUIRED" && typeof data.Session === "string") {
      const params = (data.ChallengeParameters ?? {}) as Record<string, string>;
      // With an email alias the challenge must name the user by its real username.
      return { kind: "newPassword", username: params.USER_ID_FOR_SRP ?? username, session: data.Session };
    }
    const challenge = String(data.ChallengeName ?? "none");
    throw new AuthError("UnsupportedChallenge", `This account needs a sign-in step this page does not support (${challenge}).`);
  }

  async signIn(username: string, password: string): Promise<SignInResult> {
    const data = await this.call("InitiateAuth", {
      AuthFlow: "USER_PASSWORD_AUTH",
      ClientId: this.clientId,
      AuthParameters: { USERNAME: username, PASSWORD: password },
    });
    return this.toResult(data, username);
  }

  async completeNewPassword(challenge: NewPasswordChallenge, newPassword: string): Promise<SignInResult> {
    const data = await this.call("RespondToAuthChallenge", {
      ChallengeName: "NEW_PASSWORD_REQUIRED",
      ClientId: this.clientId,
      Session: challenge.session,
      ChallengeResponses: { USERNAME: challenge.username, NEW_PASSWORD: newPassword },
    });
    return this.toResult(data, challenge.username);
  }

  /** New ID and access tokens from the refresh token; AuthError when it has expired. */
  async refresh(session: Session): Promise<Session> {
    const data = await this.call("InitiateAuth", {
      AuthFlow: "REFRESH_TOKEN_AUTH",
      ClientId: this.clientId,
      AuthParameters: { REFRESH_TOKEN: session.refreshToken },
    });
    const result = this.toResult(data, session.displayName, session.refreshToken);
    if (result.kind !== "signedIn") throw new AuthError("UnexpectedChallenge", "Please sign in again.");
    return result.session;
  }

  /** Revokes the tokens on the server; best effort (the page forgets them either way). */
  async signOut(session: Session): Promise<void> {
    await this.call("GlobalSignOut", { AccessToken: session.accessToken });
  }
}
