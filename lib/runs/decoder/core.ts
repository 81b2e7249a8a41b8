import { performance } from "node:perf_hooks";
import { bridgeSummary, encodeImage, type Engine, type EngineInput, type Grid, type ProviderReports, runDescription } from "../../engine/index";
import { type CellMetrics, cellMetrics } from "../../record";
import { readableMessage, RunError } from "../errors";
import type { StoredDescription, StoredRequest } from "../views";

/*
 * The engine's side of a run, the part that needs the models: describe the input, plan the grid,
 * decode the cells asked for, and encode each as PNG. It runs inside the decode thread
 * (thread.ts), so inference never blocks the thread that serves requests; tests that inject an
 * engine run it in-process through the same Decoder interface (decoder.ts).
 */

export interface DecodeJob {
  /** Names this job's grid between plan and decode; the run's id. */
  readonly jobId: string;
  readonly presetName: string;
  /** The preset the run was created against; a changed preset refuses the job. */
  readonly presetDigest: string;
  readonly request: StoredRequest;
  /** The request's input as the engine reads it (an upload's bytes, not its sha256). */
  readonly input: EngineInput;
}

export interface PlannedGrid {
  readonly description: StoredDescription;
  readonly cells: readonly CellMetrics[];
  readonly describeMs: number;
}

/** Where the decode stands, in grid cell indices. */
export interface CellProgress {
  readonly evaluation: number;
  readonly evaluations: number;
  readonly batch: number;
  readonly batches: number;
  readonly activeCells: readonly number[];
}

export interface DecodeHooks {
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: CellProgress) => void;
  /** A cell's PNG, as soon as its batch is decoded. */
  readonly onCell?: (index: number, png: Uint8Array) => void;
}

export interface DecodeOutcome {
  readonly providers: ProviderReports;
}

interface PlannedJob {
  readonly engine: Engine;
  readonly grid: Grid;
  readonly request: StoredRequest;
}

export class DecoderCore {
  private readonly engines = new Map<string, Promise<Engine>>();
  private readonly jobs = new Map<string, PlannedJob>();

  constructor(private readonly openEngine: (presetName: string) => Promise<Engine>) {}

  /** The preset's engine, opened once; a failed open is forgotten so a later job tries again. */
  engine(presetName: string): Promise<Engine> {
    let pending = this.engines.get(presetName);
    if (!pending) {
      pending = this.openEngine(presetName).catch((error: unknown) => {
        throw new PresetOpenError(presetName, error);
      });
      this.engines.set(presetName, pending);
      pending.catch(() => this.engines.delete(presetName));
    }
    return pending;
  }

  async providers(presetName: string): Promise<ProviderReports> {
    return (await this.engine(presetName)).providers();
  }

  /** Describes the input and plans the grid; the plan stays here for `decode` until `release`. */
  async plan(job: DecodeJob): Promise<PlannedGrid> {
    const started = performance.now();
    const engine = await this.engine(job.presetName);
    if (engine.preset.digest !== job.presetDigest) {
      throw new RunError("conflict", `preset ${job.presetName} has changed since this run was created; create the run again`);
    }
    const description = await engine.describe(job.input);
    const grid = engine.planGrid(description, { ...job.request.plan, cols: job.request.cols }, job.request.seed);
    this.jobs.set(job.jobId, { engine, grid, request: job.request });
    const { epistemic, logUncertainty, outOfDistribution, decoder } = runDescription(description, grid);
    return {
      description: {
        modality: description.modality,
        dim: description.distribution.mu.length,
        uncertainty: description.uncertainty,
        logUncertainty,
        percentile: description.percentile,
        epistemic,
        outOfDistribution,
        decoder,
        radiusShape: grid.radiusShape,
        embeddingNorm: description.embeddingNorm,
        alpha: Array.from(description.distribution.alpha),
        beta: Array.from(description.distribution.beta),
        bridge: bridgeSummary(engine.config, description),
        input: description.input,
      },
      cells: grid.cells.map(cellMetrics),
      describeMs: performance.now() - started,
    };
  }

  /**
   * Decodes the planned grid's cells `indices` (the engine draws each cell's noise from its column,
   * so a subset decodes to the same images as the whole grid), handing over each PNG as it is ready.
   */
  async decode(jobId: string, indices: readonly number[], hooks: DecodeHooks = {}): Promise<DecodeOutcome> {
    const job = this.jobs.get(jobId);
    if (!job) throw new Error(`no planned grid for job ${jobId}`);
    const { engine, grid, request } = job;
    if (indices.length > 0) {
      const { steps, guidanceScale, noiseLevel, scheduler, prompt } = request;
      // Encodes run side by side; cells are handed over in the order they were decoded. The chain
      // never rejects (a failed encode or hand-over is kept, and thrown once the decode is over),
      // so no failure sits unhandled while later cells are still decoding.
      let delivered = Promise.resolve();
      let failure = null as { readonly error: unknown } | null;
      try {
        await engine.decodeCells(
          { ...grid, cells: indices.map((index) => grid.cells[index]) },
          { steps, guidanceScale, noiseLevel, scheduler, prompt },
          {
            signal: hooks.signal,
            onStep: ({ evaluation, evaluations, batch, batches, activeCells }) =>
              hooks.onProgress?.({ evaluation, evaluations, batch, batches, activeCells: activeCells.map((i) => indices[i]) }),
            // Encoding here keeps the PNG work off the serving thread too.
            onCell: (subsetIndex, image) => {
              const index = indices[subsetIndex];
              // The engine made the image, so failing to encode it is the server's fault, whatever the encoder calls it.
              const encoded = encodeImage(image, "png").catch((error: unknown) => {
                throw new Error(`encoding cell ${index} as PNG failed: ${readableMessage(error)}`, { cause: error });
              });
              // Awaited in turn below; until then this keeps an early failure from counting as unhandled.
              encoded.catch(() => {});
              delivered = delivered.then(async () => {
                if (failure) return;
                try {
                  hooks.onCell?.(index, await encoded);
                } catch (error) {
                  failure = { error };
                }
              });
            },
          },
        );
      } finally {
        // Cells decoded before a cancel or failure are still handed over, and all before this returns.
        await delivered;
      }
      if (failure) throw failure.error;
    }
    return { providers: engine.providers() };
  }

  release(jobId: string): void {
    this.jobs.delete(jobId);
  }
}

/** Opening a preset's engine failed: the server's fault, whatever the engine's error says. */
export class PresetOpenError extends Error {
  override readonly name = "PresetOpenError";
  constructor(
    readonly presetName: string,
    cause: unknown,
  ) {
    super(`opening preset ${presetName} failed`, { cause });
  }
}
