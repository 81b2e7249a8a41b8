// npm run preset:check -- <preset folder or name>: lists every problem of a preset, one line each (exit 1), or a short summary (exit 0).
import { existsSync } from "node:fs";
import path from "node:path";
import { checkPreset, modelsDir } from "../lib/engine/index";
import { HelpRequested, UsageError } from "./lib/args";
import { EXIT_FAILURE, EXIT_OK, runMain } from "./lib/cli";

const USAGE = "usage: npm run preset:check -- <preset folder | name under models/>";

/** A folder as given, or a bare name of a folder under models/ ("shapes"). */
function presetFolder(argument: string): string {
  const named = path.join(modelsDir(), argument);
  return !/[\\/]/.test(argument) && !existsSync(argument) && existsSync(named) ? named : path.resolve(argument);
}

async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) throw new HelpRequested(USAGE);
  if (argv.length !== 1) throw new UsageError(`expected one preset folder, got ${argv.length} arguments`);
  const check = await checkPreset(presetFolder(argv[0]));
  if (check.problems.length) {
    for (const problem of check.problems) process.stdout.write(`${problem}\n`);
    process.stderr.write(`${check.problems.length} problem${check.problems.length === 1 ? "" : "s"} in ${check.dir}\n`);
    return EXIT_FAILURE;
  }
  process.stdout.write(`${check.summary}\n`);
  return EXIT_OK;
}

runMain(() => main(process.argv.slice(2)));
