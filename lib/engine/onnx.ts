/**
 * The one place that touches onnxruntime-node: choosing execution providers, creating (and
 * caching) sessions, checking each model against docs/model-contract.md (contract.ts), and converting
 * tensors between the engine's float32/int32 arrays and whatever element types a model declares
 * (float16.ts for float16).
 */
import os from "node:os";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { type ContractDims, contractProblems, type ModelKey, type TensorMetadata } from "./contract";
import { EngineError } from "./errors";
import { float16BitsToFloat32Array, float32ArrayToFloat16Bits } from "./float16";
import { PROVIDERS, type ProviderName } from "./provider-names";

// Every onnxruntime failure reaches the caller as an exception whose message the engine reports;
// onnxruntime's own stderr copy only repeats it (in red, for every model, on each machine without CUDA).
ort.env.logLevel = "fatal";

// ───────────────────────── providers ─────────────────────────

export { PROVIDERS, type ProviderName };

/** The providers to try in order, from PENUMBRA_PROVIDERS (default cuda, cpu); cpu always ends the list. */
export function providerPreference(setting = process.env.PENUMBRA_PROVIDERS): ProviderName[] {
  const requested = (setting ?? "cuda,cpu")
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== "");
  for (const name of requested) {
    if (!(PROVIDERS as readonly string[]).includes(name)) {
      throw new EngineError("configuration", `PENUMBRA_PROVIDERS: unknown provider ${JSON.stringify(name)}; use a comma list of ${PROVIDERS.join(", ")}`);
    }
  }
  return withCpuLast(requested as ProviderName[]);
}

function withCpuLast(providers: readonly ProviderName[]): ProviderName[] {
  return [...new Set(providers.filter((name) => name !== "cpu")), "cpu"];
}

/** intraOpNumThreads, from PENUMBRA_THREADS (default min(4, cores)). */
export function threadCount(setting = process.env.PENUMBRA_THREADS): number {
  if (setting === undefined || setting.trim() === "") return Math.min(4, os.availableParallelism());
  const threads = Number(setting);
  if (!Number.isSafeInteger(threads) || threads < 1) {
    throw new EngineError("configuration", `PENUMBRA_THREADS must be an integer ≥ 1, got ${JSON.stringify(setting)}`);
  }
  return threads;
}

/**
 * Whether onnxruntime's intra-op threads spin between tasks, from PENUMBRA_THREAD_SPINNING (on or off, default off).
 * Spinning saves a few percent when the cores are otherwise idle, but a spinning thread holds a core that another
 * process (or the serving thread) needs: with one of two cores busy a grid took 1.6–1.7× as long (docs/benchmarks.md).
 */
export function threadSpinning(setting = process.env.PENUMBRA_THREAD_SPINNING): boolean {
  const value = (setting ?? "").trim().toLowerCase();
  if (value === "" || value === "off") return false;
  if (value === "on") return true;
  throw new EngineError("configuration", `PENUMBRA_THREAD_SPINNING must be on or off, got ${JSON.stringify(setting)}`);
}

export interface SkippedProvider {
  readonly provider: ProviderName;
  readonly reason: string;
}

/** Where one model ended up running, and why the providers before it were passed over. */
export interface ProviderReport {
  readonly file: string;
  readonly provider: ProviderName;
  readonly skipped: readonly SkippedProvider[];
}

// ───────────────────────── model metadata ─────────────────────────

function metadataOf(values: readonly ort.InferenceSession.ValueMetadata[]): TensorMetadata[] {
  return values.map((value) => (value.isTensor ? { name: value.name, type: value.type, shape: value.shape } : { name: value.name, type: "non-tensor", shape: [] }));
}

// ───────────────────────── tensors in and out ─────────────────────────

/** What the engine feeds: float32 for real values, int32 for ids; converted to the model's declared type. */
export interface Feed {
  readonly data: Float32Array | Int32Array;
  readonly dims: readonly number[];
}

