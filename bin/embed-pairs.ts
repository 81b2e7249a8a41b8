// npm run embed-pairs -- --preset <name|dir> --captions <captions.json> --images <dir> --out <pairs.npz>:
// embed COCO-style image–caption pairs for the adapter trainer, resumably; see --help.
import { EXIT_INTERRUPTED, EXIT_OK, runMain } from "./lib/cli";
import { embedPairs, type EmbedPairsProgress, formatEmbedPairsSummary } from "./lib/embed-pairs";
import { parseEmbedPairsArgs } from "./lib/embed-pairs-args";
import { createProgressBar } from "./lib/progress";

runMain(async () => {
  const args = parseEmbedPairsArgs(process.argv.slice(2));
  // The first Ctrl-C finishes the batch in progress and commits the checkpoint; the handler is
  // gone after it, so a second Ctrl-C kills at once (the last commit still stands).
  const controller = new AbortController();
  const stop = () => {
    process.stderr.write("\nstopping after the current batch (Ctrl-C again to quit at once)…\n");
    controller.abort();
  };
  process.once("SIGINT", stop);
  const progress = createProgressBar(process.stderr, undefined, (done, total, seconds) => `embedding  ${done}/${total} images  ${seconds.toFixed(1)} s`);
  const onProgress = ({ imagesDone, images, batch, batches }: EmbedPairsProgress) => progress.update({ evaluation: imagesDone, evaluations: images, batch, batches });
  const result = await embedPairs({ ...args, signal: controller.signal, onProgress }).finally(() => {
    progress.done();
    process.off("SIGINT", stop);
  });
  const summary = formatEmbedPairsSummary(result);
  if (result.status === "complete") {
    process.stdout.write(summary);
    return EXIT_OK;
  }
  process.stderr.write(summary);
  return EXIT_INTERRUPTED;
});
