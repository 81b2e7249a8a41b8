import type { DecodeProgress } from "../../lib/engine/index";

/** The part of a terminal stream the bar needs. */
export interface ProgressStream {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(text: string): unknown;
}

/** The text after the bar, from the units done (`evaluation`), their total and the seconds since the bar started. */
export type ProgressLabel = (done: number, total: number, seconds: number) => string;

const decodingLabel: ProgressLabel = (done, total, seconds) => `decoding  ${done}/${total} UNet evaluations  ${seconds.toFixed(1)} s`;

export interface ProgressBar {
  update(progress: Omit<DecodeProgress, "activeCells">): void;
  /** Erases the bar so later output starts on a clean line. */
  done(): void;
}

/**
 * A one-line bar redrawn in place with "\r". Only on a terminal: in a pipe
 * or a log file the redraws would pile up as noise, so there it does nothing.
 */
export function createProgressBar(stream: ProgressStream, now: () => number = () => performance.now(), label: ProgressLabel = decodingLabel): ProgressBar {
  if (!stream.isTTY) return { update() {}, done() {} };
  const started = now();
  let drawn = false;
  return {
    update({ evaluation, evaluations }) {
      const fraction = evaluations > 0 ? Math.min(1, evaluation / evaluations) : 0;
      const seconds = (now() - started) / 1000;
      const text = label(evaluation, evaluations, seconds);
      // Leave one column free: writing into the last column makes some terminals wrap.
      const barWidth = Math.max(10, Math.min(40, (stream.columns ?? 80) - text.length - 4));
      const filled = Math.round(fraction * barWidth);
      stream.write(`\r[${"█".repeat(filled)}${"░".repeat(barWidth - filled)}] ${text}\x1b[K`);
      drawn = true;
    },
    done() {
      if (drawn) stream.write("\r\x1b[K");
      drawn = false;
    },
  };
}
