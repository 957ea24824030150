import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { cognitoError, defaultHandlers, fakeFetch, json, tokens } from "../test/fakes";
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
  it("signs in and shows the upload page", async () => {
    const fake = fakeFetch(defaultHandlers());
    await signIn();
    expect(await screen.findByText("Signed in as ana@example.org")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Classify image" })).toBeDisabled();
    expect(fake.byRoute("InitiateAuth")[0]?.body).toMatchObject({
      AuthFlow: "USER_PASSWORD_AUTH",
      AuthParameters: { USERNAME: "ana@example.org", PASSWORD: "correct horse" },
    });
    expect(JSON.parse(localStorage.getItem("skinlesion.session.v1") ?? "{}")).toMatchObject({ refreshToken: "refresh-1" });
  });

  it.each([
    ["a wrong password", () => cognitoError("NotAuthorizedException", "Incorrect username or password."), "Incorrect username or password."],
    ["an unknown user", () => cognitoError("UserNotFoundException", "User does not exist."), "No account exists with that username."],
    ["the network down", () => Promise.reject(new TypeError("Failed to fetch")), "Could not reach the sign-in service. Check your connection and try again."],
  ])("says so for %s and stays on the form", async (_case, initiateAuth, message) => {
    fakeFetch({ ...defaultHandlers(), InitiateAuth: initiateAuth });
    await signIn("wrong");
    expect(await screen.findByRole("alert")).toHaveTextContent(message);
    expect(screen.getByRole("button", { name: "Sign in" })).toBeEnabled();
  });

  it("asks for a new password after a temporary one, then signs in", async () => {
    fakeFetch({
      ...defaultHandlers(),
      InitiateAuth: () => json({ ChallengeName: "NEW_PASSWORD_REQUIRED", Session: "s-1", ChallengeParameters: {} }),
      RespondToAuthChallenge: () => json({ AuthenticationResult: tokens() }),
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
  });
});
