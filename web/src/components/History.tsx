/** This session's results as thumbnails and labels; kept in memory only, gone on reload or sign-out. */
import type { Prediction } from "../api/client";
import { labelText, percent } from "./ResultView";

export interface HistoryItem {
  id: number;
  name: string;
  thumbnailUrl: string;
  /** null: the guard refused the image (not a dermoscopic lesion image), nothing was classified. */
  prediction: Prediction | null;
}

export const HISTORY_LIMIT = 10;

export function History({ items }: { items: HistoryItem[] }) {
  if (items.length === 0) return null;
  return (
    <section className="card history" aria-labelledby="history-heading">
      <h2 id="history-heading">This session's results</h2>
      <ol className="history-list">
        {items.map((item) => (
          <li key={item.id}>
            <img src={item.thumbnailUrl} alt={`Thumbnail of ${item.name}`} />
            {item.prediction ? (
              <>
                <span className="history-label">{labelText(item.prediction.label)}</span>
                <span className="history-detail">malignant {percent(item.prediction.probabilities.malignant)}</span>
              </>
            ) : (
              <>
                <span className="history-label refused">Refused</span>
                <span className="history-detail">not a dermoscopic lesion image</span>
              </>
            )}
            <span className="history-name">{item.name}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}
