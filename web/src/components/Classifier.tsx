/**
 * The signed-in page: pick or drop an image, see it downscaled as a preview, classify it,
 * and read the result; earlier results of this session stay below as a short history.
 */
import { useEffect, useRef, useState, type FormEvent } from "react";
import type { ApiClient, ModelInfo, Prediction } from "../api/client";
import { ApiError, NOT_A_LESION_EXPECTED, NOT_AN_IMAGE_MESSAGE } from "../api/errors";
import type { AuthStore } from "../auth/store";
import { downscaleImage, UnreadableImageError, type PreparedImage } from "../image/resize";
import { AboutModel } from "./AboutModel";
import { History, HISTORY_LIMIT, type HistoryItem } from "./History";
import { labelText, ResultView } from "./ResultView";
import { UploadArea } from "./UploadArea";

interface Selection extends PreparedImage {
  name: string;
  url: string;
}

interface Failure {
  message: string;
  /** What the page expects instead (the guard's refusal says what a usable image is). */
  expected?: string;
  detail?: string;
  requestId?: string;
}

type Phase = "idle" | "preparing" | "classifying";

const STATUS_TEXT: Record<Phase, string> = { idle: "", preparing: "Preparing image…", classifying: "Classifying image…" };

function failureFrom(error: unknown): Failure {
  if (error instanceof ApiError && error.notALesion) {
    // No score and no probabilities: the model's output on such an image means nothing.
    return { message: error.message, expected: NOT_A_LESION_EXPECTED, requestId: error.requestId };
  }
  if (error instanceof ApiError) return { message: error.message, detail: error.detail, requestId: error.requestId };
  if (error instanceof UnreadableImageError) return { message: NOT_AN_IMAGE_MESSAGE };
  return { message: "Something went wrong in this page. Please reload it and try again." };
}

interface Props {
  api: ApiClient;
  store: AuthStore;
  prepare?: (file: Blob) => Promise<PreparedImage>;
}

export function Classifier({ api, store, prepare = downscaleImage }: Props) {
  const [phase, setPhase] = useState<Phase>("idle");
  const [selection, setSelection] = useState<Selection | null>(null);
  const [failure, setFailure] = useState<Failure | null>(null);
  const [result, setResult] = useState<Prediction | null>(null);
  const [history, setHistory] = useState<HistoryItem[]>([]);
  const [modelVersion, setModelVersion] = useState<string | null>(null);
  const [modelInfo, setModelInfo] = useState<ModelInfo | null>(null);
  const urls = useRef(new Set<string>()); // every object URL made here, freed on unmount
  const resultRef = useRef<HTMLDivElement>(null);
  const nextId = useRef(1);

  useEffect(() => {
    const owned = urls.current;
    return () => owned.forEach((url) => URL.revokeObjectURL(url));
  }, []);

  useEffect(() => {
    // On a phone the result lands below the fold: bring it into view (jsdom lacks scrollIntoView).
    if (result) resultRef.current?.scrollIntoView?.({ behavior: "smooth", block: "start" });
  }, [result]);

  useEffect(() => {
    // Labels the page and fills "About this model"; a failure here shows up properly on the
    // first prediction.
    store.authorized((token) => api.model(token)).then(
      (info) => {
        setModelVersion(info.version);
        setModelInfo(info);
      },
      () => undefined,
    );
  }, [api, store]);

  const onFile = async (file: File) => {
    setFailure(null);
    setResult(null);
    if (file.type !== "" && !file.type.startsWith("image/")) {
      // Forget the previous photo too: "Classify image" must not quietly send the old one.
      setSelection(null);
      setFailure({ message: NOT_AN_IMAGE_MESSAGE });
      return;
    }
    setPhase("preparing");
    try {
      const prepared = await prepare(file);
      const url = URL.createObjectURL(prepared.blob);
      urls.current.add(url);
      setSelection({ ...prepared, name: file.name, url });
    } catch (error) {
      setSelection(null);
      setFailure(failureFrom(error));
    } finally {
      setPhase("idle");
    }
  };

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    if (!selection) return;
    setPhase("classifying");
    setFailure(null);
    setResult(null);
    try {
      const prediction = await store.authorized((token) => api.predict(selection.blob, token));
      setResult(prediction);
      setModelVersion(prediction.model.version);
      const item = { id: nextId.current++, name: selection.name, thumbnailUrl: selection.url, prediction };
      setHistory((items) => [item, ...items].slice(0, HISTORY_LIMIT));
    } catch (error) {
      setFailure(failureFrom(error)); // a 401 that survives a refresh has already signed out
      if (error instanceof ApiError && error.notALesion) {
        const item = { id: nextId.current++, name: selection.name, thumbnailUrl: selection.url, prediction: null };
        setHistory((items) => [item, ...items].slice(0, HISTORY_LIMIT));
      }
    } finally {
      setPhase("idle");
    }
  };

  const busy = phase !== "idle";
  return (
    <>
      <section className="card" aria-labelledby="upload-heading">
        <h2 id="upload-heading">Classify a skin lesion image</h2>
        <p className="hint">
          Use a dermoscopic image: one skin lesion, centred, taken through a dermatoscope (a phone with a dermatoscope
          attachment works). An ordinary phone photo is refused. Images are shrunk to at most 1024 px before they are
          sent{modelVersion ? <> · model version <code>{modelVersion}</code></> : null}.
        </p>
        <form onSubmit={onSubmit} aria-busy={busy}>
          <UploadArea onFile={onFile} disabled={busy} preview={selection} />
          <div className="actions">
            <button type="submit" disabled={busy || !selection}>
              Classify image
            </button>
            <p role="status" className="status">
              {busy ? <span className="spinner" aria-hidden="true" /> : null}
              {busy ? STATUS_TEXT[phase] : result ? `Result ready: ${labelText(result.label)}.` : ""}
            </p>
          </div>
        </form>
        {failure ? (
          <div role="alert" className={`alert${failure.expected ? " refused" : ""}`}>
            <p>{failure.message}</p>
            {failure.expected ? <p className="alert-expected">{failure.expected}</p> : null}
            {failure.detail ? <p className="alert-detail">Details: {failure.detail}</p> : null}
            {failure.requestId ? <p className="alert-detail">Request ID: {failure.requestId}</p> : null}
          </div>
        ) : null}
      </section>
      <div ref={resultRef}>{result ? <ResultView prediction={result} /> : null}</div>
      <History items={history} />
      {modelInfo ? <AboutModel info={modelInfo} /> : null}
    </>
  );
}
