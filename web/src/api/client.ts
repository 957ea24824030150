/**
 * The one module that talks to the prediction API: POST /predict with the image bytes and
 * GET /model, both with the Cognito ID token as a bearer token.
 */
import { ApiError, errorFromResponse } from "./errors";
import { parseModelInfo, type ModelInfo } from "./modelInfo";

export type { ModelInfo } from "./modelInfo";

export interface Prediction {
  label: "benign" | "malignant";
  probabilities: { benign: number; malignant: number };
  confidence: number;
  threshold: number;
  model: { version: string; arch?: string };
  requestId: string;
}

/** A little longer than API Gateway's 29 s integration timeout, so the server answers first. */
export const REQUEST_TIMEOUT_MS = 35_000;

function isProbability(value: unknown): value is number {
  return typeof value === "number" && value >= 0 && value <= 1;
}

/** Checks the 200 body's shape so the page never draws bars from a malformed answer. */
export function parsePrediction(body: unknown): Prediction {
  const b = body as Partial<Prediction> | null;
  const ok =
    b !== null &&
    typeof b === "object" &&
    (b.label === "benign" || b.label === "malignant") &&
    isProbability(b.probabilities?.benign) &&
    isProbability(b.probabilities?.malignant) &&
    isProbability(b.threshold) &&
    typeof b.model?.version === "string";
  if (!ok) throw new ApiError(502, "bad_response", "The server's answer did not have the expected fields.");
  return { ...(b as Prediction), requestId: String(b.requestId ?? "") };
}

export class ApiClient {
  private readonly apiUrl: string;
  private readonly fetchFn: typeof fetch;

  constructor(apiUrl: string, fetchFn: typeof fetch = (...a) => fetch(...a)) {
    this.apiUrl = apiUrl.replace(/\/+$/, "");
    this.fetchFn = fetchFn;
  }

  private async send(path: string, init: RequestInit): Promise<unknown> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    let response: Response;
    try {
      response = await this.fetchFn(`${this.apiUrl}${path}`, { ...init, signal: controller.signal });
    } catch {
      // A timeout reads like the gateway's 504; anything else is the network.
      throw controller.signal.aborted ? new ApiError(504, "client_timeout") : new ApiError(0, "network");
    } finally {
      clearTimeout(timer);
    }
    if (!response.ok) throw await errorFromResponse(response);
    try {
      return await response.json();
    } catch {
      throw new ApiError(502, "bad_response", "The server's answer was not JSON.");
    }
  }

  /** Classifies one image: the bytes go as the body with their own image content type. */
  async predict(image: Blob, idToken: string): Promise<Prediction> {
    const body = await this.send("/predict", {
      method: "POST",
      headers: { "Content-Type": image.type || "application/x-image", Authorization: `Bearer ${idToken}` },
      body: image,
    });
    return parsePrediction(body);
  }

  /** The deployed model's metadata: version, threshold, per-source figures, the guard. */
  async model(idToken: string): Promise<ModelInfo> {
    const body = await this.send("/model", {
      method: "GET",
      headers: { Authorization: `Bearer ${idToken}` },
    });
    const info = parseModelInfo(body);
    if (!info) throw new ApiError(502, "bad_response");
    return info;
  }
}
