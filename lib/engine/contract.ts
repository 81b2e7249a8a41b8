/**
 * docs/model-contract.md as data: the models a preset names, the tensors each must take and give
 * (names, element types, shapes in terms of the preset's sizes), and the check of a model's graph
 * signature against them. Pure data and arithmetic: onnx.ts checks sessions with it when it opens
 * them, and preset-check checks files read by onnx-header.ts without onnxruntime.
 */

/** The models of a preset, by their key in preset.json's `files`. */
export const MODEL_KEYS = ["clipText", "clipImage", "promptEncoder", "unet", "vaeDecoder", "adapterText", "adapterImage"] as const;
export type ModelKey = (typeof MODEL_KEYS)[number];

export type ElementType = "float32" | "float16" | "int32" | "int64";
const FLOAT: readonly ElementType[] = ["float32", "float16"];
const INTEGER: readonly ElementType[] = ["int32", "int64"];

/**
 * A dimension in the contract: a number, a size bound from the preset (see ContractDims), or one
 * the preset does not fix and that is never checked: "B" (batch), "H" (prompt hidden size).
 */
type Dim = number | "B" | "H" | keyof ContractDims;

interface TensorSpec {
  readonly name: string;
  readonly types: readonly ElementType[];
  /** Allowed shapes; the rank must match one, and numeric dims of the model must match bound names. */
  readonly shapes: readonly (readonly Dim[])[];
}

interface ModelSpec {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
}

/** Sizes the preset fixes; a model whose metadata has a different fixed size cannot work with it. */
export interface ContractDims {
  readonly D: number;
  readonly twoD: number;
  readonly contextLength: number;
  readonly promptContextLength: number;
  readonly clipSize: number;
  readonly latentChannels: number;
  readonly latentSide: number;
  readonly imageSide: number;
}

/** The parts of a preset's config that fix the contract's sizes; every PresetConfig is one. */
export interface ContractSizes {
  readonly embedding: { readonly dim: number };
  readonly tokenizer: { readonly contextLength: number };
  readonly promptTokenizer?: { readonly contextLength: number };
  readonly image: { readonly size: number; readonly clip: { readonly size: number } };
  readonly latent: { readonly channels: number; readonly downsample: number };
}

export function contractDims(config: ContractSizes): ContractDims {
  return {
    D: config.embedding.dim,
    twoD: 2 * config.embedding.dim,
    contextLength: config.tokenizer.contextLength,
    promptContextLength: (config.promptTokenizer ?? config.tokenizer).contextLength,
    clipSize: config.image.clip.size,
    latentChannels: config.latent.channels,
    latentSide: config.image.size / config.latent.downsample,
    imageSide: config.image.size,
  };
}

const embeddingOut = (name: string): TensorSpec => ({ name, types: FLOAT, shapes: [["B", "D"]] });
const latent: readonly Dim[] = ["B", "latentChannels", "latentSide", "latentSide"];

/** docs/model-contract.md, "The models". */
export const MODEL_CONTRACT: Readonly<Record<ModelKey, ModelSpec>> = {
  clipText: {
    inputs: [{ name: "input_ids", types: INTEGER, shapes: [["B", "contextLength"]] }],
    outputs: [embeddingOut("text_embeds")],
  },
  clipImage: {
    inputs: [{ name: "pixel_values", types: FLOAT, shapes: [["B", 3, "clipSize", "clipSize"]] }],
    outputs: [embeddingOut("image_embeds")],
  },
  adapterText: {
    inputs: [{ name: "embedding", types: FLOAT, shapes: [["B", "D"]] }],
    outputs: [embeddingOut("mu"), embeddingOut("one_over_alpha"), embeddingOut("beta")],
  },
  adapterImage: {
    inputs: [{ name: "embedding", types: FLOAT, shapes: [["B", "D"]] }],
    outputs: [embeddingOut("mu"), embeddingOut("one_over_alpha"), embeddingOut("beta")],
  },
  promptEncoder: {
    inputs: [{ name: "input_ids", types: INTEGER, shapes: [["B", "promptContextLength"]] }],
    outputs: [{ name: "last_hidden_state", types: FLOAT, shapes: [["B", "promptContextLength", "H"]] }],
  },
  unet: {
    inputs: [
      { name: "sample", types: FLOAT, shapes: [latent] },
      { name: "timestep", types: [...FLOAT, ...INTEGER], shapes: [[], ["B"]] },
      { name: "encoder_hidden_states", types: FLOAT, shapes: [["B", "promptContextLength", "H"]] },
      { name: "class_labels", types: FLOAT, shapes: [["B", "twoD"]] },
    ],
    outputs: [{ name: "out_sample", types: FLOAT, shapes: [latent] }],
  },
  vaeDecoder: {
    inputs: [{ name: "latent_sample", types: FLOAT, shapes: [latent] }],
    outputs: [{ name: "sample", types: FLOAT, shapes: [["B", 3, "imageSide", "imageSide"]] }],
  },
};

