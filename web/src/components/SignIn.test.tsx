import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { STORAGE_KEY } from "../auth/session";
import {
  byChallenge,
  challenge,
  CONFIG,
  cognitoError,
  defaultHandlers,
  fakeFetch,
  json,
  passwordVerifier,
  tokens,
} from "../test/fakes";
import { App } from "./App";

async function signIn(password = "correct horse") {
  const user = userEvent.setup();
  render(<App />);
  await user.type(await screen.findByLabelText("Email or username"), "ana@example.org");
  await user.type(screen.getByLabelText("Password"), password);
  await user.click(screen.getByRole("button", { name: "Sign in" }));
  return user;
}

describe("Sign-in", () => {
  it("signs in with SRP and shows the upload page; the password is never sent", async () => {
    const fake = fakeFetch(defaultHandlers());
    await signIn();
    expect(await screen.findByText("Signed in as ana@example.org")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Classify image" })).toBeDisabled();
    expect(fake.byRoute("InitiateAuth")[0]?.body).toMatchObject({
      AuthFlow: "USER_SRP_AUTH",
      AuthParameters: { USERNAME: "ana@example.org", SRP_A: expect.stringMatching(/^[0-9a-f]{100,}$/) },
    });
    expect(fake.byRoute("RespondToAuthChallenge")[0]?.body).toMatchObject({
      ChallengeName: "PASSWORD_VERIFIER",
      Session: "srp-session",
      ChallengeResponses: { PASSWORD_CLAIM_SIGNATURE: expect.any(String), TIMESTAMP: expect.stringMatching(/ UTC \d{4}$/) },
    });
    expect(JSON.stringify(fake.calls.map((c) => c.body))).not.toContain("correct horse");
  });

  it("keeps the refresh token out of web storage", async () => {
    fakeFetch(defaultHandlers());
    await signIn();
    await screen.findByText("Signed in as ana@example.org");
    const stored = sessionStorage.getItem(STORAGE_KEY) ?? "";
    expect(stored).toContain("idToken");
    expect(stored).not.toContain("refresh-1");
    expect(localStorage.length).toBe(0);
  });

  it("uses the plain password flow against the local stack", async () => {
    const fake = fakeFetch({ ...defaultHandlers(), config: () => json({ ...CONFIG, mode: "local" }) });
    await signIn();
    expect(await screen.findByText("Signed in as ana@example.org")).toBeInTheDocument();
    expect(fake.byRoute("InitiateAuth")[0]?.body).toMatchObject({
      AuthFlow: "USER_PASSWORD_AUTH",
      AuthParameters: { USERNAME: "ana@example.org", PASSWORD: "correct horse" },
    });
  });

  it.each([
    ["a wrong password", { RespondToAuthChallenge: () => cognitoError("NotAuthorizedException", "Incorrect username or password.") }, "Incorrect username or password."],
    ["an unknown user", { InitiateAuth: () => cognitoError("UserNotFoundException", "User does not exist.") }, "No account exists with that username."],
    ["the network down", { InitiateAuth: () => Promise.reject(new TypeError("Failed to fetch")) }, "Could not reach the sign-in service. Check your connection and try again."],
  ])("says so for %s and stays on the form", async (_case, handlers, message) => {
    fakeFetch({ ...defaultHandlers(), ...handlers });
    await signIn("wrong");
    expect(await screen.findByRole("alert")).toHaveTextContent(message);
    expect(screen.getByRole("button", { name: "Sign in" })).toBeEnabled();
  });

  it("asks for a new password after a temporary one, then signs in", async () => {
    const fake = fakeFetch({
      ...defaultHandlers(),
      InitiateAuth: () => passwordVerifier(),
      RespondToAuthChallenge: byChallenge({
        PASSWORD_VERIFIER: () => challenge("NEW_PASSWORD_REQUIRED", "s-1"),
        NEW_PASSWORD_REQUIRED: () => json({ AuthenticationResult: tokens() }),
      }),
    });
    const user = await signIn("Temp-1234");
    expect(await screen.findByRole("heading", { name: "Choose a new password" })).toBeInTheDocument();
    await user.type(screen.getByLabelText("New password"), "Brand-new-1!");
    await user.type(screen.getByLabelText("Confirm new password"), "Different-2!");
    await user.click(screen.getByRole("button", { name: "Set new password" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("The two passwords do not match.");
    await user.clear(screen.getByLabelText("Confirm new password"));
    await user.type(screen.getByLabelText("Confirm new password"), "Brand-new-1!");
    await user.click(screen.getByRole("button", { name: "Set new password" }));
    expect(await screen.findByText("Signed in as ana@example.org")).toBeInTheDocument();
    expect(fake.byRoute("RespondToAuthChallenge")[1]?.body).toMatchObject({
      ChallengeName: "NEW_PASSWORD_REQUIRED",
      ChallengeResponses: { NEW_PASSWORD: "Brand-new-1!" },
    });
  });
});

describe("Sign-in with MFA", () => {
  it("asks for the authenticator code, says when it is wrong, then signs in", async () => {
    let attempts = 0;
    const fake = fakeFetch({
      ...defaultHandlers(),
      RespondToAuthChallenge: byChallenge({
        PASSWORD_VERIFIER: () => challenge("SOFTWARE_TOKEN_MFA", "mfa-1"),
        SOFTWARE_TOKEN_MFA: () =>
          ++attempts === 1
            ? cognitoError("CodeMismatchException", "Invalid code received for user")
            : json({ AuthenticationResult: tokens() }),
      }),
    });
    const user = await signIn();
    expect(await screen.findByRole("heading", { name: "Two-step verification" })).toBeInTheDocument();
    const code = screen.getByLabelText("Authentication code");
    expect(code).toHaveAttribute("autocomplete", "one-time-code");
    expect(code).toHaveAttribute("inputmode", "numeric");
    await user.type(code, "12345");
    await user.click(screen.getByRole("button", { name: "Verify" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Enter the 6-digit code your authenticator app shows.");
    expect(fake.byRoute("RespondToAuthChallenge")).toHaveLength(1); // a 5-digit code is not sent
    await user.type(code, "9");
    await user.click(screen.getByRole("button", { name: "Verify" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("That code is not right.");
    await user.clear(code);
    await user.type(code, "654 321");
    await user.click(screen.getByRole("button", { name: "Verify" }));
    expect(await screen.findByText("Signed in as ana@example.org")).toBeInTheDocument();
    expect(fake.byRoute("RespondToAuthChallenge").at(-1)?.body).toMatchObject({
      ChallengeName: "SOFTWARE_TOKEN_MFA",
      Session: "mfa-1",
      ChallengeResponses: { SOFTWARE_TOKEN_MFA_CODE: "654321" },
    });
  });

  it("goes back to the sign-in form when the code step is cancelled", async () => {
    fakeFetch({
      ...defaultHandlers(),
      RespondToAuthChallenge: byChallenge({ PASSWORD_VERIFIER: () => challenge("SOFTWARE_TOKEN_MFA", "mfa-1") }),
    });
    const user = await signIn();
    await user.click(await screen.findByRole("button", { name: "Cancel" }));
    expect(screen.getByRole("button", { name: "Sign in" })).toBeInTheDocument();
  });

  it("enrols an authenticator app: QR code and key made on the page, then the first code signs in", async () => {
    const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    const fake = fakeFetch({
      ...defaultHandlers(),
      RespondToAuthChallenge: byChallenge({
        PASSWORD_VERIFIER: () => challenge("MFA_SETUP", "setup-1", { MFAS_CAN_SETUP: '["SOFTWARE_TOKEN_MFA"]' }),
        MFA_SETUP: () => json({ AuthenticationResult: tokens() }),
      }),
      AssociateSoftwareToken: () => json({ SecretCode: secret, Session: "setup-2" }),
      VerifySoftwareToken: () => json({ Status: "SUCCESS", Session: "setup-3" }),
    });
    const user = await signIn();
    const card = (await screen.findByRole("heading", { name: "Set up two-step verification" })).closest("section") as HTMLElement;
    const qr = within(card).getByRole("img", { name: "QR code for your authenticator app" });
    expect(qr.tagName.toLowerCase()).toBe("svg");
    expect(qr.querySelectorAll("path").length).toBeGreaterThan(0); // drawn here, no image from elsewhere
    expect(card.querySelector("img")).toBeNull();
    expect(within(card).getByText(/^Setup key:/)).toHaveTextContent("JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP");
    const link = within(card).getByRole("link", { name: /authenticator app on this device/ });
    expect(link.getAttribute("href")).toBe(
      `otpauth://totp/Skin%20lesion%20classifier:ana%40example.org?secret=${secret}&issuer=Skin%20lesion%20classifier&algorithm=SHA1&digits=6&period=30`,
    );
    await user.type(screen.getByLabelText("Authentication code"), "246810");
    await user.click(screen.getByRole("button", { name: "Verify and sign in" }));
    expect(await screen.findByText("Signed in as ana@example.org")).toBeInTheDocument();
    expect(fake.byRoute("AssociateSoftwareToken")[0]?.body).toEqual({ Session: "setup-1" });
    expect(fake.byRoute("VerifySoftwareToken")[0]?.body).toMatchObject({ Session: "setup-2", UserCode: "246810" });
    expect(fake.byRoute("RespondToAuthChallenge").at(-1)?.body).toMatchObject({ ChallengeName: "MFA_SETUP", Session: "setup-3" });
    await waitFor(() => expect(sessionStorage.getItem(STORAGE_KEY)).not.toContain(secret));
    expect(localStorage.length).toBe(0);
  });

  it("stays on the enrolment step when the first code is wrong", async () => {
    fakeFetch({
      ...defaultHandlers(),
      RespondToAuthChallenge: byChallenge({ PASSWORD_VERIFIER: () => challenge("MFA_SETUP", "setup-1") }),
      AssociateSoftwareToken: () => json({ SecretCode: "ABCDEFGHIJKLMNOP", Session: "setup-2" }),
      VerifySoftwareToken: () => cognitoError("EnableSoftwareTokenMFAException", "Code mismatch"),
    });
    const user = await signIn();
    await user.type(await screen.findByLabelText("Authentication code"), "111111");
    await user.click(screen.getByRole("button", { name: "Verify and sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("That code is not right.");
    expect(screen.getByRole("img", { name: "QR code for your authenticator app" })).toBeInTheDocument();
  });
});
