/**
 * A small client for Cognito's JSON API (the calls the AWS SDK makes, without the SDK):
 * USER_SRP_AUTH sign-in (USER_PASSWORD_AUTH for the local stack), the NEW_PASSWORD_REQUIRED,
 * SOFTWARE_TOKEN_MFA and MFA_SETUP challenges (AssociateSoftwareToken, VerifySoftwareToken),
 * token refresh (GetTokensFromRefreshToken; REFRESH_TOKEN_AUTH locally) and GlobalSignOut. The
 * same calls work against the local stack's moto Cognito through config.cognitoEndpoint.
 */
import { sessionFromTokens, type Session } from "./session";
import { AuthError, messageFor, NETWORK_MESSAGE } from "./messages";
import { cognitoTimestamp, newEphemeral, passwordClaimSignature, SrpError } from "./srp";

export { AuthError, NETWORK_MESSAGE, SIGN_IN_EXPIRED_MESSAGE } from "./messages";

/** A step Cognito asks for before it issues tokens; `username` is what to answer it with. */
interface ChallengeBase {
  username: string;
  session: string;
}

/** Cognito asks the user to choose a new password (first sign-in with a temporary one). */
export interface NewPasswordChallenge extends ChallengeBase {
  kind: "newPassword";
}

/** SOFTWARE_TOKEN_MFA: the 6-digit code from the person's authenticator app. */
export interface MfaCodeChallenge extends ChallengeBase {
  kind: "mfaCode";
}

/** MFA_SETUP: the pool requires MFA and this person has none yet: enrol a TOTP app. */
export interface MfaSetupChallenge extends ChallengeBase {
  kind: "mfaSetup";
}

export type Challenge = NewPasswordChallenge | MfaCodeChallenge | MfaSetupChallenge;

export type SignInResult = { kind: "signedIn"; session: Session } | Challenge;

/** `USER_SRP_AUTH` (the cloud: the password never leaves the page) or `USER_PASSWORD_AUTH`
 * (the local stack's emulator, and scripts). */
export type AuthFlow = "USER_SRP_AUTH" | "USER_PASSWORD_AUTH";

/** How tokens are refreshed: the cloud's API (rotation-ready) or the emulator's flow. */
export type RefreshFlow = "GetTokensFromRefreshToken" | "REFRESH_TOKEN_AUTH";

export interface CognitoOptions {
  /** Needed for SRP: the pool's name (after the "_") enters the password proof. */
  userPoolId?: string;
  authFlow?: AuthFlow;
  /** Default: GetTokensFromRefreshToken with SRP, REFRESH_TOKEN_AUTH with the password flow. */
  refreshFlow?: RefreshFlow;
  fetchFn?: typeof fetch;
  now?: () => Date;
}

const CHALLENGES: Record<string, Challenge["kind"]> = {
  NEW_PASSWORD_REQUIRED: "newPassword",
  SOFTWARE_TOKEN_MFA: "mfaCode",
  MFA_SETUP: "mfaSetup",
};

export class CognitoClient {
  private readonly endpoint: string;
  private readonly clientId: string;
  private readonly userPoolId: string;
  private readonly authFlow: AuthFlow;
  private readonly refreshFlow: RefreshFlow;
  private readonly fetchFn: typeof fetch;
  private readonly now: () => Date;

  constructor(endpoint: string, clientId: string, options: CognitoOptions = {}) {
    this.endpoint = endpoint.endsWith("/") ? endpoint : `${endpoint}/`;
    this.clientId = clientId;
    this.userPoolId = options.userPoolId ?? "";
    this.authFlow = options.authFlow ?? "USER_SRP_AUTH";
    this.refreshFlow =
      options.refreshFlow ?? (this.authFlow === "USER_SRP_AUTH" ? "GetTokensFromRefreshToken" : "REFRESH_TOKEN_AUTH");
    if (this.authFlow === "USER_SRP_AUTH" && !this.userPoolId.includes("_")) {
      throw new Error("SRP sign-in needs the user pool id (region_name)");
    }
    this.fetchFn = options.fetchFn ?? ((...a) => fetch(...a));
    this.now = options.now ?? (() => new Date());
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
    const params = (data.ChallengeParameters ?? {}) as Record<string, string>;
    // With an email alias the challenges must name the user by its real username.
    const name = params.USER_ID_FOR_SRP ?? params.USERNAME ?? username;
    const session = typeof data.Session === "string" ? data.Session : "";
    const kind = CHALLENGES[String(data.ChallengeName)];
    if (kind && session) {
      if (kind === "mfaSetup" && params.MFAS_CAN_SETUP && !params.MFAS_CAN_SETUP.includes("SOFTWARE_TOKEN_MFA")) {
        throw new AuthError("UnsupportedChallenge", `This account must set up an MFA method this page does not offer (${params.MFAS_CAN_SETUP}).`);
      }
      return { kind, username: name, session };
    }
    const challenge = String(data.ChallengeName ?? "none");
    throw new AuthError("UnsupportedChallenge", `This account needs a sign-in step this page does not support (${challenge}).`);
  }

