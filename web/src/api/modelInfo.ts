/**
 * GET /model's body, read leniently: older models have only version, arch and threshold;
 * newer ones add per-source metrics, a leave-one-source-out table and the guard's threshold.
 * Field names follow metadata.json (snake_case); a camelCase spelling is accepted too, and
 * anything missing or malformed is simply left out, never an error.
 */

/** One line of figures: ROC AUC, sensitivity and specificity at the threshold, images. */
export interface Figures {
  auc?: number;
  sensitivity?: number;
  specificity?: number;
  n?: number;
  /** Melanoma against benign lesions only (sources label "malignant" differently). */
  melanomaAuc?: number;
}

export interface SourceFigures extends Figures {
  source: string;
}

/** Trained on one source, evaluated on another: the estimate for a clinic never seen. */
export interface TransferFigures extends Figures {
  trainSource: string;
  testSource: string;
  /** The recipe variant of an ablation table; only the last (full) recipe's rows are kept. */
  variant?: string;
}

export interface GuardInfo {
  threshold: number;
  /** Other scalar facts the metadata gives about the guard (method, refusal rates, ...). */
  details: [string, string | number][];
}

export interface ModelInfo {
  version: string;
  arch?: string;
  threshold?: number;
  trainedAt?: string;
  validation?: Figures;
  bySource: SourceFigures[];
  /** Which split the per-source figures come from ("test" or "validation"), when said. */
  bySourceSplit?: string;
  leaveOneSourceOut: TransferFigures[];
  guard?: GuardInfo;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function finite(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** The first present key among the spellings, e.g. ("metrics_by_source", "metricsBySource"). */
function pick(body: Json, ...keys: string[]): unknown {
  for (const key of keys) if (body[key] !== undefined && body[key] !== null) return body[key];
  return undefined;
}

function figures(raw: unknown): Figures {
  if (!isObject(raw)) return {};
  const out: Figures = {
    auc: finite(pick(raw, "auc", "roc_auc", "rocAuc")),
    sensitivity: finite(raw.sensitivity),
    specificity: finite(raw.specificity),
    n: finite(raw.n),
    melanomaAuc: finite(pick(raw, "melanoma_vs_benign_auc", "melanomaVsBenignAuc")),
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined)) as Figures;
}

function bySource(raw: unknown): SourceFigures[] {
  if (Array.isArray(raw)) {
    return raw.filter(isObject).flatMap((row) => {
      const source = pick(row, "source", "name");
      return typeof source === "string" ? [{ source, ...figures(row) }] : [];
    });
  }
  if (!isObject(raw)) return [];
  return Object.entries(raw)
    .filter(([, value]) => isObject(value))
    .map(([source, value]) => ({ source, ...figures(value) }));
}

/** "isic-dev->isic-2017", "isic-dev → isic-2017", "isic-dev_to_isic-2017": (train, test). */
function splitPair(key: string): [string, string] | null {
  const parts = key.split(/\s*(?:->|→|=>)\s*|_to_|\s+to\s+/);
  return parts.length === 2 && parts[0] && parts[1] ? [parts[0], parts[1]] : null;
}

function transferRow(row: Json, key?: string): TransferFigures | null {
  const pair = key ? splitPair(key) : null;
  const train = pick(row, "train_source", "trainSource", "train") ?? pair?.[0];
  // A dict keyed by the held-out source alone names the test source by its key.
  const test = pick(row, "test_source", "testSource", "test", "held_out", "heldOut") ?? pair?.[1] ?? key;
  if (typeof test !== "string") return null;
  const trainSource = typeof train === "string" ? train : Array.isArray(train) ? train.join(" + ") : "the other sources";
  const variant = typeof row.variant === "string" ? { variant: row.variant } : {};
  return { trainSource, testSource: test, ...variant, ...figures(row) };
}

function leaveOneSourceOut(raw: unknown): TransferFigures[] {
  if (isObject(raw) && Array.isArray(raw.rows)) raw = raw.rows; // model_src/loso.py's {"rows": [...], ...}
  let rows: TransferFigures[] = [];
  if (Array.isArray(raw)) rows = raw.filter(isObject).flatMap((row) => transferRow(row) ?? []);
  else if (isObject(raw)) {
    rows = Object.entries(raw).flatMap(([key, value]) => (isObject(value) ? (transferRow(value, key) ?? []) : []));
  }
  // An ablation table lists every recipe variant, cumulative: the last one is the full recipe.
  const last = [...rows].reverse().find((row) => row.variant !== undefined)?.variant;
  return last === undefined ? rows : rows.filter((row) => row.variant === last);
}

/** Scalars of the guard's metadata, one level of nesting flattened ("refusal rate · clinical"). */
function scalars(raw: Json, prefix = ""): [string, string | number][] {
  return Object.entries(raw).flatMap(([key, value]): [string, string | number][] => {
    const name = prefix ? `${prefix} · ${key}` : key;
    if (/threshold/i.test(key) && !prefix) return [];
    if (typeof value === "string" || finite(value) !== undefined) return [[name, value as string | number]];
    return isObject(value) && !prefix ? scalars(value, key) : [];
  });
}

function guard(body: Json): GuardInfo | undefined {
  const raw = pick(body, "guard", "lesion_guard", "lesionGuard");
  const flat = finite(pick(body, "guard_threshold", "guardThreshold"));
  const nested = isObject(raw) ? finite(pick(raw, "threshold", "guard_threshold", "guardThreshold")) : finite(raw);
  const threshold = nested ?? flat;
  if (threshold === undefined) return undefined;
  return { threshold, details: isObject(raw) ? scalars(raw) : [] };
}

/** Reads GET /model's JSON; null when it lacks even a version (not a model answer). */
export function parseModelInfo(body: unknown): ModelInfo | null {
  if (!isObject(body) || typeof body.version !== "string") return null;
  const validation = figures(pick(body, "validation_metrics", "validationMetrics"));
  const trainedAt = pick(body, "trained_at", "trainedAt");
  return {
    version: body.version,
    arch: typeof body.arch === "string" ? body.arch : undefined,
    threshold: finite(body.threshold),
    trainedAt: typeof trainedAt === "string" ? trainedAt : undefined,
    validation: Object.keys(validation).length > 0 ? validation : undefined,
    bySource: bySource(pick(body, "metrics_by_source", "metricsBySource")),
    bySourceSplit: typeof body.metrics_by_source_split === "string" ? body.metrics_by_source_split : undefined,
    leaveOneSourceOut: leaveOneSourceOut(
      pick(body, "leave_one_source_out", "leaveOneSourceOut", "loso", "leave_one_source_out_metrics"),
    ),
    guard: guard(body),
  };
}