export interface Output {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

/**
 * A feed already converted to one model input's type (ModelSession.prepare): an input that stays
 * the same across many runs, such as the UNet's prompt states and class labels over every step of a
 * batch, is converted once instead of once per run (float16 conversion at real sizes costs more than
 * a small UNet call).
 */
export class PreparedFeed {
  constructor(
    /** The model and input it was converted for, as named in messages. */
    readonly owner: string,
    readonly name: string,
    readonly tensor: ort.Tensor,
  ) {}

  get dims(): readonly number[] {
    return this.tensor.dims;
  }
}

/**
 * A float feed the caller rewrites in place between runs of one model (ModelSession.reusableFeed): the
 * UNet's latents change at every step, and converting them into the same array each time, instead of
 * a new one, keeps a step's host work to the conversion itself. For a float32 input the tensor reads
 * `values` directly.
 */
export class ReusableFeed {
  /** Where the caller writes the next run's values. */
  readonly values: Float32Array;
  private readonly halves: Uint16Array | undefined;
  private readonly ortTensor: ort.Tensor;

  constructor(
    readonly owner: string,
    readonly name: string,
    type: string,
    readonly dims: readonly number[],
  ) {
    const length = dims.reduce((product, dim) => product * dim, 1);
    this.values = new Float32Array(length);
    if (type === "float32") {
      this.ortTensor = new ort.Tensor("float32", this.values, dims);
    } else if (type === "float16") {
      this.halves = new Uint16Array(length);
      this.ortTensor = new ort.Tensor("float16", this.halves, dims);
    } else {
      throw new EngineError("model_error", `${owner} input "${name}": a reusable feed needs a float32 or float16 input, not ${type}`);
    }
  }

  /** The tensor for the next run, converted from `values` as they are now. */
  tensor(): ort.Tensor {
    if (this.halves) float32ArrayToFloat16Bits(this.values, this.halves);
    return this.ortTensor;
  }
}

function toOrtTensor(feed: Feed, type: string, where: string): ort.Tensor {
  const { data, dims } = feed;
  switch (type) {
    case "float32":
      return new ort.Tensor("float32", data instanceof Float32Array ? data : Float32Array.from(data), dims);
    case "float16":
      return new ort.Tensor("float16", float32ArrayToFloat16Bits(data), dims);
    case "int32":
    case "int64": {
      for (const value of data) {
        if (!Number.isInteger(value)) throw new EngineError("model_error", `${where}: cannot feed ${value} to an ${type} input`);
      }
      if (type === "int32") return new ort.Tensor("int32", data instanceof Int32Array ? data : Int32Array.from(data), dims);
      return new ort.Tensor("int64", BigInt64Array.from(data, (value) => BigInt(value)), dims);
    }
    default:
      throw new EngineError("model_error", `${where}: the engine cannot feed element type ${type}`);
  }
}

/** An output as float32; a float16 one is converted into `into` when it is given and has the output's length. */
function fromOrtTensor(tensor: ort.Tensor, where: string, into: Float32Array | undefined): Output {
  const dims = [...tensor.dims];
  switch (tensor.type) {
    case "float32":
      return { data: tensor.data as Float32Array, dims };
    case "float16": {
      // onnxruntime hands float16 back as raw bits (Uint16Array) unless the runtime has Float16Array.
      const data = tensor.data;
      if (!(data instanceof Uint16Array)) return { data: Float32Array.from(data as ArrayLike<number>), dims };
      return { data: float16BitsToFloat32Array(data, into?.length === data.length ? into : undefined), dims };
    }
    default:
      throw new EngineError("model_error", `${where}: output of element type ${tensor.type} is not supported`);
  }
}

// ───────────────────────── sessions ─────────────────────────

interface OpenedSession {
  readonly session: ort.InferenceSession;
  readonly provider: ProviderName;
  readonly skipped: readonly SkippedProvider[];
}

/** Per file path: one session per process, shared by every preset and engine that names the file. */
const sessions = new Map<string, Promise<OpenedSession>>();
/** Providers that failed once are not retried: a missing GPU library fails the same way for every model. */
const failedProviders = new Map<ProviderName, string>();
/** Sessions are created one at a time, so a provider's failure is known before the next model tries it. */
let creationQueue: Promise<unknown> = Promise.resolve();
/**
 * The provider lines already printed, each once however many models and runs follow: once per
 * process, as the CLI opens its models on its main thread and the app and worker in their one decode thread.
 */
const announced = new Set<string>();

export type Logger = (message: string) => void;

export interface OpenOptions {
  /** Default: providerPreference(). */
  readonly providers?: readonly ProviderName[];
  /** Default: threadCount(). */
  readonly threads?: number;
  /** Default: threadSpinning(). */
  readonly spinning?: boolean;
  /** Where the provider chosen (and why faster ones were not) is reported, once per process; default console.warn. */
  readonly log?: Logger;
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0].trim();
}

