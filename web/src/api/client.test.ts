// @vitest-environment node
import { describe, expect, it, vi } from "vitest";
import { CONFIG, fakeFetch, json, prediction } from "../test/fakes";
import { ApiClient, REQUEST_TIMEOUT_MS } from "./client";
import { ApiError } from "./errors";

const api = () => new ApiClient(`${CONFIG.apiUrl}/`);
const jpeg = () => new Blob([new Uint8Array([0xff, 0xd8, 0xff])], { type: "image/jpeg" });

describe("ApiClient.predict", () => {
  it("posts the image bytes with their type and the bearer ID token", async () => {
    const fake = fakeFetch({ "POST /predict": () => json(prediction()) });
    const image = jpeg();
    const result = await api().predict(image, "id-token");
    expect(result.label).toBe("benign");
    const call = fake.calls[0];
    expect(call?.url).toBe(`${CONFIG.apiUrl}/predict`);
    const headers = new Headers(call?.init.headers);
    expect(headers.get("Content-Type")).toBe("image/jpeg");
    expect(headers.get("Authorization")).toBe("Bearer id-token");
    expect(call?.init.body).toBe(image);
  });

  it.each([
    [400, { error: { code: "bad_request", message: "image is empty" }, requestId: "r1" }, /could not be read/],
    [413, { message: "Request Too Long" }, /too large to send/],
    [415, { error: { code: "unsupported_media_type", message: "image/gif" }, requestId: "r3" }, /^This file is not a JPEG, PNG or WebP image\.$/],
    [422, { error: { code: "image_rejected", message: "image is 8x8 px" }, requestId: "r4" }, /can't be classified/],
    [401, { error: { code: "unauthorized", message: "Sign in again" }, requestId: "r5" }, /^Your session has expired\. Please sign in again\.$/],
    [429, { message: "Too Many Requests" }, /Too many requests/],
    [503, { error: { code: "model_unavailable", message: "endpoint not InService" }, requestId: "r7" }, /not available/],
    [504, { error: { code: "model_timeout", message: "timed out" }, requestId: "r8" }, /took too long/],
    [500, { message: "Internal server error" }, /error 500/],
  ])("turns HTTP %i into a sentence and keeps the server's details", async (status, body, message) => {
    fakeFetch({ "POST /predict": () => json(body, status) });
    const error = (await api().predict(jpeg(), "t").catch((e: unknown) => e)) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(status);
    expect(error.message).toMatch(message);
    const expected = "error" in body ? body.error.message : body.message;
    expect(error.detail).toBe(expected);
    if ("requestId" in body) expect(error.requestId).toBe(body.requestId);
  });

  it("recognises the guard's 422 not_a_skin_lesion by its code and keeps the score", async () => {
    const body = { error: { code: "not_a_skin_lesion", message: "expected a dermoscopic image" }, lesionScore: 0.04, requestId: "r9" };
    fakeFetch({ "POST /predict": () => json(body, 422) });
    const error = (await api().predict(jpeg(), "t").catch((e: unknown) => e)) as ApiError;
    expect(error.notALesion).toBe(true);
    expect(error.message).toBe("This doesn't look like a dermoscopic image of a skin lesion, so it was not classified.");
    expect(error.lesionScore).toBe(0.04);
    expect(error.requestId).toBe("r9");
  });

  it("keeps a short plain-text error body as the detail", async () => {
    fakeFetch({ "POST /predict": () => new Response("Request Too Long", { status: 413 }) });
    await expect(api().predict(jpeg(), "t")).rejects.toMatchObject({ status: 413, detail: "Request Too Long" });
  });

  it("reports the network being down as status 0", async () => {
    fakeFetch({ "POST /predict": () => Promise.reject(new TypeError("Failed to fetch")) });
    await expect(api().predict(jpeg(), "t")).rejects.toMatchObject({
      status: 0,
      message: "Could not reach the server. Check your connection and try again.",
    });
  });

  it("gives up after the timeout with the 504 sentence", async () => {
    vi.useFakeTimers();
    try {
      fakeFetch({
        "POST /predict": (call) =>
          new Promise((_resolve, reject) => call.init.signal?.addEventListener("abort", () => reject(new Error("aborted")))),
      });
      const pending = api().predict(jpeg(), "t").catch((e: unknown) => e);
      await vi.advanceTimersByTimeAsync(REQUEST_TIMEOUT_MS + 1);
      expect(await pending).toMatchObject({ status: 504 });
    } finally {
      vi.useRealTimers();
    }
  });

  it("refuses a 200 answer without the expected fields", async () => {
    fakeFetch({ "POST /predict": () => json({ label: "benign" }) });
    await expect(api().predict(jpeg(), "t")).rejects.toMatchObject({ code: "bad_response" });
  });
});

describe("ApiClient.model", () => {
  it("reads the model version with the token", async () => {
    const fake = fakeFetch({ "GET /model": () => json({ version: "v7", threshold: 0.4, arch: "mnv2" }) });
    await expect(api().model("id-token")).resolves.toMatchObject({ version: "v7", threshold: 0.4, arch: "mnv2" });
    expect(new Headers(fake.calls[0]?.init.headers).get("Authorization")).toBe("Bearer id-token");
  });
});
