/**
 * The engine's second public entry point: its enumerations, plan helpers and request ranges, dependency-free, for
 * code that must not load onnxruntime: the CLI's argument parser and the pages' client components. Every
 * name here is also exported by lib/engine/index.ts.
 */
export { DEFAULT_PLAN_KIND, PLAN_KINDS, type PlanKind, planLevels, type PlanUnion } from "./plan-kinds";
export { PROVIDERS, type ProviderName } from "./provider-names";
export { describeRange, FRACTION_RANGE, GUIDANCE_SCALE_RANGE, inRange, LAMBDA_RANGE, type NumberRange, QUANTILE_RANGE, SEED_RANGE } from "./request-ranges";
export { PNDM_MIN_STEPS, schedulerAdvice } from "./schedulers/advice";
export { SCHEDULER_TYPES } from "./schedulers/names";
export type { SchedulerType } from "./schedulers/types";
