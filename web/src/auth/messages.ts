/** Cognito's failures as sentences a person can act on (the sign-in forms show them as is). */

/** A Cognito failure with a sentence for the person; `code` is Cognito's exception name. */
export class AuthError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "AuthError";
    this.code = code;
  }
}

export const NETWORK_MESSAGE = "Could not reach the sign-in service. Check your connection and try again.";

const MESSAGES: Record<string, string> = {
  NotAuthorizedException: "Incorrect username or password.",
  UserNotFoundException: "No account exists with that username.",
  UserNotConfirmedException: "This account is not confirmed yet. Ask your administrator to confirm it.",
  PasswordResetRequiredException: "A password reset is required for this account. Ask your administrator.",
  TooManyRequestsException: "Too many sign-in attempts. Please wait a moment and try again.",
  LimitExceededException: "Too many sign-in attempts. Please wait a moment and try again.",
  ResourceNotFoundException: "The sign-in service does not know this site's app client (config.json).",
  CodeMismatchException: "That code is not right. Enter the current 6-digit code from your authenticator app.",
  EnableSoftwareTokenMFAException:
    "That code is not right. Enter the current 6-digit code from your authenticator app.",
  ExpiredCodeException: "That code has expired. Enter the current 6-digit code from your authenticator app.",
};

export const SIGN_IN_EXPIRED_MESSAGE = "This sign-in took too long. Please sign in again.";

export function messageFor(code: string, serverMessage: string): string {
  if (code === "NotAuthorizedException" && /attempts exceeded/i.test(serverMessage)) {
    return "Too many failed attempts. Please wait a while and try again.";
  }
  if (code === "NotAuthorizedException" && /session/i.test(serverMessage)) return SIGN_IN_EXPIRED_MESSAGE;
  if (code === "InvalidPasswordException") {
    return `That password is not allowed: ${serverMessage.replace(/^Password does not conform to policy: /, "")}`;
  }
  return MESSAGES[code] ?? `Sign-in failed: ${serverMessage || code}`;
}