/** The options every session is created with; exported so the benchmark's matmul probe runs under the same ones. */
export function sessionOptions(provider: ProviderName, threads: number, spinning: boolean): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [provider],
    graphOptimizationLevel: "all",
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    // 3 = errors only: onnxruntime's warnings about unused initialisers are noise to users.
    logSeverityLevel: 3,
    // Session config entries: onnxruntime-node joins the nested keys with dots (session.intra_op.allow_spinning).
    extra: { session: { intra_op: { allow_spinning: spinning ? "1" : "0" } } },
  };
}

/**
 * A skipped provider's reason as the provider line words it. onnxruntime's usual one, "Failed to
 * load shared library", says neither which library nor why; the exact text stays in the report.
 */
function plainReason(reason: string): string {
  return /^OrtSessionOptionsAppendExecutionProvider_\w+: Failed to load shared library$/.test(reason) ? "its libraries did not load, see docs/cuda.md" : reason;
}

/** "penumbra: running on cpu (cuda: …)": the provider a session got and why each one before it was passed over. */
function providerLine({ provider, skipped }: OpenedSession): string {
  const reasons = skipped.map((skip) => `${skip.provider}: ${plainReason(skip.reason)}`);
  return `penumbra: running on ${provider}${reasons.length ? ` (${reasons.join("; ")})` : ""}`;
}

interface Threading {
  readonly threads: number;
  readonly spinning: boolean;
}

async function openOnFirstProvider(file: string, providers: readonly ProviderName[], { threads, spinning }: Threading): Promise<OpenedSession> {
  const skipped: SkippedProvider[] = [];
  for (const provider of providers.slice(0, -1)) {
    const earlier = failedProviders.get(provider);
    if (earlier !== undefined) {
      skipped.push({ provider, reason: earlier });
      continue;
    }
    try {
      return { session: await ort.InferenceSession.create(file, sessionOptions(provider, threads, spinning)), provider, skipped };
    } catch (error) {
      const reason = firstLine(error);
      failedProviders.set(provider, reason);
      skipped.push({ provider, reason });
    }
  }
  try {
    return { session: await ort.InferenceSession.create(file, sessionOptions("cpu", threads, spinning)), provider: "cpu", skipped };
  } catch (error) {
    throw new EngineError("invalid_preset", `${file}: onnxruntime cannot load this model: ${firstLine(error)}`, { cause: error });
  }
}

async function createSession(file: string, options: OpenOptions): Promise<OpenedSession> {
  const providers = withCpuLast(options.providers ?? providerPreference());
  const threading = { threads: options.threads ?? threadCount(), spinning: options.spinning ?? threadSpinning() };
  const opened = await openOnFirstProvider(file, providers, threading);
  // With cpu alone there was no choice to report. A failed provider is not retried, so the models
  // after the first land where it did and repeat its line, which is not printed again; a model
  // that lands elsewhere gets a line of its own.
  if (providers.length > 1) {
    const line = providerLine(opened);
    if (!announced.has(line)) {
      announced.add(line);
      (options.log ?? ((message: string) => console.warn(message)))(line);
    }
  }
  return opened;
}

