/**
 * One prediction: two labelled bars (Malignant, Benign) with percentages as text, the label
 * the model's threshold gives, and the model version. Screen readers get each bar as a
 * meter with its value; nothing depends on colour alone.
 */
import type { Prediction } from "../api/client";

export function percent(probability: number): string {
  return `${(probability * 100).toFixed(1)}%`;
}

export function labelText(label: Prediction["label"]): string {
  return label === "malignant" ? "Malignant" : "Benign";
}

function Bar({ name, probability, kind }: { name: string; probability: number; kind: string }) {
  const value = Math.round(probability * 1000) / 10;
  return (
    <div className="bar-row">
      <span className="bar-name" aria-hidden="true">
        {name}
      </span>
      <div
        className={`bar ${kind}`}
        role="meter"
        aria-label={name}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={value}
        aria-valuetext={percent(probability)}
      >
        <div className="bar-fill" style={{ width: `${value}%` }} />
        <span className="bar-value">{percent(probability)}</span>
      </div>
    </div>
  );
}

export function ResultView({ prediction }: { prediction: Prediction }) {
  const { probabilities, threshold, label, model } = prediction;
  return (
    <section className="card result" aria-labelledby="result-heading">
      <h2 id="result-heading">Result</h2>
      <p className={`verdict ${label}`}>
        Result: {labelText(label)} (threshold {threshold.toFixed(2)})
      </p>
      <Bar name="Malignant" probability={probabilities.malignant} kind="malignant" />
      <Bar name="Benign" probability={probabilities.benign} kind="benign" />
      <p className="explain">
        The label is Malignant when the malignant probability is at least {percent(threshold)}, the threshold chosen
        on validation data.
      </p>
      <p className="meta">
        Model version <code>{model.version}</code>
        {prediction.requestId ? (
          <>
            {" "}
            · request <code>{prediction.requestId}</code>
          </>
        ) : null}
      </p>
    </section>
  );
}
