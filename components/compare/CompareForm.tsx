"use client";

import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";
import { postJson, readableError, type Comparison, type PresetInfo, type RequestInput } from "../api";
import { ImageDrop } from "../compose/ImageDrop";
import { presetSettings, settingsRequest, type Settings } from "../compose/settings";
import { SettingsFields } from "../compose/SettingsFields";
import { rememberCreatorKey } from "../run/creatorKeys";
import { uploadImage, type ChosenImage } from "../compose/useImageUpload";
import { field } from "../ui/styles";
import { SubmitBar } from "../ui/SubmitBar";

interface Entry {
  key: number;
  text: string;
  image: ChosenImage | null;
  error: string | null;
  busy: boolean;
}

const MIN = 2;
const MAX = 4;
const blank = (key: number): Entry => ({ key, text: "", image: null, error: null, busy: false });

/** 2–4 captions or images under one shared plan, seed and settings. */
export function CompareForm({ presets }: { presets: PresetInfo[] }) {
  const router = useRouter();
  const [entries, setEntries] = useState<Entry[]>([blank(0), blank(1)]);
  const [nextKey, setNextKey] = useState(2);
  const [settings, setSettings] = useState<Settings>(() => presetSettings(presets[0]));
  const [error, setError] = useState<string | null>(null);
  const [submitting, setSubmitting] = useState(false);

  const update = (key: number, changes: Partial<Entry>) => setEntries((current) => current.map((entry) => (entry.key === key ? { ...entry, ...changes } : entry)));
  // The form's error answers the last submit; once an input or a setting changes it no longer holds.
  const edit = (key: number, changes: Partial<Entry>) => {
    setError(null);
    update(key, changes);
  };

  async function upload(key: number, file: File) {
    edit(key, { busy: true, error: null, image: null });
    try {
      update(key, { busy: false, image: await uploadImage(file) });
    } catch (problem) {
      update(key, { busy: false, error: readableError(problem) });
    }
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    const checked = settingsRequest(settings);
    if (!checked.ok) return setError(checked.message);
    const inputs: (RequestInput | null)[] = entries.map((entry) =>
      entry.image ? { kind: "image", upload: entry.image.sha256 } : entry.text.trim() ? { kind: "caption", text: entry.text.trim() } : null,
    );
    const missing = inputs.findIndex((input) => input === null);
    if (missing >= 0) return setError(`Input ${missing + 1} is empty: write a caption or add an image.`);
    setSubmitting(true);
    try {
      const { comparison, creatorKey } = await postJson<{ comparison: Comparison; creatorKey: string }>("/api/compare", { ...checked.request, inputs });
      rememberCreatorKey(
        comparison.runs.map((run) => run.id),
        creatorKey,
      );
      router.push(`/compare/${encodeURIComponent(comparison.id)}`);
    } catch (problem) {
      setError(readableError(problem));
      setSubmitting(false);
    }
  }

  return (
    <form noValidate onSubmit={submit} className="flex flex-col gap-6">
      <section aria-label="Inputs" className="grid gap-3 sm:grid-cols-2">
        {entries.map((entry, i) => (
          <div key={entry.key} className="flex flex-col gap-2 rounded-xl border border-line bg-surface p-3 shadow-sm">
            <div className="flex items-center justify-between">
              <label htmlFor={`compare-${entry.key}`} className="text-sm font-medium">
                Input {i + 1}
              </label>
              {entries.length > MIN && (
                <button
                  type="button"
                  data-testid="compare-remove"
                  onClick={() => {
                    setError(null);
                    setEntries((current) => current.filter((candidate) => candidate.key !== entry.key));
                  }}
                  aria-label={`Remove input ${i + 1}`}
                  className="rounded-md px-2 py-0.5 text-xs text-muted hover:bg-sunken hover:text-fg"
                >
                  Remove
                </button>
              )}
            </div>
            <textarea
              id={`compare-${entry.key}`}
              data-testid="compare-input"
              value={entry.text}
              onChange={(event) => edit(entry.key, { text: event.target.value })}
              rows={2}
              placeholder={i === 0 ? "a shape" : i === 1 ? "a large red circle" : "another caption"}
              className={`${field} resize-y`}
            />
            <ImageDrop
              image={entry.image}
              error={entry.error}
              busy={entry.busy}
              onFile={(file) => void upload(entry.key, file)}
              onClear={() => edit(entry.key, { image: null, error: null })}
              inputTestId="compare-upload"
              compact
            />
          </div>
        ))}
        {entries.length < MAX && (
          <button
            type="button"
            data-testid="compare-add"
            onClick={() => {
              setEntries((current) => [...current, blank(nextKey)]);
              setNextKey((key) => key + 1);
            }}
            className="flex min-h-14 items-center justify-center gap-2 rounded-xl border border-dashed sm:min-h-32 border-line-strong text-sm font-medium text-muted hover:border-accent hover:text-fg"
          >
            <svg viewBox="0 0 20 20" className="size-4" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round">
              <path d="M10 4v12M4 10h12" />
            </svg>
            Add an input
          </button>
        )}
      </section>

      <section aria-label="Shared settings" className="flex flex-col gap-2 rounded-xl border border-line bg-surface p-4 shadow-sm sm:p-5">
        <h2 className="text-xs font-semibold uppercase tracking-wider text-muted">Shared by every input</h2>
        <SettingsFields
          presets={presets}
          settings={settings}
          onChange={(next) => {
            setError(null);
            setSettings(next);
          }}
        />
      </section>

      <SubmitBar error={error} testId="compare-submit" disabled={submitting || entries.some((entry) => entry.busy)}>
        {submitting ? "Starting…" : `Compare ${entries.length}`}
      </SubmitBar>
    </form>
  );
}
