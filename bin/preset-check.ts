// npm run preset:check -- <preset folder or name>: lists every problem of a preset, one line each (exit 1), or a short summary (exit 0).
import { existsSync } from "node:fs";
import path from "node:path";
import { checkPreset, resolvePresetDir } from "../lib/engine/index";
import { HelpRequested, UsageError } from "./lib/args";
import { EXIT_FAILURE, EXIT_OK, runMain } from "./lib/cli";

const USAGE = "usage: npm run preset:check -- <preset folder | name under models/>";

/**
 * A folder as given (its problems, a missing preset.json included, are the report), or a bare
 * name resolved as `grid --preset` resolves it: a preset under models/, else "unknown preset".
 */
function presetFolder(argument: string): string {
  const looksLikePath = existsSync(argument) || path.isAbsolute(argument) || /[\\/]/.test(argument) || argument.startsWith(".");
  return looksLikePath ? path.resolve(argument) : resolvePresetDir(argument);
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
