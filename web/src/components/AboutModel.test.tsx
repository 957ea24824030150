import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it } from "vitest";
import { saveSession, sessionFromTokens } from "../auth/session";
import { CONFIG, defaultHandlers, fakeFetch, json, tokens } from "../test/fakes";
import { App } from "./App";

beforeEach(() => {
  saveSession(sessionFromTokens(tokens("ana@example.org"), CONFIG.userPoolClientId));
});

const NEW_MODEL = {
  version: "2026-12-05T10-00-00Z-def456",
  arch: "mobilenet_v2",
  threshold: 0.27,
  validation_metrics: { roc_auc: 0.88, sensitivity: 0.91, specificity: 0.61, n: 900 },
  metrics_by_source: {
    "isic-dev": { auc: 0.905, sensitivity: 0.93, specificity: 0.66, n: 340 },
    "isic-2017": { auc: 0.853, sensitivity: 0.9, specificity: 0.58, n: 560 },
  },
  leave_one_source_out: [
    { train_source: "isic-dev", test_source: "isic-2017", auc: 0.712, sensitivity: 0.81, specificity: 0.47, n: 2129 },
  ],
  guard: { threshold: 0.4216 },
  requestId: "r",
};

async function openAbout(model: unknown) {
  fakeFetch({ ...defaultHandlers(), "GET /model": () => json(model) });
  const user = userEvent.setup();
  render(<App />);
  const summary = await screen.findByText("About this model");
  const details = summary.closest("details") as HTMLDetailsElement;
  expect(details.open).toBe(false); // collapsed until asked for
  await user.click(summary);
  expect(details.open).toBe(true);
  return details;
}

describe("About this model", () => {
  it("shows per-source figures, the leave-one-source-out table and the guard threshold", async () => {
    const about = await openAbout(NEW_MODEL);
    const bySource = within(about).getByRole("table", { name: /Validation by image source/ });
    const row2017 = within(bySource).getByRole("row", { name: /isic-2017/ });
    expect(within(row2017).getAllByRole("cell").map((c) => c.textContent)).toEqual(["0.85", "0.90", "0.58", "560"]);
    const loso = within(about).getByRole("table", { name: /Leave one source out/ });
    const [, row] = within(loso).getAllByRole("row");
    expect(row).toHaveTextContent(/isic-2017\s*isic-dev\s*0\.71\s*0\.81\s*0\.47\s*2129/);
    expect(within(about).getByText("Lesion-image guard threshold").nextElementSibling).toHaveTextContent(/^0\.422/);
    expect(within(about).getByText("Malignant threshold").nextElementSibling).toHaveTextContent("0.27");
  });

  it("names the split and adds the melanoma-only AUC where the metadata has them", async () => {
    const about = await openAbout({
      ...NEW_MODEL,
      metrics_by_source_split: "test",
      metrics_by_source: { "isic-2017": { auc: 0.8, melanoma_vs_benign_auc: 0.83, sensitivity: 0.9, specificity: 0.5, n: 600 } },
    });
    const table = within(about).getByRole("table", { name: /^Held-back test by image source/ });
    expect(within(table).getByRole("columnheader", { name: "Melanoma vs benign AUC" })).toBeInTheDocument();
    const row = within(table).getByRole("row", { name: /isic-2017/ });
    expect(within(row).getAllByRole("cell").map((c) => c.textContent)).toEqual(["0.80", "0.83", "0.90", "0.50", "600"]);
    const loso = within(about).getByRole("table", { name: /Leave one source out/ });
    expect(within(loso).queryByRole("columnheader", { name: "Melanoma vs benign AUC" })).not.toBeInTheDocument();
  });

  it("shows the guard's counts as whole numbers and its rates with three decimals", async () => {
    const about = await openAbout({
      ...NEW_MODEL,
      guard: { threshold: 0.5, method: "linear-with-negatives", validation: { n: 701, lesion_refusal_rate: 0.0014 } },
    });
    expect(within(about).getByText("Guard validation · n").nextElementSibling).toHaveTextContent(/^701$/);
    expect(within(about).getByText("Guard validation · lesion refusal rate").nextElementSibling).toHaveTextContent(
      /^0\.001$/,
    );
    expect(within(about).getByText("Guard method").nextElementSibling).toHaveTextContent("linear-with-negatives");
  });

  it("accepts the camelCase guardThreshold", async () => {
    const about = await openAbout({ ...NEW_MODEL, guard: undefined, guardThreshold: 0.5 });
    expect(within(about).getByText("Lesion-image guard threshold").nextElementSibling).toHaveTextContent(/^0\.500/);
  });

  it("still works for an older model without per-source figures or guard", async () => {
    const about = await openAbout({
      version: "2026-11-29T14-33-38Z-4de506c",
      arch: "mobilenet_v2",
      threshold: 0.18,
      validation_metrics: { roc_auc: 0.8965, sensitivity: 0.9057, specificity: 0.674, n: 340 },
    });
    expect(within(about).getByText("2026-11-29T14-33-38Z-4de506c")).toBeInTheDocument();
    expect(within(about).getByRole("table", { name: /Validation \(all sources together\)/ })).toHaveTextContent("0.90");
    expect(within(about).queryByRole("table", { name: /image source|Leave one source out/ })).not.toBeInTheDocument();
    expect(within(about).queryByText(/guard/i)).not.toBeInTheDocument();
    expect(within(about).getByText("This model's metadata has no per-source figures.")).toBeInTheDocument();
  });

  it("is left out when GET /model fails, and classifying still works", async () => {
    fakeFetch({ ...defaultHandlers(), "GET /model": () => json({ error: { code: "model_unavailable", message: "m" } }, 503) });
    render(<App />);
    expect(await screen.findByLabelText("Choose image")).toBeInTheDocument();
    expect(screen.queryByText("About this model")).not.toBeInTheDocument();
  });
});
