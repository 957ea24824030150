/**
 * "About this model", collapsed by default: what GET /model says about where the model holds
 * up. Validation figures, the same per image source, the leave-one-source-out table (trained
 * on one source, tested on one it never saw: the estimate for a new clinic) and the guard's
 * threshold. Older models have none of the last three; their parts are simply left out.
 */
import type { Figures, ModelInfo } from "../api/modelInfo";

function fixed(value: number | undefined, digits = 2): string {
  return value === undefined ? "—" : value.toFixed(digits);
}

function FigureCells({ figures, melanoma }: { figures: Figures; melanoma: boolean }) {
  return (
    <>
      <td>{fixed(figures.auc)}</td>
      {melanoma ? <td>{fixed(figures.melanomaAuc)}</td> : null}
      <td>{fixed(figures.sensitivity)}</td>
      <td>{fixed(figures.specificity)}</td>
      <td>{figures.n === undefined ? "—" : figures.n}</td>
    </>
  );
}

interface Row {
  key: string;
  cells: string[];
  figures: Figures;
}

function FigureTable({ caption, first, rows }: { caption: string; first: string[]; rows: Row[] }) {
  // The melanoma-only AUC where the metadata has it: "malignant" means different things per source.
  const melanoma = rows.some((row) => row.figures.melanomaAuc !== undefined);
  const headers = ["ROC AUC", ...(melanoma ? ["Melanoma vs benign AUC"] : []), "Sensitivity", "Specificity", "Images"];
  return (
    <table className="figures">
      <caption>{caption}</caption>
      <thead>
        <tr>
          {first.map((name) => (
            <th key={name} scope="col" className="name">
              {name}
            </th>
          ))}
          {headers.map((name) => (
            <th key={name} scope="col">
              {name}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={row.key}>
            {row.cells.map((cell, i) =>
              i === 0 ? (
                <th key={i} scope="row">
                  {cell}
                </th>
              ) : (
                <td key={i} className="name">
                  {cell}
                </td>
              ),
            )}
            <FigureCells figures={row.figures} melanoma={melanoma} />
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function AboutModel({ info }: { info: ModelInfo }) {
  const { validation, bySource, leaveOneSourceOut, guard } = info;
  const split = info.bySourceSplit === "test" ? "Held-back test" : "Validation";
  const variant = leaveOneSourceOut[0]?.variant;
  return (
    <details className="card about">
      <summary className="about-summary">About this model</summary>
      <dl className="facts">
        <dt>Version</dt>
        <dd>
          <code>{info.version}</code>
        </dd>
        {info.arch ? (
          <>
            <dt>Architecture</dt>
            <dd>{info.arch}</dd>
          </>
        ) : null}
        {info.trainedAt ? (
          <>
            <dt>Trained</dt>
            <dd>{info.trainedAt}</dd>
          </>
        ) : null}
        {info.threshold !== undefined ? (
          <>
            <dt>Malignant threshold</dt>
            <dd>{fixed(info.threshold)}</dd>
          </>
        ) : null}
        {guard ? (
          <>
            <dt>Lesion-image guard threshold</dt>
            <dd>
              {fixed(guard.threshold, 3)}{" "}
              <span className="hint">(images scoring below it are refused as not a dermoscopic lesion image)</span>
            </dd>
            {guard.details.map(([key, value]) => (
              <div key={key} className="facts-sub">
                <dt>Guard {key.replace(/_/g, " ")}</dt>
                <dd>{typeof value === "number" ? (Number.isInteger(value) ? String(value) : fixed(value, 3)) : value}</dd>
              </div>
            ))}
          </>
        ) : null}
      </dl>
      {validation ? (
        <FigureTable
          caption="Validation (all sources together)"
          first={["Data"]}
          rows={[{ key: "all", cells: ["validation"], figures: validation }]}
        />
      ) : null}
      {bySource.length > 0 ? (
        <FigureTable
          caption={`${split} by image source, at the malignant threshold`}
          first={["Source"]}
          rows={bySource.map((row) => ({ key: row.source, cells: [row.source], figures: row }))}
        />
      ) : null}
      {leaveOneSourceOut.length > 0 ? (
        <FigureTable
          caption={`Leave one source out: trained without a source, tested on it (the estimate for a clinic never seen)${variant ? `; recipe ${variant}` : ""}`}
          first={["Tested on", "Trained on"]}
          rows={leaveOneSourceOut.map((row) => ({
            key: `${row.trainSource}→${row.testSource}`,
            cells: [row.testSource, row.trainSource],
            figures: row,
          }))}
        />
      ) : null}
      {bySource.length === 0 && leaveOneSourceOut.length === 0 ? (
        <p className="hint">This model's metadata has no per-source figures.</p>
      ) : null}
    </details>
  );
}
