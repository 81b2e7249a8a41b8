/**
 * The onnxruntime execution providers the engine knows, in the order messages list them. The one
 * definition of the names (onnx.ts chooses among them). Dependency-free, so client components can
 * import it without pulling in onnxruntime.
 */
export const PROVIDERS = ["cuda", "webgpu", "cpu"] as const;
export type ProviderName = (typeof PROVIDERS)[number];
