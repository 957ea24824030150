// @vitest-environment node
import { describe, expect, it, vi } from "vitest";
import { ConfigError, loadConfig, parseConfig } from "./config";
import { CONFIG, json } from "./test/fakes";

describe("parseConfig", () => {
  it("defaults the Cognito endpoint to the region's public one", () => {
    const config = parseConfig(CONFIG);
    expect(config.cognitoEndpoint).toBe("https://cognito-idp.eu-west-1.amazonaws.com");
    expect(config.mode).toBe("aws");
  });

  it("keeps a local cognitoEndpoint and strips trailing slashes from URLs", () => {
    const config = parseConfig({
      ...CONFIG,
      apiUrl: "http://127.0.0.1:8080/",
      cognitoEndpoint: "http://127.0.0.1:5000/",
      mode: "local",
    });
    expect(config.apiUrl).toBe("http://127.0.0.1:8080");
    expect(config.cognitoEndpoint).toBe("http://127.0.0.1:5000");
    expect(config.mode).toBe("local");
  });

  it.each([
    [{ ...CONFIG, apiUrl: undefined }, /"apiUrl"/],
    [{ ...CONFIG, userPoolClientId: "" }, /"userPoolClientId"/],
    [{ ...CONFIG, apiUrl: "not a url" }, /not a URL/],
    [{ ...CONFIG, apiUrl: "ftp://x.test" }, /http\(s\)/],
    [{ ...CONFIG, region: "Ireland" }, /region/],
    [{ ...CONFIG, mode: "cloud" }, /"mode"/],
    [{ ...CONFIG, userPoolId: "TESTPOOL" }, /"userPoolId" is not a Cognito user pool id/],
    [["a list"], /JSON object/],
  ])("rejects %j naming the problem", (raw, message) => {
    expect(() => parseConfig(raw)).toThrow(message);
  });
});

describe("loadConfig", () => {
  it("fetches config.json without the HTTP cache", async () => {
    const fetchFn = vi.fn(async () => json(CONFIG));
    await expect(loadConfig(fetchFn)).resolves.toMatchObject({ userPoolId: "eu-west-1_TEST" });
    expect(fetchFn).toHaveBeenCalledWith("config.json", { cache: "no-store" });
  });

  it.each([
    ["a 404", async () => new Response("Not Found", { status: 404 }), /HTTP 404/],
    ["broken JSON", async () => new Response("{apiUrl:", { status: 200 }), /not valid JSON/],
    ["no answer", async () => Promise.reject(new TypeError("Failed to fetch")), /could not be fetched/],
  ])("explains %s as a ConfigError", async (_name, fetchFn, message) => {
    const error = await loadConfig(fetchFn as typeof fetch).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
  });
});
