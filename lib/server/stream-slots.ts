/*
 * Bounds on open progress streams (server-sent events), per run and per client, in this process:
 * each open stream holds a socket and a listener, and two thousand of them to one run were all
 * served before. A refused stream gets 429; the page's stream reconnects after its backoff.
 */

export interface StreamLimits {
  readonly perRun: number;
  readonly perClient: number;
}

/** Enough for a lecture hall on one run and for a person with a comparison open in a few tabs. */
export const STREAM_LIMITS: StreamLimits = { perRun: 200, perClient: 24 };

export type StreamRefusal = { readonly reason: "run" | "client"; readonly limit: number };

export class StreamSlots {
  private readonly byRun = new Map<string, number>();
  private readonly byClient = new Map<string, number>();

  constructor(private readonly limits: StreamLimits = STREAM_LIMITS) {}

  /** A slot for one stream (release it exactly once when the stream ends), or why there is none. */
  acquire(runId: string, client: string | null): { release: () => void } | StreamRefusal {
    if ((this.byRun.get(runId) ?? 0) >= this.limits.perRun) return { reason: "run", limit: this.limits.perRun };
    if (client !== null && (this.byClient.get(client) ?? 0) >= this.limits.perClient) return { reason: "client", limit: this.limits.perClient };
    bump(this.byRun, runId, 1);
    if (client !== null) bump(this.byClient, client, 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        bump(this.byRun, runId, -1);
        if (client !== null) bump(this.byClient, client, -1);
      },
    };
  }

  open(runId: string): number {
    return this.byRun.get(runId) ?? 0;
  }
}

function bump(counts: Map<string, number>, key: string, by: number) {
  const next = (counts.get(key) ?? 0) + by;
  if (next <= 0) counts.delete(key);
  else counts.set(key, next);
}
