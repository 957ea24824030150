/**
 * Where an image comes in: a "Choose image" file control, a "Take a photo" control that
 * opens the camera on phones, and a drop zone for drag and drop; plus the preview.
 */
import { useEffect, useState, type ChangeEvent, type DragEvent } from "react";

interface Props {
  onFile: (file: File) => void;
  disabled: boolean;
  preview: { url: string; name: string; width: number; height: number } | null;
}

export function UploadArea({ onFile, disabled, preview }: Props) {
  const [dragging, setDragging] = useState(false);

  useEffect(() => {
    // A photo dropped beside the zone would make the browser leave the page to show it.
    const block = (event: globalThis.DragEvent) => event.preventDefault();
    window.addEventListener("dragover", block);
    window.addEventListener("drop", block);
    return () => {
      window.removeEventListener("dragover", block);
      window.removeEventListener("drop", block);
    };
  }, []);

  const onChange = (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    if (file) onFile(file);
    event.target.value = ""; // choosing the same file again still fires a change
  };
  const onDragOver = (event: DragEvent<HTMLDivElement>) => {
    event.preventDefault(); // allows the drop
    if (!disabled) setDragging(true);
  };
  const onDrop = (event: DragEvent<HTMLDivElement>) => {
    event.preventDefault();
    setDragging(false);
    const file = event.dataTransfer.files[0];
    if (file && !disabled) onFile(file);
  };

  return (
    <div
      className={`drop-zone${dragging ? " dragging" : ""}`}
      onDragOver={onDragOver}
      onDragLeave={() => setDragging(false)}
      onDrop={onDrop}
    >
      {preview ? (
        <figure className="preview">
          <img src={preview.url} alt={`Preview of ${preview.name}`} />
          <figcaption>
            {preview.name} · sent as {preview.width}×{preview.height} JPEG
          </figcaption>
        </figure>
      ) : (
        <p className="drop-hint">
          <span className="fine-pointer-only">Drop a dermoscopic image of the skin lesion here, or</span>
          <span className="camera-only">
            Photograph the lesion through a dermatoscope attachment on your phone, or pick a dermoscopic image you
            already have
          </span>
        </p>
      )}
      <div className="pickers">
        <input
          id="choose-image"
          className="visually-hidden"
          type="file"
          accept="image/*"
          onChange={onChange}
          disabled={disabled}
        />
        <label htmlFor="choose-image" className="button secondary">
          Choose image
        </label>
        {/* capture opens the rear camera directly; a separate control, as with capture set
            phones offer no gallery. Hidden where the pointer is a mouse (CSS). Its name says a
            dermatoscope is needed: the guard refuses a plain phone photo. */}
        <input
          id="take-photo"
          className="visually-hidden"
          type="file"
          accept="image/*"
          capture="environment"
          onChange={onChange}
          disabled={disabled}
        />
        <label htmlFor="take-photo" className="button secondary camera-only">
          Take a photo with a dermatoscope
        </label>
      </div>
    </div>
  );
}
