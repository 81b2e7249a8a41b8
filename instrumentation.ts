/*
 * Next.js calls register() once when a server starts, and serves no request until it is done
 * (not during `next build`). The run service opens here rather than on the first request that
 * needs it, so what opening does happens at start-up: in the embedded deployment, runs a stopped
 * process left queued or running go back in the queue (or fail with a reason) and temporary files
 * of writes killed mid-way are removed; in the distributed one, unfinished runs are handed to the
 * queue again. docs/deployment.md.
 */
export async function register(): Promise<void> {
  // SQLite, files and the decode thread live in the Node.js runtime; the Edge one has none of them.
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  // The deployment module itself, not lib/runs/index.ts: that one's "server-only" marker is for the bundles of pages and routes.
  const { getRunService } = await import("./lib/runs/deployment");
  try {
    await getRunService();
  } catch (error) {
    // A service that cannot open (a bad setting) must not stop the server: every request answers
    // the fault in words, and the first one tries again (getRunService forgets a failed start).
    console.error("penumbra: the run service did not start; requests will say why, and the first one tries again:", error);
  }
}
