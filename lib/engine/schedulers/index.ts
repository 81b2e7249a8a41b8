// The one way the engine gets a scheduler: from the preset's `scheduler`
// config and a step count, checked here so a bad preset fails with a clear
// message before any model runs.
import { EngineError } from "../errors";
import { DdimScheduler } from "./ddim";
import { DpmSolverPlusPlus2MScheduler } from "./dpmpp2m";
import { SCHEDULER_TYPES } from "./names";
import { PndmScheduler } from "./pndm";
import type { Scheduler, SchedulerConfig } from "./types";

export type {
  BetaSchedule,
  PredictionType,
  Scheduler,
  SchedulerConfig,
  SchedulerType,
  TimestepSpacing,
} from "./types";
export { SCHEDULER_TYPES } from "./names";

const BETA_SCHEDULES = ["scaled_linear", "linear"];
const PREDICTION_TYPES = ["v_prediction", "epsilon"];
const SPACINGS = ["leading", "trailing", "linspace"];

/** A fresh scheduler for one decode of `steps` denoising steps. */
export function createScheduler(config: SchedulerConfig, steps: number): Scheduler {
  validateConfig(config);
  const T = config.trainTimesteps;
  if (!Number.isInteger(steps) || steps < 1 || steps > T) {
    throw new EngineError("invalid_input", `scheduler: steps must be an integer from 1 to ${T}, got ${steps}`);
  }
  switch (config.type) {
    case "pndm":
      return new PndmScheduler(config, steps);
    case "ddim":
      return new DdimScheduler(config, steps);
    case "dpmpp2m":
      return new DpmSolverPlusPlus2MScheduler(config, steps);
  }
}

function validateConfig(config: SchedulerConfig): void {
  oneOf("type", config.type, SCHEDULER_TYPES);
  oneOf("betaSchedule", config.betaSchedule, BETA_SCHEDULES);
  oneOf("predictionType", config.predictionType, PREDICTION_TYPES);
  oneOf("timestepSpacing", config.timestepSpacing, SPACINGS);
  const { trainTimesteps, betaStart, betaEnd, stepsOffset } = config;
  if (!Number.isInteger(trainTimesteps) || trainTimesteps < 2) {
    throw new EngineError(
      "invalid_preset",
      `scheduler: trainTimesteps must be an integer ≥ 2, got ${trainTimesteps}`,
    );
  }
  if (!(betaStart > 0 && betaStart <= betaEnd && betaEnd < 1)) {
    throw new EngineError(
      "invalid_preset",
      `scheduler: need 0 < betaStart ≤ betaEnd < 1, got ${betaStart} and ${betaEnd}`,
    );
  }
  if (!Number.isInteger(stepsOffset) || stepsOffset < 0) {
    throw new EngineError(
      "invalid_preset",
      `scheduler: stepsOffset must be a non-negative integer, got ${stepsOffset}`,
    );
  }
}

function oneOf(field: string, value: unknown, allowed: readonly string[]): void {
  if (typeof value !== "string" || !allowed.includes(value)) {
    throw new EngineError(
      "invalid_preset",
      `scheduler: unknown ${field} ${JSON.stringify(value)} (expected one of ${allowed.join(", ")})`,
    );
  }
}
