/**
 * API failures as sentences a person can act on. The API's errors are
 * {"error": {"code", "message"}, "requestId"} (DESIGN.md); API Gateway's own ones are
 * {"message": "..."} or plain text; a failed fetch has no status at all (status 0).
 */

export const SESSION_EXPIRED_MESSAGE = "Your session has expired. Please sign in again.";
export const NETWORK_MESSAGE = "Could not reach the server. Check your connection and try again.";
export const NOT_AN_IMAGE_MESSAGE = "This file is not a JPEG, PNG or WebP image.";
/** The guard's refusal (422 not_a_skin_lesion): said without any probability. */
export const NOT_A_LESION_CODE = "not_a_skin_lesion";
export const NOT_A_LESION_MESSAGE =
  "This doesn't look like a dermoscopic image of a skin lesion, so it was not classified.";
export const NOT_A_LESION_EXPECTED =
  "What works: a dermoscopic image of one skin lesion, centred, taken through a dermatoscope " +
  "(or a phone with a dermatoscope attachment). Ordinary phone photos, other skin conditions and " +
  "pictures of anything else are refused.";

const BY_STATUS: Record<number, string> = {
  400: "The image could not be read. It may be damaged; please try another photo.",
  401: SESSION_EXPIRED_MESSAGE,
  403: "The server refused this request. Please sign in again or ask your administrator for access.",
  413: "This image is too large to send. Please choose a smaller photo.",
  415: NOT_AN_IMAGE_MESSAGE,
  422: "This image can't be classified: it is too small or has too many pixels. Please try another photo.",
  429: "Too many requests right now. Please wait a moment and try again.",
  503: "The model is not available at the moment. Please try again in a few minutes.",
  504: "The model took too long to answer. Please try again.",
};

/** A failed API call: `message` is for the person, `detail` is what the server said. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly requestId: string;
  /** The guard's score on a not_a_skin_lesion refusal (kept for diagnostics, never shown). */
  readonly lesionScore: number | undefined;

  constructor(status: number, code: string, detail = "", requestId = "", lesionScore?: number) {
    super(humanMessage(status, code));
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.requestId = requestId;
    this.lesionScore = lesionScore;
  }

  /** The model's guard refused the image: not a dermoscopic image of a skin lesion. */
  get notALesion(): boolean {
    return this.code === NOT_A_LESION_CODE;
  }
}

export function humanMessage(status: number, code = ""): string {
  if (code === NOT_A_LESION_CODE) return NOT_A_LESION_MESSAGE;
  if (status === 0) return NETWORK_MESSAGE;
  const known = BY_STATUS[status];
  if (known) return known;
  if (status >= 500) return `Something went wrong on the server (error ${status}). Please try again.`;
  return `The request failed (error ${status}). Please try again.`;
}

/** Builds the ApiError for a non-2xx response, whatever shape its body has. */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => "");
  let code = "";
  let detail = "";
  let requestId = response.headers.get("x-amzn-requestid") ?? "";
  let lesionScore: number | undefined;
  try {
    const body = JSON.parse(text) as {
      error?: { code?: unknown; message?: unknown };
      message?: unknown;
      requestId?: unknown;
      lesionScore?: unknown;
    };
    code = typeof body.error?.code === "string" ? body.error.code : "";
    const message = body.error?.message ?? body.message; // ours, else API Gateway's own
    detail = typeof message === "string" ? message : "";
    if (typeof body.requestId === "string") requestId = body.requestId;
    if (typeof body.lesionScore === "number") lesionScore = body.lesionScore;
  } catch {
    detail = text.length <= 200 ? text.trim() : ""; // a gateway's plain-text or HTML page
  }
  return new ApiError(response.status, code || `http_${response.status}`, detail, requestId, lesionScore);
}
