"use client";

import { useId, type ReactNode } from "react";
import { GUIDANCE_SCALE_RANGE, type ProviderName, SCHEDULER_TYPES, SEED_RANGE } from "@/lib/engine/names";
import type { PresetInfo } from "../api";
import { PLAN_DESCRIPTIONS, PLAN_KINDS, planChips, planLevels, startsAtMean, type PlanKind } from "../format";
import { randomSeed } from "../request";
import { field, label as labelClass } from "../ui/styles";
import { planOf, presetSettings, settingsAdvice, type Settings } from "./settings";

interface SettingsFieldsProps {
  presets: PresetInfo[];
  settings: Settings;
  onChange: (settings: Settings) => void;
}

/** Preset, deviation plan, grid width and seed up front; diffusion settings folded under Advanced. */
export function SettingsFields({ presets, settings, onChange }: SettingsFieldsProps) {
  const preset = presets.find((candidate) => candidate.name === settings.preset);
  const limits = preset?.limits ?? {};
  const set = (changes: Partial<Settings>) => onChange({ ...settings, ...changes });
  const advice = settingsAdvice(settings);

  return (
    <div className="flex flex-col gap-4">
      <div className="grid grid-cols-2 gap-3 sm:grid-cols-[minmax(0,1.4fr)_minmax(0,1fr)_minmax(0,1fr)_5rem_minmax(0,1fr)]">
        <Field label="Preset" className="col-span-2 sm:col-span-1">
          {(id) => (
            <select
              id={id}
              data-testid="preset-select"
              value={settings.preset}
              // A new preset brings its own decoding defaults; the plan and grid shape stay.
              onChange={(event) => onChange(presetSettings(presets.find((p) => p.name === event.target.value), { ...settings, preset: event.target.value }))}
              className={field}
            >
              {presets.length === 0 && <option value="">Server default</option>}
              {presets.map((p) => (
                <option key={p.name} value={p.name}>
                  {p.name} · {p.dim}-d · {p.imageSize.width}×{p.imageSize.height}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Deviation plan">
          {(id) => (
            <select id={id} data-testid="plan-kind" value={settings.planKind} onChange={(event) => set({ planKind: event.target.value as Settings["planKind"] })} className={field}>
              {PLAN_KINDS.map((kind) => (
                <option key={kind} value={kind}>
                  {PLAN_NAMES[kind]}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Rows">
          {(id) => (
            <select id={id} data-testid="plan-density" value={settings.density} onChange={(event) => set({ density: event.target.value as Settings["density"] })} className={field}>
              <option value="coarse">Coarse · 5</option>
              <option value="fine">Fine · 9</option>
              {settings.customPlan?.kind === settings.planKind && <option value="custom">Custom · {planLevels(settings.customPlan).length}</option>}
            </select>
          )}
        </Field>
        <Field label="Columns">
          {(id) => <input id={id} data-testid="cols-input" type="number" inputMode="numeric" min={1} max={limits.maxCols} step={1} value={settings.cols} onChange={(event) => set({ cols: event.target.value })} className={`${field} tabular-nums`} />}
        </Field>
        <Field label="Seed">
          {(id) => (
            <div className="flex">
              <input id={id} data-testid="seed-input" type="number" inputMode="numeric" min={SEED_RANGE.min} max={SEED_RANGE.max} step={1} value={settings.seed} onChange={(event) => set({ seed: event.target.value })} className={`${field} rounded-r-none tabular-nums`} />
              <button
                type="button"
                data-testid="seed-dice"
                onClick={() => set({ seed: String(randomSeed()) })}
                aria-label="Random seed"
                title="Random seed"
                className="-ml-px inline-flex w-10 shrink-0 items-center justify-center rounded-r-md border border-line bg-surface text-muted hover:bg-sunken hover:text-fg"
              >
                <svg viewBox="0 0 20 20" className="size-4" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.5">
                  <rect x="3.5" y="3.5" width="13" height="13" rx="2.5" />
                  <circle cx="7.2" cy="7.2" r=".9" fill="currentColor" />
                  <circle cx="12.8" cy="12.8" r=".9" fill="currentColor" />
                  <circle cx="10" cy="10" r=".9" fill="currentColor" />
                </svg>
              </button>
            </div>
          )}
        </Field>
      </div>
      <PlanPreview settings={settings} />
      {preset && <ProviderNote preset={preset} />}
      <details className="group rounded-md border border-line">
        <summary className="flex cursor-pointer list-none items-center gap-2 rounded-md px-3 py-2 text-sm font-medium text-muted hover:text-fg">
          <svg viewBox="0 0 20 20" className="size-4 transition-transform group-open:rotate-90" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round">
            <path d="m8 5 5 5-5 5" />
          </svg>
          Advanced
          <span className="ml-auto font-mono text-xs font-normal text-faint tabular-nums">
            {settings.steps} steps · {settings.scheduler} · guidance {settings.guidance} · noise {settings.noise}
          </span>
        </summary>
        <div className="grid grid-cols-2 gap-3 border-t border-line p-3 sm:grid-cols-4">
          <Field label="Steps">
            {(id) => <input id={id} data-testid="steps-input" type="number" inputMode="numeric" min={1} max={limits.maxSteps} step={1} value={settings.steps} onChange={(event) => set({ steps: event.target.value })} className={`${field} tabular-nums`} />}
          </Field>
          <Field label="Guidance scale">
            {(id) => <input id={id} data-testid="guidance-input" type="number" inputMode="decimal" min={GUIDANCE_SCALE_RANGE.min} max={GUIDANCE_SCALE_RANGE.max} step={0.5} value={settings.guidance} onChange={(event) => set({ guidance: event.target.value })} className={`${field} tabular-nums`} />}
          </Field>
          <p data-testid="guidance-note" className="col-span-full -mt-1 text-xs text-muted sm:order-last">
            Guidance g mixes the unconditional and conditional predictions, ε_u + g·(ε_c − ε_u), at every g but 1: 1 decodes conditionally, 0 unconditionally. diffusers&apos; unCLIP
            pipeline guides only above 1 and decodes anything below it as at 1.
          </p>
          <Field label="Noise level">
            {(id) => <input id={id} data-testid="noise-input" type="number" inputMode="numeric" min={0} max={limits.maxNoiseLevel} step={1} value={settings.noise} onChange={(event) => set({ noise: event.target.value })} className={`${field} tabular-nums`} />}
          </Field>
          <Field label="Scheduler">
            {(id) => (
              <select id={id} data-testid="scheduler-select" value={settings.scheduler} onChange={(event) => set({ scheduler: event.target.value as Settings["scheduler"] })} className={field}>
                {SCHEDULER_TYPES.map((name) => (
                  <option key={name} value={name}>
                    {name === "dpmpp2m" ? "DPM++ 2M" : name.toUpperCase()}
                  </option>
                ))}
              </select>
            )}
          </Field>
        </div>
        {advice && (
          <p data-testid="scheduler-advice" role="status" className="border-t border-line px-3 py-2 text-xs text-warn">
            {advice}
          </p>
        )}
      </details>
    </div>
  );
}

function Field({ label, className = "", children }: { label: string; className?: string; children: (id: string) => ReactNode }) {
  const id = useId();
  return (
    <div className={`flex min-w-0 flex-col gap-1 ${className}`}>
      <label htmlFor={id} className={labelClass}>
        {label}
      </label>
      {children(id)}
    </div>
  );
}

const PLAN_NAMES: Record<PlanKind, string> = { geodesic: "Geodesic · θ", interpolate: "Interpolate · λ", shell: "Shell · q" };

/** What the plan's rows are, in one line, and the rows it will produce, so "coarse" and "fine" mean something before submitting. */
function PlanPreview({ settings }: { settings: Settings }) {
  const plan = planOf(settings);
  return (
    <div data-testid="plan-preview" className="flex flex-col gap-1.5 text-xs text-muted">
      <p data-testid="plan-description">{PLAN_DESCRIPTIONS[plan.kind]}</p>
      <p className="flex flex-wrap items-center gap-x-1.5 gap-y-1">
        <span>{startsAtMean(plan) ? "Rows, mean first:" : "Rows, nearest first:"}</span>
        {planChips(plan).map((chip, i) => (
          <span key={i} className="rounded bg-sunken px-1.5 py-0.5 font-mono tabular-nums text-fg">
            {chip}
          </span>
        ))}
      </p>
    </div>
  );
}

function ProviderNote({ preset }: { preset: PresetInfo }) {
  const models = Object.entries(preset.providers ?? {});
  if (models.length === 0) return null;
  const skipped = models.flatMap(([model, choice]) => choice.skipped.map((skip) => ({ model, ...skip })));
  const cuda = skipped.find((skip) => skip.provider === ("cuda" satisfies ProviderName));
  return (
    <div className="text-xs text-muted">
      <p className="flex flex-wrap gap-x-3 gap-y-0.5">
        {models.map(([model, choice]) => (
          <span key={model}>
            {model} <span className="font-mono text-fg">{choice.provider}</span>
          </span>
        ))}
      </p>
      {cuda && <p className="mt-0.5 text-faint">CUDA skipped: {cuda.reason}</p>}
    </div>
  );
}
