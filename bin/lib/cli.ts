import { EngineError } from "../../lib/engine/index";
import { HelpRequested, UsageError } from "./args";

/*
 * How the commands end: one line "error: <message>" on stderr, never a stack,
 * and an exit code a script can branch on.
 */

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** 128 + SIGINT, the shell's code for a command stopped with Ctrl-C. */
export const EXIT_INTERRUPTED = 130;

export interface ErrorOutput {
  write(text: string): unknown;
}

/** Prints what `error` means for the user and returns the exit code. */
export function reportError(error: unknown, stdout: ErrorOutput, stderr: ErrorOutput): number {
  if (error instanceof HelpRequested) {
    stdout.write(`${error.message}\n`);
    return EXIT_OK;
  }
  if (error instanceof UsageError) {
    stderr.write(`error: ${error.message}\nrun with --help for usage\n`);
    return EXIT_USAGE;
  }
  const message = error instanceof Error ? error.message : String(error);
  stderr.write(`error: ${message}\n`);
  return error instanceof EngineError && error.code === "cancelled" ? EXIT_INTERRUPTED : EXIT_FAILURE;
}

/**
 * Runs a command's main and exits with its code, or with the code of what it threw.
 * `npm run` starts scripts in the package folder; INIT_CWD is where the user typed the
 * command, so relative paths in arguments mean what they expect.
 */
export function runMain(main: () => Promise<number>): void {
  if (process.env.INIT_CWD) process.chdir(process.env.INIT_CWD);
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.exitCode = reportError(error, process.stdout, process.stderr);
    },
  );
}
