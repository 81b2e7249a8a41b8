"use client";

import { useRouter } from "next/navigation";
import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { postJson, readableError, type PresetInfo, type Run, type RunRequest } from "../api";
import { field } from "../ui/styles";
import { SubmitBar } from "../ui/SubmitBar";
import { ImageDrop } from "./ImageDrop";
import { presetSettings, runSettings, settingsRequest, type Settings } from "./settings";
import { rememberCreatorKey } from "../run/creatorKeys";
import { SettingsFields } from "./SettingsFields";
import { imageFileOf, useImageUpload } from "./useImageUpload";

/** From vague to specific, so the grids show how much a caption pins down. */
const EXAMPLES = ["an object", "a shape", "a red shape", "a large red circle", "a small blue triangle at the top left on a dark background"];

interface ComposeFormProps {
  presets: PresetInfo[];
  /** The run being edited (`/?from=id`): every field starts from it. */
  from: Run | null;
}

export function ComposeForm({ presets, from }: ComposeFormProps) {
  const router = useRouter();
  const fromInput = from?.request.input;
  const [caption, setCaption] = useState(fromInput?.kind === "caption" ? fromInput.text : "");
  const upload = useImageUpload(fromInput?.kind === "image" ? { sha256: fromInput.upload, width: fromInput.width, height: fromInput.height, type: fromInput.type } : null);
  const [settings, setSettings] = useState<Settings>(() => (from ? runSettings(from) : presetSettings(presets[0])));
  const [error, setError] = useState<string | null>(null);
  const [submitting, setSubmitting] = useState(false);
  const [dragging, setDragging] = useState(false);
  const captionRef = useRef<HTMLTextAreaElement>(null);
  const maxCaption = presets.find((p) => p.name === settings.preset)?.limits.maxCaptionLength;
  // Counted as the server counts (code points of the trimmed caption), and never cut: a pasted
  // caption that is too long stays whole, marked, until it is shortened.
  const captionLength = [...caption.trim()].length;
  const captionOverLimit = maxCaption !== undefined && captionLength > maxCaption;

  // The whole page accepts a dropped or pasted image, not only the drop zone.
  const send = upload.send;
  useEffect(() => {
    let depth = 0;
    const hasFiles = (event: DragEvent) => Array.from(event.dataTransfer?.types ?? []).includes("Files");
    const enter = (event: DragEvent) => {
      if (!hasFiles(event)) return;
      depth += 1;
      setDragging(true);
    };
    const leave = () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) setDragging(false);
    };
    const over = (event: DragEvent) => hasFiles(event) && event.preventDefault();
    const drop = (event: DragEvent) => {
      depth = 0;
      setDragging(false);
      const file = imageFileOf(event.dataTransfer);
      if (!file) return;
      event.preventDefault();
      void send(file);
    };
    const paste = (event: ClipboardEvent) => {
      const file = imageFileOf(event.clipboardData);
      // Text pastes go to whatever field has focus; only images are taken here.
      if (!file || !file.type.startsWith("image/")) return;
      event.preventDefault();
      void send(file);
    };
    window.addEventListener("dragenter", enter);
    window.addEventListener("dragleave", leave);
    window.addEventListener("dragover", over);
    window.addEventListener("drop", drop);
    window.addEventListener("paste", paste);
    return () => {
      window.removeEventListener("dragenter", enter);
      window.removeEventListener("dragleave", leave);
      window.removeEventListener("dragover", over);
      window.removeEventListener("drop", drop);
      window.removeEventListener("paste", paste);
    };
  }, [send]);

  async function start(input: RunRequest["input"]) {
    setError(null);
    const checked = settingsRequest(settings);
    if (!checked.ok) return setError(checked.message);
    setSubmitting(true);
    try {
      const { run, creatorKey } = await postJson<{ run: Run; creatorKey: string }>("/api/runs", { ...checked.request, input });
      rememberCreatorKey([run.id], creatorKey);
      router.push(`/runs/${encodeURIComponent(run.id)}`);
    } catch (problem) {
      setError(readableError(problem));
      setSubmitting(false);
    }
  }

  function submit() {
    const text = caption.trim();
    if (upload.image) return void start({ kind: "image", upload: upload.image.sha256 });
    if (captionOverLimit) {
      setError(`The caption is ${captionLength} characters long; the ${settings.preset} preset takes at most ${maxCaption}. Shorten it to run it.`);
      return captionRef.current?.focus();
    }
    if (text) return void start({ kind: "caption", text });
    setError("Write a caption or add an image first.");
    captionRef.current?.focus();
  }

  function onCaptionKey(event: KeyboardEvent<HTMLTextAreaElement>) {
    // Enter submits; Shift+Enter keeps a newline; IME composition must be able to confirm with Enter.
    if (event.key !== "Enter" || event.shiftKey || event.nativeEvent.isComposing) return;
    event.preventDefault();
    submit();
  }

  return (
    <form
      noValidate
      onSubmit={(event: FormEvent) => {
        event.preventDefault();
        submit();
      }}
      className="flex flex-col gap-6"
    >
      {dragging && (
        <div className="pointer-events-none fixed inset-0 z-40 flex items-center justify-center bg-bg/80 backdrop-blur-sm" aria-hidden="true">
          <p className="rounded-lg border-2 border-dashed border-accent bg-surface px-8 py-6 text-lg font-medium">Drop the image to use it as the input</p>
        </div>
      )}
      <section className="flex flex-col gap-3 rounded-xl border border-line bg-surface p-4 shadow-sm sm:p-5">
        <div className="grid gap-3 md:grid-cols-[minmax(0,1fr)_15rem]">
          <div className="flex flex-col gap-1.5">
            <label htmlFor="caption" className="text-sm font-medium">
              Caption
            </label>
            <textarea
              id="caption"
              ref={captionRef}
              data-testid="caption-input"
              value={caption}
              onChange={(event) => {
                setCaption(event.target.value);
                setError(null);
              }}
              onKeyDown={onCaptionKey}
              rows={3}
              placeholder="a red shape"
              aria-describedby="caption-hint caption-count"
              aria-invalid={captionOverLimit || undefined}
              className={`${field} min-h-28 resize-y text-base leading-relaxed`}
            />
            <div className="flex justify-between gap-3 text-xs">
              <p id="caption-hint" className="text-faint">
                {upload.image ? "The image will be used; remove it to run the caption." : "Enter runs it · Shift+Enter for a new line"}
              </p>
              {maxCaption !== undefined && (
                <p
                  id="caption-count"
                  data-testid="caption-count"
                  aria-live="polite"
                  className={`shrink-0 tabular-nums ${captionOverLimit ? "font-medium text-danger" : captionLength > maxCaption * 0.9 ? "text-warn" : "text-faint"}`}
                >
                  {captionLength} / {maxCaption}
                  {captionOverLimit && <span className="sr-only"> characters: too long</span>}
                </p>
              )}
            </div>
          </div>
          <div className="flex flex-col gap-1.5">
            <span className="text-sm font-medium" aria-hidden="true">
              Image
            </span>
            <ImageDrop image={upload.image} error={upload.error} busy={upload.busy} onFile={(file) => void upload.send(file)} onClear={upload.clear} inputTestId="image-upload" />
          </div>
        </div>
        <div className="flex flex-wrap items-center gap-1.5">
          <span className="mr-1 text-xs text-muted">Try, vague to specific:</span>
          {EXAMPLES.map((example) => (
            <button
              key={example}
              type="button"
              data-testid="example-caption"
              disabled={submitting}
              onClick={() => {
                setCaption(example);
                upload.clear();
                // An example runs as a caption even if an image was set a moment before.
                void start({ kind: "caption", text: example });
              }}
              className="rounded-full border border-line bg-bg px-2.5 py-1 text-xs text-fg hover:border-accent hover:bg-accent-soft"
            >
              {example}
            </button>
          ))}
        </div>
      </section>

      <section aria-label="Settings" className="flex flex-col gap-4 rounded-xl border border-line bg-surface p-4 shadow-sm sm:p-5">
        <SettingsFields presets={presets} settings={settings} onChange={setSettings} />
      </section>

      <SubmitBar error={error} testId="submit-run" disabled={submitting || upload.busy}>
        {submitting ? "Starting…" : "Generate grid"}
      </SubmitBar>
    </form>
  );
}