  /** Signs in with SRP (or the plain password in the local stack); may end in a challenge. */
  async signIn(username: string, password: string): Promise<SignInResult> {
    if (this.authFlow === "USER_PASSWORD_AUTH") {
      const data = await this.call("InitiateAuth", {
        AuthFlow: "USER_PASSWORD_AUTH",
        ClientId: this.clientId,
        AuthParameters: { USERNAME: username, PASSWORD: password },
      });
      return this.toResult(data, username);
    }
    if (!globalThis.crypto?.subtle) {
      // WebCrypto's digests exist only in secure contexts: HTTPS, or localhost.
      throw new AuthError("InsecureContext", "Sign-in needs this page to be opened over https://.");
    }
    const ephemeral = newEphemeral();
    const started = await this.call("InitiateAuth", {
      AuthFlow: "USER_SRP_AUTH",
      ClientId: this.clientId,
      AuthParameters: { USERNAME: username, SRP_A: ephemeral.largeA.toString(16) },
    });
    if (started.ChallengeName !== "PASSWORD_VERIFIER") return this.toResult(started, username);
    const params = (started.ChallengeParameters ?? {}) as Record<string, string>;
    const { SALT: salt, SRP_B: srpB, SECRET_BLOCK: secretBlock, USER_ID_FOR_SRP: userIdForSrp } = params;
    if (!salt || !srpB || !secretBlock || !userIdForSrp) {
      throw new AuthError("BadChallenge", "The sign-in service sent an incomplete SRP challenge.");
    }
    const timestamp = cognitoTimestamp(this.now());
    let signature: string;
    try {
      const challenge = { salt, srpB, secretBlock, userIdForSrp };
      signature = await passwordClaimSignature({ userPoolId: this.userPoolId, password, ephemeral, challenge, timestamp });
    } catch (error) {
      throw new AuthError("BadChallenge", error instanceof SrpError ? error.message : "Sign-in failed: SRP error.");
    }
    const data = await this.call("RespondToAuthChallenge", {
      ChallengeName: "PASSWORD_VERIFIER",
      ClientId: this.clientId,
      ...(typeof started.Session === "string" ? { Session: started.Session } : {}),
      ChallengeResponses: {
        USERNAME: params.USERNAME ?? userIdForSrp,
        PASSWORD_CLAIM_SECRET_BLOCK: secretBlock,
        PASSWORD_CLAIM_SIGNATURE: signature,
        TIMESTAMP: timestamp,
      },
    });
    return this.toResult(data, params.USERNAME ?? userIdForSrp);
  }

  private async respond(challenge: Challenge, name: string, responses: Record<string, string>): Promise<SignInResult> {
    const data = await this.call("RespondToAuthChallenge", {
      ChallengeName: name,
      ClientId: this.clientId,
      Session: challenge.session,
      ChallengeResponses: { USERNAME: challenge.username, ...responses },
    });
    return this.toResult(data, challenge.username);
  }

  completeNewPassword(challenge: NewPasswordChallenge, newPassword: string): Promise<SignInResult> {
    return this.respond(challenge, "NEW_PASSWORD_REQUIRED", { NEW_PASSWORD: newPassword });
  }

  /** Answers SOFTWARE_TOKEN_MFA with the authenticator app's current code. */
  answerMfaCode(challenge: MfaCodeChallenge, code: string): Promise<SignInResult> {
    return this.respond(challenge, "SOFTWARE_TOKEN_MFA", { SOFTWARE_TOKEN_MFA_CODE: code });
  }

  /** MFA_SETUP, step 1: a new TOTP secret for this person (AssociateSoftwareToken). */
  async associateSoftwareToken(challenge: MfaSetupChallenge): Promise<{ secret: string; challenge: MfaSetupChallenge }> {
    const data = await this.call("AssociateSoftwareToken", { Session: challenge.session });
    if (typeof data.SecretCode !== "string" || !data.SecretCode) {
      throw new AuthError("BadChallenge", "The sign-in service did not send an authenticator secret.");
    }
    const session = typeof data.Session === "string" ? data.Session : challenge.session;
    return { secret: data.SecretCode, challenge: { ...challenge, session } };
  }

  /** MFA_SETUP, step 2: the first code proves the app holds the secret; then sign-in ends. */
  async verifySoftwareToken(challenge: MfaSetupChallenge, code: string, deviceName: string): Promise<SignInResult> {
    const data = await this.call("VerifySoftwareToken", {
      Session: challenge.session,
      UserCode: code,
      FriendlyDeviceName: deviceName,
    });
    if (data.Status !== "SUCCESS") {
      throw new AuthError("CodeMismatchException", messageFor("CodeMismatchException", ""));
    }
    const session = typeof data.Session === "string" ? data.Session : challenge.session;
    return this.respond({ ...challenge, session }, "MFA_SETUP", {});
  }

  /**
   * New ID and access tokens from the refresh token (and a new refresh token where the app
   * client rotates them); AuthError when it has expired. GetTokensFromRefreshToken works with
   * rotation on or off (REFRESH_TOKEN_AUTH does not work with it on); the local stack's
   * emulator knows only REFRESH_TOKEN_AUTH.
   */
  async refresh(session: Session): Promise<Session> {
    const data =
      this.refreshFlow === "GetTokensFromRefreshToken"
        ? await this.call("GetTokensFromRefreshToken", { ClientId: this.clientId, RefreshToken: session.refreshToken })
        : await this.call("InitiateAuth", {
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
