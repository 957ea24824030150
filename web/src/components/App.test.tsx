import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { saveSession, sessionFromTokens, STORAGE_KEY } from "../auth/session";
import { CONFIG, defaultHandlers, fakeFetch, json, tokens } from "../test/fakes";
import { App } from "./App";

describe("App start-up", () => {
  it("loads config.json, then shows the sign-in form and the notice", async () => {
    fakeFetch(defaultHandlers());
    render(<App />);
    expect(screen.getByRole("status")).toHaveTextContent("Loading");
    expect(await screen.findByRole("heading", { name: "Sign in" })).toBeInTheDocument();
    expect(screen.getByLabelText("Email or username")).toBeInTheDocument();
    expect(screen.getByLabelText("Password")).toBeInTheDocument();
    expect(screen.getByText(/Research demonstration, not a medical diagnosis\./)).toBeVisible();
    expect(screen.getByText(/HAM10000.*CC BY-NC 4\.0.*ISIC 2017/)).toBeInTheDocument();
  });

  it.each([
    ["missing", () => new Response("Not Found", { status: 404 }), /HTTP 404/],
    ["broken", () => new Response("{", { status: 200 }), /not valid JSON/],
    ["incomplete", () => json({ ...CONFIG, apiUrl: undefined }), /"apiUrl"/],
  ])("explains a %s config.json instead of a blank page", async (_kind, config, reason) => {
    fakeFetch({ config });
    render(<App />);
    expect(await screen.findByRole("heading", { name: "This site is not configured" })).toBeInTheDocument();
    expect(screen.getByRole("alert")).toHaveTextContent(reason);
    expect(screen.queryByRole("button", { name: "Sign in" })).not.toBeInTheDocument();
  });

  it("marks the local stack", async () => {
    fakeFetch({ ...defaultHandlers(), config: () => json({ ...CONFIG, mode: "local", cognitoEndpoint: "http://127.0.0.1:5000" }) });
    render(<App />);
    expect(await screen.findByText("local stack")).toBeInTheDocument();
  });
});

describe("App session", () => {
  it("keeps the person signed in across a reload of the tab", async () => {
    saveSession(sessionFromTokens(tokens("ana@example.org"), CONFIG.userPoolClientId));
    fakeFetch(defaultHandlers());
    render(<App />);
    expect(await screen.findByText("Signed in as ana@example.org")).toBeInTheDocument();
    expect(screen.getByLabelText("Choose image")).toBeInTheDocument();
  });

  it("signs out: back to the sign-in form, session forgotten and revoked", async () => {
    const session = sessionFromTokens(tokens("ana@example.org"), CONFIG.userPoolClientId);
    saveSession(session);
    const fake = fakeFetch(defaultHandlers());
    const user = userEvent.setup();
    render(<App />);
    await user.click(await screen.findByRole("button", { name: "Sign out" }));
    expect(screen.getByRole("button", { name: "Sign in" })).toBeInTheDocument();
    expect(sessionStorage.getItem(STORAGE_KEY)).toBeNull();
    await waitFor(() => expect(fake.byRoute("GlobalSignOut")).toHaveLength(1));
    expect(fake.byRoute("GlobalSignOut")[0]?.body).toEqual({ AccessToken: session.accessToken });
  });
});
