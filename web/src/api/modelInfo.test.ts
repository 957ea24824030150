// @vitest-environment node
import { describe, expect, it } from "vitest";
import { parseModelInfo } from "./modelInfo";

/** GET /model of the model shipped before per-source figures (models/default's metadata). */
const OLD_MODEL = {
  version: "2026-11-29T14-33-38Z-4de506c",
  arch: "mobilenet_v2",
  class_names: ["benign", "malignant"],
  input_size: 224,
  threshold: 0.18063075840473175,
  validation_metrics: {
    accuracy: 0.78,
    confusion_matrix: { fn: 15, fp: 59, tn: 122, tp: 144 },
    n: 340,
    roc_auc: 0.8965,
    sensitivity: 0.9057,
    specificity: 0.674,
  },
  trained_at: "2026-11-29T14:33:38Z",
  requestId: "r1",
};

describe("parseModelInfo", () => {
  it("reads an older model without per-source figures or guard", () => {
    const info = parseModelInfo(OLD_MODEL);
    expect(info).toEqual({
      version: OLD_MODEL.version,
      arch: "mobilenet_v2",
      threshold: OLD_MODEL.threshold,
      trainedAt: "2026-11-29T14:33:38Z",
      validation: { auc: 0.8965, sensitivity: 0.9057, specificity: 0.674, n: 340 },
      bySource: [],
      leaveOneSourceOut: [],
      guard: undefined,
    });
  });

  it("reads metrics_by_source, a leave-one-source-out list and a guard object (snake_case)", () => {
    const info = parseModelInfo({
      ...OLD_MODEL,
      metrics_by_source: {
        "isic-dev": { auc: 0.91, sensitivity: 0.93, specificity: 0.7, n: 340 },
        "isic-2017": { roc_auc: 0.84, sensitivity: 0.9, specificity: 0.55, n: 420 },
      },
      leave_one_source_out: [
        { train_source: "isic-dev", test_source: "isic-2017", auc: 0.71, sensitivity: 0.8, specificity: 0.5, n: 2129 },
        { train_source: "isic-2017", test_source: "isic-dev", auc: 0.77, sensitivity: 0.85, specificity: 0.52, n: 2000 },
      ],
      guard: { threshold: 0.42, method: "mahalanobis", val_lesion_refusal_rate: 0.006, note: null },
    });
    expect(info?.bySource).toEqual([
      { source: "isic-dev", auc: 0.91, sensitivity: 0.93, specificity: 0.7, n: 340 },
      { source: "isic-2017", auc: 0.84, sensitivity: 0.9, specificity: 0.55, n: 420 },
    ]);
    expect(info?.leaveOneSourceOut).toEqual([
      { trainSource: "isic-dev", testSource: "isic-2017", auc: 0.71, sensitivity: 0.8, specificity: 0.5, n: 2129 },
      { trainSource: "isic-2017", testSource: "isic-dev", auc: 0.77, sensitivity: 0.85, specificity: 0.52, n: 2000 },
    ]);
    expect(info?.guard).toEqual({
      threshold: 0.42,
      details: [
        ["method", "mahalanobis"],
        ["val_lesion_refusal_rate", 0.006],
      ],
    });
  });

  it("reads camelCase keys, a dict-shaped table and a flat guardThreshold", () => {
    const info = parseModelInfo({
      version: "v2",
      metricsBySource: { a: { auc: 0.9, n: 10 } },
      leaveOneSourceOut: {
        "a->b": { auc: 0.8, sensitivity: 0.9, specificity: 0.4, n: 50 },
        b: { train_source: ["a", "c"], auc: 0.7 },
      },
      guardThreshold: 0.3,
    });
    expect(info?.bySource).toEqual([{ source: "a", auc: 0.9, n: 10 }]);
    expect(info?.leaveOneSourceOut).toEqual([
      { trainSource: "a", testSource: "b", auc: 0.8, sensitivity: 0.9, specificity: 0.4, n: 50 },
      { trainSource: "a + c", testSource: "b", auc: 0.7 },
    ]);
    expect(info?.guard).toEqual({ threshold: 0.3, details: [] });
  });

  it("reads model_src/loso.py's table: keeps the full recipe's rows of an ablation", () => {
    const row = (variant: string, test: string, auc: number) => ({
      variant,
      recipe: {},
      train_source: [test === "isic-dev" ? "isic-2017" : "isic-dev"],
      test_source: test,
      n: 100,
      auc,
      sensitivity: 0.9,
      specificity: 0.5,
      melanoma_vs_benign_auc: auc + 0.01,
      ece: 0.1,
    });
    const info = parseModelInfo({
      version: "v4",
      metrics_by_source_split: "test",
      leave_one_source_out: {
        note: "train on the other source(s)…",
        settings: { epochs: 6 },
        rows: [row("old", "isic-dev", 0.6), row("old", "isic-2017", 0.61), row("+balance", "isic-dev", 0.7), row("+balance", "isic-2017", 0.71)],
      },
      guard: { threshold: 0.2, method: "mahalanobis", refusal_rate: { not_lesion: 0.995, clinical: 0.98 }, deep: { a: { b: 1 } } },
    });
    expect(info?.bySourceSplit).toBe("test");
    expect(info?.leaveOneSourceOut).toEqual([
      { variant: "+balance", trainSource: "isic-2017", testSource: "isic-dev", n: 100, auc: 0.7, sensitivity: 0.9, specificity: 0.5, melanomaAuc: 0.71 },
      { variant: "+balance", trainSource: "isic-dev", testSource: "isic-2017", n: 100, auc: 0.71, sensitivity: 0.9, specificity: 0.5, melanomaAuc: 0.72 },
    ]);
    expect(info?.guard?.details).toEqual([
      ["method", "mahalanobis"],
      ["refusal_rate · not_lesion", 0.995],
      ["refusal_rate · clinical", 0.98],
    ]);
  });

  it("drops malformed parts instead of failing", () => {
    const info = parseModelInfo({
      version: "v3",
      threshold: "high",
      metrics_by_source: [{ source: "a", auc: null, sensitivity: "x", n: 5 }, { auc: 0.9 }, 7],
      leave_one_source_out: "not computed",
      guard: { threshold: "?" },
    });
    expect(info).toMatchObject({ version: "v3", threshold: undefined, guard: undefined, leaveOneSourceOut: [] });
    expect(info?.bySource).toEqual([{ source: "a", n: 5 }]);
  });

  it("refuses a body without a version", () => {
    expect(parseModelInfo({ threshold: 0.5 })).toBeNull();
    expect(parseModelInfo(null)).toBeNull();
    expect(parseModelInfo([])).toBeNull();
  });
});