export interface TensorMetadata {
  readonly name: string;
  readonly type: string;
  readonly shape: readonly (number | string)[];
}

function describeSpec(spec: TensorSpec, dims: ContractDims): string {
  const shapes = spec.shapes.map((shape) => `[${shape.map((d) => (typeof d === "number" || d === "B" || d === "H" ? d : `${d}=${dims[d]}`)).join(",")}]`);
  return `${spec.types.join(" or ")} with shape ${shapes.join(" or ")}`;
}

function shapeMatches(actual: readonly (number | string)[], expected: readonly Dim[], dims: ContractDims): boolean {
  if (actual.length !== expected.length) return false;
  return expected.every((dim, i) => {
    const size = actual[i];
    // Symbolic (string) or unknown (≤ 0) model dims are dynamic: any size fits.
    if (typeof size !== "number" || size <= 0 || dim === "B" || dim === "H") return true;
    return size === (typeof dim === "number" ? dim : dims[dim]);
  });
}

/** The names, element types and shapes of a model's graph inputs and outputs. */
export interface ModelSignature {
  readonly inputs: readonly TensorMetadata[];
  readonly outputs: readonly TensorMetadata[];
}

function tensorProblems(kind: "input" | "output", specs: readonly TensorSpec[], actual: readonly TensorMetadata[], where: string, dims: ContractDims): string[] {
  const problems: string[] = [];
  const byName = new Map(actual.map((meta) => [meta.name, meta]));
  for (const spec of specs) {
    const meta = byName.get(spec.name);
    const expected = describeSpec(spec, dims);
    if (!meta) {
      problems.push(`${where}: missing ${kind} "${spec.name}" (expected ${expected}); the model's ${kind}s are ${actual.map((m) => m.name).join(", ") || "none"}`);
    } else if (!(spec.types as readonly string[]).includes(meta.type) || !spec.shapes.some((shape) => shapeMatches(meta.shape, shape, dims))) {
      problems.push(`${where}: ${kind} "${spec.name}" is ${meta.type} [${meta.shape.join(",")}], expected ${expected}`);
    }
  }
  if (kind === "input") {
    const extra = actual.filter((meta) => !specs.some((spec) => spec.name === meta.name));
    if (extra.length) problems.push(`${where}: unexpected input(s) ${extra.map((m) => `"${m.name}"`).join(", ")}; the contract feeds only ${specs.map((s) => s.name).join(", ")}`);
  }
  return problems;
}

/**
 * Every way `signature` breaks docs/model-contract.md for model `key` under the preset's sizes, one
 * sentence each starting with `where`; empty when it conforms. openModel throws on these, and
 * preset-check lists them all.
 */
export function contractProblems(key: ModelKey, signature: ModelSignature, dims: ContractDims, where: string): string[] {
  const spec = MODEL_CONTRACT[key];
  return [...tensorProblems("input", spec.inputs, signature.inputs, where, dims), ...tensorProblems("output", spec.outputs, signature.outputs, where, dims)];
}
