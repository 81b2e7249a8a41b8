// npm run uncertainty -- --file captions.txt | --images <dir|file>...: rank inputs by uncertainty; see --help.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { openPreset } from "../lib/engine/index";
import { parseUncertaintyArgs, type UncertaintyArgs, UsageError } from "./lib/args";
import { EXIT_FAILURE, EXIT_OK, runMain } from "./lib/cli";
import { captionItems, formatCsv, formatFailures, formatRankingJson, imageItems, rankItems, type RankingItem } from "./lib/ranking";

async function captionFileItems(file: string): Promise<RankingItem[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new UsageError(`--file: cannot read ${file} (${(error as Error).message})`);
  }
  const items = captionItems(text);
  if (items.length === 0) throw new UsageError(`--file: ${file} has no captions (blank lines are skipped)`);
  return items;
}

async function main(args: UncertaintyArgs): Promise<number> {
  const { source } = args;
  const items = source.kind === "captions" ? await captionFileItems(source.file) : await imageItems(source.paths);
  const engine = await openPreset(args.preset ?? "shapes");
  const ranking = await rankItems(engine, items, args.rankBy);
  const output =
    args.format === "csv" ? formatCsv(ranking) : formatRankingJson(ranking, { name: engine.config.name, digest: engine.preset.digest });
  if (args.out === undefined) {
    process.stdout.write(output);
  } else {
    await mkdir(path.dirname(args.out), { recursive: true });
    await writeFile(args.out, output);
  }
  process.stderr.write(formatFailures(ranking, source.kind === "captions" ? "captions" : "images"));
  if (args.out !== undefined) process.stderr.write(`wrote ${args.out}\n`);
  return ranking.ranked.length > 0 ? EXIT_OK : EXIT_FAILURE;
}

runMain(async () => main(parseUncertaintyArgs(process.argv.slice(2))));
