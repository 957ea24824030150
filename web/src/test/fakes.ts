/**
 * Test doubles: unsigned JWTs, a fake fetch that plays config.json, Cognito's JSON API and
 * the prediction API, and a fake canvas (jsdom has no canvas and no createImageBitmap).
 */
import { vi } from "vitest";
import type { Prediction } from "../api/client";

export const CONFIG = {
  apiUrl: "https://api.example.test/prod",
  region: "eu-west-1",
  userPoolId: "eu-west-1_TEST",
  userPoolClientId: "client123",
  mode: "aws",
};

export const COGNITO_URL = "https://cognito-idp.eu-west-1.amazonaws.com/";

function base64Url(text: string): string {
  const utf8 = String.fromCharCode(...new TextEncoder().encode(text)); // JWTs are UTF-8 JSON
  return btoa(utf8).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** An unsigned JWT with these claims (the page never verifies signatures). */
export function makeJwt(claims: Record<string, unknown>): string {
  return `${base64Url(JSON.stringify({ alg: "RS256", kid: "test" }))}.${base64Url(JSON.stringify(claims))}.sig`;
}

export function tokens(email = "ana@example.org", lifetimeS = 3600, tag = "1") {
  const exp = Math.floor(Date.now() / 1000) + lifetimeS;
  return {
    IdToken: makeJwt({ email, exp, token_use: "id", tag }),
    AccessToken: makeJwt({ exp, token_use: "access", tag }),
    RefreshToken: `refresh-${tag}`,
  };
}

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

export function cognitoError(type: string, message: string, status = 400): Response {
  return json({ __type: type, message }, status);
}

export function prediction(overrides: Partial<Prediction> = {}): Prediction {
  return {
    label: "benign",
    probabilities: { benign: 0.77, malignant: 0.23 },
    confidence: 0.77,
    threshold: 0.35,
    model: { version: "2026-11-29T12-00-00Z-abc123", arch: "mobilenetv2" },
    requestId: "req-1",
    ...overrides,
  };
}

export interface Call {
  route: string;
  url: string;
  init: RequestInit;
  body: unknown;
}

type Handler = (call: Call) => Response | Promise<Response>;

/** Names a request: "config", a Cognito X-Amz-Target action, or "METHOD /path" on the API. */
function routeOf(url: string, init: RequestInit): string {
  if (url.endsWith("config.json")) return "config";
  const target = new Headers(init.headers).get("X-Amz-Target");
  if (target) return target.replace("AWSCognitoIdentityProviderService.", "");
  return `${init.method ?? "GET"} ${url.replace(CONFIG.apiUrl, "")}`;
}

/** A fetch double; unknown routes fail the test loudly. Calls are recorded in order. */
export function fakeFetch(handlers: Record<string, Handler>) {
  const calls: Call[] = [];
  const fn = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = String(input);
    const route = routeOf(url, init);
    const body = typeof init.body === "string" ? JSON.parse(init.body) : init.body;
    const call = { route, url, init, body };
    calls.push(call);
    const handler = handlers[route];
    if (!handler) throw new Error(`unexpected request ${route} ${url}`);
    return handler(call);
  });
  vi.stubGlobal("fetch", fn);
  return { fn, calls, byRoute: (route: string) => calls.filter((c) => c.route === route) };
}

/** Cognito's first answer to USER_SRP_AUTH: the PASSWORD_VERIFIER challenge. */
export function passwordVerifier(userId = "7d1f0c3e-ana") {
  return json({
    ChallengeName: "PASSWORD_VERIFIER",
    Session: "srp-session",
    ChallengeParameters: {
      SALT: "9f3c2a7b51e04d6a8c1b2e3f4a5b6c7d",
      SRP_B: "5a".repeat(384),
      SECRET_BLOCK: btoa("secret block from cognito"),
      USERNAME: userId,
      USER_ID_FOR_SRP: userId,
    },
  });
}

/** A challenge answer from Cognito: the next step's name and session. */
export function challenge(name: string, session = `${name}-session`, parameters: Record<string, string> = {}): Response {
  return json({ ChallengeName: name, Session: session, ChallengeParameters: parameters });
}

/** One handler for RespondToAuthChallenge that dispatches on the ChallengeName answered. */
export function byChallenge(handlers: Record<string, Handler>): Handler {
  return (call) => {
    const name = String((call.body as { ChallengeName?: string }).ChallengeName);
    const handler = handlers[name];
    if (!handler) throw new Error(`unexpected challenge response ${name}`);
    return handler(call);
  };
}

/** Sign-in as Cognito plays it: SRP's verifier step (the fake accepts any claim), or the
 * plain password flow's tokens at once; `after` is what the password step leads to. */
export function signInHandlers(after: Handler = () => json({ AuthenticationResult: tokens() })): Record<string, Handler> {
  return {
    InitiateAuth: (call) => {
      const flow = (call.body as { AuthFlow?: string }).AuthFlow;
      if (flow === "USER_SRP_AUTH") return passwordVerifier();
      if (flow === "USER_PASSWORD_AUTH") return after(call);
      return json({ AuthenticationResult: tokens("ana@example.org", 3600, "2") }); // REFRESH_TOKEN_AUTH
    },
    RespondToAuthChallenge: byChallenge({ PASSWORD_VERIFIER: after }),
    GetTokensFromRefreshToken: () => json({ AuthenticationResult: tokens("ana@example.org", 3600, "2") }),
  };
}

/** The usual handlers: a valid config, a working sign-in, a model and a benign prediction. */
export function defaultHandlers(): Record<string, Handler> {
  return {
    config: () => json(CONFIG),
    ...signInHandlers(),
    GlobalSignOut: () => json({}),
    "GET /model": () => json({ version: "2026-11-29T12-00-00Z-abc123", threshold: 0.35 }),
    "POST /predict": () => json(prediction()),
  };
}

/** Makes createImageBitmap and the 2D canvas work in jsdom; records what was drawn. */
export function installFakeCanvas(source = { width: 4032, height: 3024 }) {
  const drawn: number[][] = [];
  const encoded: { width: number; height: number; type?: string; quality?: number }[] = [];
  const close = vi.fn();
  vi.stubGlobal(
    "createImageBitmap",
    vi.fn(async (blob: Blob) => {
      if (!blob.type.startsWith("image/")) throw new DOMException("cannot decode", "InvalidStateError");
      return { ...source, close } as unknown as ImageBitmap;
    }),
  );
  const context = {
    fillStyle: "",
    imageSmoothingQuality: "low",
    fillRect: vi.fn(),
    drawImage: vi.fn((_image: unknown, ...args: number[]) => drawn.push(args)),
  };
  vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockReturnValue(context as unknown as CanvasRenderingContext2D);
  vi.spyOn(HTMLCanvasElement.prototype, "toBlob").mockImplementation(function (
    this: HTMLCanvasElement,
    callback: BlobCallback,
    type?: string,
    quality?: number,
  ) {
    encoded.push({ width: this.width, height: this.height, type, quality });
    callback(new Blob([`jpeg ${this.width}x${this.height}`], { type: type ?? "image/png" }));
  });
  return { drawn, encoded, close, context };
}

export function imageFile(name = "lesion.jpg", type = "image/jpeg"): File {
  return new File([new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3])], name, { type });
}
