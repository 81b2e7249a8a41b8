import { z } from "zod";
import { describeIssues, type EngineInput, listPresets, openPresetRules, planLevels, type PresetRules, type RunRequest } from "../engine/index";
import { configurationError, RunError, toRunError } from "./errors";
import { isSha256, runId } from "./ids";
import type { Admission, BlobStore, RunStore } from "./storage";
import type { StoredInput, StoredRequest } from "./views";

/*
 * The one place a request body is checked: zod parses the body's shape, the preset's rules
 * validate and normalize every setting, and what comes out (a run id and the row to insert) is
 * trusted by everything after it. Nothing here opens a model, so a web process that does not
 * decode validates exactly as one that does.
 */

const sha256Field = z.string().refine(isSha256, { message: "must be an upload's sha256 (64 lowercase hex digits)" });
const inputField = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("caption"), text: z.string() }),
  z.strictObject({ kind: z.literal("image"), upload: sha256Field }),
]);
// Only the preset and input are checked here; the preset's rules validate every other setting.
const runBodySchema = z.looseObject({ preset: z.string().optional(), input: inputField });
const comparisonBodySchema = z.looseObject({ preset: z.string().optional(), inputs: z.array(inputField).min(2).max(4) });

function invalid(what: string, error: z.ZodError): RunError {
  return new RunError("invalid_input", `invalid ${what}: ${describeIssues(error)}`);
}

/** Each preset's rules, read once; a preset that fails to load is the server's fault. */
export class PresetCatalog {
  private readonly rules = new Map<string, PresetRules>();

  constructor(readonly defaultPreset: string) {}

  names(): string[] {
    return listPresets();
  }

  /** The rules of a preset the server has; `requested` tells a client's unknown name (400) from a bad default (500). */
  rulesFor(name: string = this.defaultPreset, requested = name !== this.defaultPreset): PresetRules {
    const cached = this.rules.get(name);
    if (cached) return cached;
    const available = this.names();
    if (!available.includes(name)) {
      if (!requested) throw this.missingDefault(available);
      throw new RunError("invalid_input", `unknown preset ${JSON.stringify(name)}; available: ${available.join(", ") || "none"}`);
    }
    let rules: PresetRules;
    try {
      rules = openPresetRules(name);
    } catch (error) {
      throw toRunError(error, { preset: name, opening: true });
    }
    this.rules.set(name, rules);
    return rules;
  }

  private missingDefault(available: readonly string[]): RunError {
    return configurationError("PENUMBRA_PRESET", new Error(`the default preset ${JSON.stringify(this.defaultPreset)} is not one of: ${available.join(", ") || "none"}`));
  }
}

/**
 * What a run costs the decoder, in denoising evaluations of one cell: rows × samples × steps,
 * doubled when classifier-free guidance runs the UNet twice a step (any scale but 1, as
 * lib/engine/unclip.ts decodes). Admission weighs the queue in these units (storage.ts, AdmissionRules), so one client's 9 × 8 × 100-step runs cannot take
 * every place at the price of small ones.
 */
export function runCost(request: Pick<StoredRequest, "plan" | "cols" | "steps" | "guidanceScale">): number {
  return planLevels(request.plan).length * request.cols * request.steps * (request.guidanceScale !== 1 ? 2 : 1);
}

export class Admissions {
  constructor(
    private readonly catalog: PresetCatalog,
    private readonly store: RunStore,
    private readonly blobs: BlobStore,
    private readonly now: () => number,
  ) {}

  /** A run request as the run to admit: its id and its row; stores nothing. */
  async run(body: unknown): Promise<Admission> {
    const parsed = runBodySchema.safeParse(body);
    if (!parsed.success) throw invalid("run request", parsed.error);
    const { preset, input, ...settings } = parsed.data;
    return this.prepare(preset, input, settings);
  }

  /** A comparison's runs: 2–4 inputs with shared settings. */
  async comparison(body: unknown): Promise<Admission[]> {
    const parsed = comparisonBodySchema.safeParse(body);
    if (!parsed.success) throw invalid("comparison (give 2 to 4 inputs and the settings they share)", parsed.error);
    const { preset, inputs, ...shared } = parsed.data;
    const runs: Admission[] = [];
    for (const input of inputs) runs.push(await this.prepare(preset, input, shared));
    return runs;
  }

  private async prepare(presetName: string | undefined, input: StoredInput, settings: Record<string, unknown>): Promise<Admission> {
    const rules = this.catalog.rulesFor(presetName ?? this.catalog.defaultPreset, presetName !== undefined);
    let normalized;
    try {
      normalized = rules.normalize({ ...settings, input: await this.engineInput(input) } as RunRequest);
    } catch (error) {
      throw toRunError(error);
    }
    const request: StoredRequest = { ...normalized, input };
    const { digest } = rules.preset;
    const id = runId(digest, request);
    return {
      id,
      cost: runCost(request),
      insert: {
        id,
        presetName: presetName ?? this.catalog.defaultPreset,
        presetDigest: digest,
        request: JSON.stringify(request),
        createdAt: this.now(),
        rows: planLevels(request.plan).length,
        cols: request.cols,
        imageWidth: rules.config.image.size,
        imageHeight: rules.config.image.size,
        searchText: input.kind === "caption" ? input.text.toLowerCase() : null,
        inputUpload: input.kind === "image" ? input.upload : null,
      },
    };
  }

  /** The engine's input: a caption as is, an upload as its stored bytes. */
  private async engineInput(input: StoredInput): Promise<EngineInput> {
    if (input.kind === "caption") return input;
    if (!(await this.store.getUpload(input.upload))) {
      throw new RunError("invalid_input", `no upload with sha256 ${input.upload}; upload the image first and use the sha256 it answers`);
    }
    const bytes = await this.blobs.read(input.upload);
    return { kind: "image", bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
  }
}
