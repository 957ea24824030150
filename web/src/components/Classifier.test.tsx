import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it } from "vitest";
import { saveSession, sessionFromTokens } from "../auth/session";
import {
  CONFIG,
  defaultHandlers,
  fakeFetch,
  imageFile,
  installFakeCanvas,
  json,
  prediction,
  tokens,
} from "../test/fakes";
import { App } from "./App";

type Handlers = ReturnType<typeof defaultHandlers>;

beforeEach(() => {
  saveSession(sessionFromTokens(tokens("ana@example.org"), CONFIG.userPoolClientId));
});

/** Signed in, an image chosen with user.upload; returns the fake server and the user. */
async function chooseImage(handlers: Partial<Handlers> = {}, file = imageFile()) {
  installFakeCanvas({ width: 4032, height: 3024 });
  const fake = fakeFetch({ ...defaultHandlers(), ...handlers } as Handlers);
  const user = userEvent.setup();
  render(<App />);
  await user.upload(await screen.findByLabelText("Choose image"), file);
  await screen.findByRole("img", { name: `Preview of ${file.name}` });
  return { fake, user };
}

describe("Classifier upload", () => {
  it("previews the downscaled image and enables the button", async () => {
    await chooseImage();
    expect(screen.getByText(/sent as 1024×768 JPEG/)).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Classify image" })).toBeEnabled();
  });

  it("sends the downscaled JPEG, not the original file", async () => {
    const { fake, user } = await chooseImage();
    await user.click(screen.getByRole("button", { name: "Classify image" }));
    await screen.findByText(/^Result:/);
    const [call] = fake.byRoute("POST /predict");
    expect(new Headers(call?.init.headers).get("Content-Type")).toBe("image/jpeg");
    expect(call?.init.body).toBeInstanceOf(Blob);
    expect((call?.init.body as Blob).size).toBe("jpeg 1024x768".length);
  });

  it("accepts a dropped image", async () => {
    installFakeCanvas();
    fakeFetch(defaultHandlers());
    render(<App />);
    const zone = (await screen.findByText(/Drop a dermoscopic image/)).closest("div") as HTMLElement;
    fireEvent.drop(zone, { dataTransfer: { files: [imageFile("dropped.png", "image/png")] } });
    expect(await screen.findByRole("img", { name: "Preview of dropped.png" })).toBeInTheDocument();
  });

  it("keeps a photo dropped beside the zone from navigating away from the page", async () => {
    fakeFetch(defaultHandlers());
    render(<App />);
    await screen.findByLabelText("Choose image");
    // The window listener is attached by an effect that may run just after the control shows
    // (a loaded machine made this flaky): wait for it rather than for the control alone.
    await waitFor(() => {
      const notCancelled = fireEvent.drop(document.body, { dataTransfer: { files: [imageFile()] } });
      expect(notCancelled).toBe(false); // default prevented: the browser does not open the file
    });
  });

  it("forgets the previous photo when the next file is not an image", async () => {
    installFakeCanvas();
    const fake = fakeFetch(defaultHandlers());
    const user = userEvent.setup({ applyAccept: false });
    render(<App />);
    const input = await screen.findByLabelText("Choose image");
    await user.upload(input, imageFile());
    expect(await screen.findByRole("button", { name: "Classify image" })).toBeEnabled();
    await user.upload(input, new File(["# notes"], "notes.md", { type: "text/markdown" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("This file is not a JPEG, PNG or WebP image.");
    expect(screen.getByRole("button", { name: "Classify image" })).toBeDisabled();
    expect(fake.byRoute("POST /predict")).toHaveLength(0);
  });

  it("refuses a file that is not an image without calling the API", async () => {
    installFakeCanvas();
    const fake = fakeFetch(defaultHandlers());
    const user = userEvent.setup({ applyAccept: false });
    render(<App />);
    await user.upload(await screen.findByLabelText("Choose image"), new File(["%PDF"], "report.pdf", { type: "application/pdf" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("This file is not a JPEG, PNG or WebP image.");
    expect(screen.getByRole("button", { name: "Classify image" })).toBeDisabled();
    expect(fake.byRoute("POST /predict")).toHaveLength(0);
  });
});

describe("Classifier request", () => {
  it("disables the button and shows progress while the request is in flight", async () => {
    let answer: (response: Response) => void = () => undefined;
    const { user } = await chooseImage({ "POST /predict": () => new Promise<Response>((resolve) => (answer = resolve)) });
    await user.click(screen.getByRole("button", { name: "Classify image" }));
    expect(screen.getByRole("button", { name: "Classify image" })).toBeDisabled();
    expect(screen.getByRole("status")).toHaveTextContent("Classifying image…");
    expect(screen.getByRole("button", { name: "Classify image" }).closest("form")).toHaveAttribute("aria-busy", "true");
    answer(json(prediction()));
    expect(await screen.findByText(/^Result:/)).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Classify image" })).toBeEnabled();
    expect(screen.getByRole("status")).toHaveTextContent("Result ready: Benign.");
  });

  it("shows both bars with percentages, the label at the threshold and the model version", async () => {
    const malignant = prediction({ label: "malignant", probabilities: { benign: 0.394, malignant: 0.606 }, threshold: 0.35 });
    const { user } = await chooseImage({ "POST /predict": () => json(malignant) });
    await user.click(screen.getByRole("button", { name: "Classify image" }));
    expect(await screen.findByText("Result: Malignant (threshold 0.35)")).toBeInTheDocument();
    const malignantBar = screen.getByRole("meter", { name: "Malignant" });
    expect(malignantBar).toHaveTextContent("60.6%");
    expect(malignantBar).toHaveAttribute("aria-valuenow", "60.6");
    expect(screen.getByRole("meter", { name: "Benign" })).toHaveTextContent("39.4%");
    const result = screen.getByRole("region", { name: "Result" });
    expect(within(result).getByText("2026-11-29T12-00-00Z-abc123")).toBeInTheDocument();
  });

  it("keeps this session's results as a history with thumbnails", async () => {
    const { user } = await chooseImage();
    await user.click(screen.getByRole("button", { name: "Classify image" }));
    await screen.findByText(/^Result:/);
    await user.upload(screen.getByLabelText("Choose image"), imageFile("second.jpg"));
    await screen.findByRole("img", { name: "Preview of second.jpg" });
    await user.click(screen.getByRole("button", { name: "Classify image" }));
    await screen.findByText(/^Result:/);
    const history = screen.getByRole("region", { name: "This session's results" });
    const items = within(history).getAllByRole("listitem");
    expect(items).toHaveLength(2);
    expect(within(items[0] as HTMLElement).getByRole("img", { name: "Thumbnail of second.jpg" })).toBeInTheDocument();
    expect(items[1]).toHaveTextContent("Benign");
  });
});

describe("Classifier errors", () => {
  it.each([
    [400, "The image could not be read. It may be damaged; please try another photo."],
    [413, "This image is too large to send. Please choose a smaller photo."],
    [415, "This file is not a JPEG, PNG or WebP image."],
    [422, "This image can't be classified: it is too small or has too many pixels. Please try another photo."],
    [429, "Too many requests right now. Please wait a moment and try again."],
    [503, "The model is not available at the moment. Please try again in a few minutes."],
    [504, "The model took too long to answer. Please try again."],
  ])("shows HTTP %i as a sentence in an alert", async (status, message) => {
    const body = { error: { code: "x", message: "server detail" }, requestId: "req-9" };
    const { user } = await chooseImage({ "POST /predict": () => json(body, status) });
    await user.click(screen.getByRole("button", { name: "Classify image" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent(message);
    expect(alert).toHaveTextContent("Details: server detail");
    expect(alert).toHaveTextContent("Request ID: req-9");
    expect(screen.getByRole("button", { name: "Classify image" })).toBeEnabled();
  });

  it("explains a not-a-lesion refusal instead of showing bars, and marks it in the history", async () => {
    const refusal = {
      error: { code: "not_a_skin_lesion", message: "Expected a dermoscopic image of one skin lesion, centred." },
      lesionScore: 0.0123,
      requestId: "req-guard",
    };
    const { user } = await chooseImage({ "POST /predict": () => json(refusal, 422) }, imageFile("cat.jpg"));
    await user.click(screen.getByRole("button", { name: "Classify image" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("This doesn't look like a dermoscopic image of a skin lesion, so it was not classified.");
    expect(alert).toHaveTextContent("a dermoscopic image of one skin lesion, centred");
    expect(alert).toHaveTextContent("a phone with a dermatoscope attachment");
    expect(alert).toHaveTextContent("Request ID: req-guard");
    expect(alert).not.toHaveTextContent("too small"); // not the generic 422 sentence
    expect(alert).not.toHaveTextContent(/%|0\.01/); // neither probabilities nor the guard's score
    expect(screen.queryByRole("meter")).not.toBeInTheDocument();
    expect(screen.queryByText(/^Result:/)).not.toBeInTheDocument();
    expect(screen.getByRole("status")).toHaveTextContent(/^$/);
    const history = screen.getByRole("region", { name: "This session's results" });
    const [item] = within(history).getAllByRole("listitem");
    expect(item).toHaveTextContent("Refused");
    expect(item).toHaveTextContent("not a dermoscopic lesion image");
    expect(item).not.toHaveTextContent(/Benign|Malignant|%/);
    expect(screen.getByRole("button", { name: "Classify image" })).toBeEnabled();
  });

  it("clears an earlier result's bars when the next image is refused", async () => {
    let calls = 0;
    const refusal = { error: { code: "not_a_skin_lesion", message: "m" }, lesionScore: 0.2, requestId: "r" };
    const { user } = await chooseImage({
      "POST /predict": () => (++calls === 1 ? json(prediction()) : json(refusal, 422)),
    });
    await user.click(screen.getByRole("button", { name: "Classify image" }));
    expect(await screen.findAllByRole("meter")).toHaveLength(2);
    await user.click(screen.getByRole("button", { name: "Classify image" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("not classified");
    expect(screen.queryByRole("meter")).not.toBeInTheDocument();
    const items = within(screen.getByRole("region", { name: "This session's results" })).getAllByRole("listitem");
    expect(items.map((item) => item.querySelector(".history-label")?.textContent)).toEqual(["Refused", "Benign"]);
  });

  it("says where the image must come from: a dermatoscope, not a plain phone photo", async () => {
    fakeFetch(defaultHandlers());
    render(<App />);
    expect(await screen.findByLabelText("Take a photo with a dermatoscope")).toHaveAttribute("capture", "environment");
    expect(screen.getByText(/phone with a dermatoscope attachment/)).toBeInTheDocument();
    expect(screen.getByText(/An ordinary phone photo is refused/)).toBeInTheDocument();
  });

  it("says when the network is down", async () => {
    const { user } = await chooseImage({ "POST /predict": () => Promise.reject(new TypeError("Failed to fetch")) });
    await user.click(screen.getByRole("button", { name: "Classify image" }));
    expect(await screen.findByRole("alert")).toHaveTextContent(
      "Could not reach the server. Check your connection and try again.",
    );
  });

  it("returns to sign-in when a 401 survives a token refresh", async () => {
    sessionStorage.clear(); // signed in through the form: the refresh token is in memory
    installFakeCanvas();
    const unauthorized = { error: { code: "unauthorized", message: "Sign in again" }, requestId: "r" };
    const fake = fakeFetch({ ...defaultHandlers(), "POST /predict": () => json(unauthorized, 401) });
    const user = userEvent.setup();
    render(<App />);
    await user.type(await screen.findByLabelText("Email or username"), "ana@example.org");
    await user.type(screen.getByLabelText("Password"), "pw");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    await user.upload(await screen.findByLabelText("Choose image"), imageFile());
    await screen.findByRole("img", { name: "Preview of lesion.jpg" });
    await user.click(screen.getByRole("button", { name: "Classify image" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Your session has expired. Please sign in again.");
    expect(screen.getByRole("button", { name: "Sign in" })).toBeInTheDocument();
    expect(fake.byRoute("POST /predict")).toHaveLength(2); // retried once with the refreshed token
    expect(fake.byRoute("GetTokensFromRefreshToken")[0]?.body).toEqual({ ClientId: CONFIG.userPoolClientId, RefreshToken: "refresh-1" });
    await waitFor(() => expect(fake.byRoute("GlobalSignOut")).toHaveLength(1));
  });

  it("returns to sign-in on load when the tab's stored session is about to expire", async () => {
    saveSession(sessionFromTokens(tokens("ana@example.org", 10), CONFIG.userPoolClientId));
    const fake = fakeFetch(defaultHandlers());
    render(<App />);
    expect(await screen.findByRole("alert")).toHaveTextContent("Your session has expired. Please sign in again.");
    expect(screen.getByRole("button", { name: "Sign in" })).toBeInTheDocument();
    expect(fake.byRoute("InitiateAuth")).toHaveLength(0); // the refresh token never left the old page's memory
    expect(fake.byRoute("GET /model")).toHaveLength(0);
  });
});
