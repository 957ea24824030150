/**
 * Runtime configuration: /config.json, written next to index.html by the stack at deploy
 * time and by the local stack when it starts, so one build serves every environment.
 */

export type Mode = "aws" | "local";

export interface AppConfig {
  apiUrl: string; // no trailing slash
  region: string;
  userPoolId: string;
  userPoolClientId: string;
  mode: Mode;
  cognitoEndpoint: string; // always set: the configured one or the region's public endpoint
}

/** Why the page cannot start; shown to the person as is. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

const CONFIG_PATH = "config.json";

function requireString(raw: Record<string, unknown>, key: string): string {
  const value = raw[key];
  if (typeof value !== "string" || value.trim() === "") {
    throw new ConfigError(`config.json has no "${key}" (a non-empty string is needed).`);
  }
  return value.trim();
}

function requireHttpUrl(value: string, key: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`config.json "${key}" is not a URL: ${value}`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ConfigError(`config.json "${key}" must be an http(s) URL: ${value}`);
  }
  return value.replace(/\/+$/, "");
}

/** SRP sign-in hashes the pool's name (after the "_") into the password proof. */
function requirePoolId(value: string): string {
  if (!/^[a-z0-9-]+_[0-9A-Za-z]+$/.test(value)) {
    throw new ConfigError(`config.json "userPoolId" is not a Cognito user pool id (region_name): ${value}`);
  }
  return value;
}

/** Checks the parsed JSON and fills in defaults; throws ConfigError naming the bad field. */
export function parseConfig(raw: unknown): AppConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ConfigError("config.json must hold a JSON object.");
  }
  const record = raw as Record<string, unknown>;
  const region = requireString(record, "region");
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) {
    throw new ConfigError(`config.json "region" is not an AWS region name: ${region}`);
  }
  const mode = record.mode ?? "aws";
  if (mode !== "aws" && mode !== "local") {
    throw new ConfigError(`config.json "mode" must be "aws" or "local", not ${JSON.stringify(mode)}.`);
  }
  const endpoint = record.cognitoEndpoint;
  const cognitoEndpoint =
    endpoint === undefined || endpoint === null || endpoint === ""
      ? `https://cognito-idp.${region}.amazonaws.com`
      : requireHttpUrl(String(endpoint), "cognitoEndpoint");
  return {
    apiUrl: requireHttpUrl(requireString(record, "apiUrl"), "apiUrl"),
    region,
    userPoolId: requirePoolId(requireString(record, "userPoolId")),
    userPoolClientId: requireString(record, "userPoolClientId"),
    mode,
    cognitoEndpoint,
  };
}

/** Fetches and checks config.json; every failure becomes a ConfigError with a reason. */
export async function loadConfig(fetchFn: typeof fetch = fetch): Promise<AppConfig> {
  let response: Response;
  try {
    // no-store: a redeployed stack may point the same site at a new API.
    response = await fetchFn(CONFIG_PATH, { cache: "no-store" });
  } catch {
    throw new ConfigError("config.json could not be fetched (the site did not answer).");
  }
  if (!response.ok) {
    throw new ConfigError(`config.json could not be loaded (HTTP ${response.status}).`);
  }
  let raw: unknown;
  try {
    raw = await response.json();
  } catch {
    throw new ConfigError("config.json is not valid JSON.");
  }
  return parseConfig(raw);
}
