"use client";

import { useId, useState, type DragEvent } from "react";
import { imageUrl } from "../api";
import { imageFileOf, type ChosenImage } from "./useImageUpload";

interface ImageDropProps {
  image: ChosenImage | null;
  error: string | null;
  busy: boolean;
  onFile: (file: File) => void;
  onClear: () => void;
  /** The file input's test id: `image-upload` on compose, `compare-upload` on compare. */
  inputTestId: string;
  compact?: boolean;
}

/** A drop zone around a file input, with the stored image's preview or the server's refusal. */
export function ImageDrop({ image, error, busy, onFile, onClear, inputTestId, compact = false }: ImageDropProps) {
  const id = useId();
  const [over, setOver] = useState(false);

  function onDrop(event: DragEvent) {
    event.preventDefault();
    // Handled here, so the page-wide drop target does not take it too.
    event.stopPropagation();
    setOver(false);
    const file = imageFileOf(event.dataTransfer);
    if (file) onFile(file);
  }

  return (
    <div className="flex flex-col gap-1.5">
      {image ? (
        <div className={`flex items-center gap-3 rounded-md border border-line bg-surface p-2 ${compact ? "" : "min-h-28"}`}>
          <img
            data-testid="image-preview"
            src={imageUrl(image.sha256)}
            alt="The uploaded image"
            width={image.width}
            height={image.height}
            className={`pixelated shrink-0 rounded-sm bg-sunken object-contain ${compact ? "size-12" : "size-24"}`}
          />
          <div className="min-w-0 flex-1 text-xs text-muted tabular-nums">
            <p className="font-medium text-fg">Image ready</p>
            <p>
              {image.width} × {image.height} · {image.type.replace("image/", "").toUpperCase()}
            </p>
            <p className="truncate font-mono text-faint" title={image.sha256}>
              {image.sha256.slice(0, 12)}
            </p>
          </div>
          <button type="button" data-testid="clear-image" onClick={onClear} className="rounded-md px-2 py-1 text-xs font-medium text-muted hover:bg-sunken hover:text-fg">
            Remove
          </button>
        </div>
      ) : (
        <label
          htmlFor={id}
          onDragOver={(event) => {
            event.preventDefault();
            event.stopPropagation();
            setOver(true);
          }}
          onDragLeave={() => setOver(false)}
          onDrop={onDrop}
          className={`relative flex cursor-pointer flex-col items-center justify-center gap-1 rounded-md border border-dashed px-3 text-center text-xs text-muted transition-colors focus-within:outline-2 focus-within:outline-accent hover:border-accent hover:text-fg ${
            over ? "border-accent bg-accent-soft text-fg" : "border-line-strong bg-surface"
          } ${compact ? "py-2.5" : "min-h-28 py-4"}`}
        >
          <svg viewBox="0 0 20 20" className="size-5" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinecap="round" strokeLinejoin="round">
            <rect x="3" y="3.5" width="14" height="13" rx="2" />
            <path d="m3.5 14 4-4 3 3 2-2 4 4M13 7.5h.01" />
          </svg>
          <span className="font-medium">{busy ? "Uploading…" : compact ? "Or an image" : "Or use an image"}</span>
          {!compact && <span className="text-faint">Choose, drop or paste · PNG, JPEG, WebP</span>}
          <input
            id={id}
            type="file"
            accept="image/png,image/jpeg,image/webp"
            data-testid={inputTestId}
            className="sr-only"
            disabled={busy}
            onChange={(event) => {
              const file = event.target.files?.[0];
              // Reset so choosing the same file again still fires a change.
              event.target.value = "";
              if (file) onFile(file);
            }}
          />
        </label>
      )}
      {error && (
        <p role="alert" data-testid="upload-error" className="rounded-md bg-danger-soft px-2.5 py-1.5 text-xs text-danger">
          Image refused: {error}
        </p>
      )}
    </div>
  );
}