/** An opened model: its session, where it runs, and a `run` that speaks float32/int32. */
export class ModelSession {
  private readonly inputs: Map<string, TensorMetadata>;

  constructor(
    readonly key: ModelKey,
    readonly file: string,
    private readonly opened: OpenedSession,
  ) {
    this.inputs = new Map(metadataOf(opened.session.inputMetadata).map((meta) => [meta.name, meta]));
  }

  get report(): ProviderReport {
    return { file: this.file, provider: this.opened.provider, skipped: this.opened.skipped };
  }

  /** The declared element type and shape of an input (e.g. the UNet's timestep, whose form varies by export). */
  input(name: string): TensorMetadata {
    const meta = this.inputs.get(name);
    if (!meta) throw new EngineError("model_error", `${this.where}: has no input "${name}"`);
    return meta;
  }

  private get where(): string {
    return `${path.basename(this.file)} (${this.key})`;
  }

  /** Converts a feed for input `name` once, for use in many runs of this model. */
  prepare(name: string, feed: Feed): PreparedFeed {
    return new PreparedFeed(this.where, name, toOrtTensor(feed, this.input(name).type, `${this.where} input "${name}"`));
  }

  /** A feed for input `name` that the caller rewrites between runs, converted into the same array each run. */
  reusableFeed(name: string, dims: readonly number[]): ReusableFeed {
    return new ReusableFeed(this.where, name, this.input(name).type, dims);
  }

  /**
   * Runs the model; every output comes back as float32 whatever the model's own type. An output that
   * needs converting (float16) is written into `into[name]` when that has the output's length, so a
   * caller running the model step after step converts into one array; the caller must be done with
   * that array's previous contents. A float32 output is returned as onnxruntime made it.
   */
  async run(feeds: Readonly<Record<string, Feed | PreparedFeed | ReusableFeed>>, into: Readonly<Record<string, Float32Array>> = {}): Promise<Record<string, Output>> {
    const tensors: Record<string, ort.Tensor> = {};
    for (const [name, feed] of Object.entries(feeds)) {
      if ((feed instanceof PreparedFeed || feed instanceof ReusableFeed) && (feed.owner !== this.where || feed.name !== name)) {
        throw new EngineError("model_error", `${this.where}: input "${name}" was given a feed made for ${feed.owner} input "${feed.name}"`);
      }
      tensors[name] =
        feed instanceof PreparedFeed ? feed.tensor : feed instanceof ReusableFeed ? feed.tensor() : toOrtTensor(feed, this.input(name).type, `${this.where} input "${name}"`);
    }
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await this.opened.session.run(tensors);
    } catch (error) {
      throw new EngineError("model_error", `${this.where} failed: ${firstLine(error)}`, { cause: error });
    }
    const outputs: Record<string, Output> = {};
    for (const [name, tensor] of Object.entries(results)) outputs[name] = fromOrtTensor(tensor, `${this.where} output "${name}"`, into[name]);
    return outputs;
  }
}

/**
 * Opens (or reuses) the session for `file` and checks it against the contract for `key` with the
 * preset's sizes `dims`; a mismatch throws invalid_preset naming the file, the tensor and what was expected.
 */
export async function openModel(key: ModelKey, file: string, dims: ContractDims, options: OpenOptions = {}): Promise<ModelSession> {
  let pending = sessions.get(file);
  if (!pending) {
    pending = creationQueue.then(() => createSession(file, options));
    creationQueue = pending.catch(() => undefined);
    sessions.set(file, pending);
    // A failed open is not cached, so a corrected file can be opened later in the same process.
    pending.catch(() => sessions.delete(file));
  }
  const opened = await pending;
  const signature = { inputs: metadataOf(opened.session.inputMetadata), outputs: metadataOf(opened.session.outputMetadata) };
  const problems = contractProblems(key, signature, dims, `${file} (${key})`);
  if (problems.length) throw new EngineError("invalid_preset", problems.join("; "));
  return new ModelSession(key, file, opened);
}
