/*
 * Per-client token buckets: each client may spend up to `burst` requests at once, refilled at
 * `perSecond`. The front server (bin/serve.ts) keeps one set of buckets for reads and one for
 * writes, in memory: with several web processes each holds its own, so a client gets the limit
 * once per process it reaches.
 */

export interface BucketRule {
  /** Requests a full bucket allows at once. */
  readonly burst: number;
  /** Tokens added back per second. */
  readonly perSecond: number;
}

export type Taken = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  at: number;
}

/** Most clients remembered at once; the least recently seen is forgotten first (it starts full again). */
const DEFAULT_MAX_CLIENTS = 20_000;

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly rule: BucketRule,
    private readonly now: () => number = () => performance.now(),
    private readonly maxClients = DEFAULT_MAX_CLIENTS,
  ) {
    if (!(rule.burst >= 1) || !(rule.perSecond > 0)) throw new Error(`a bucket needs burst ≥ 1 and a refill rate > 0, got ${rule.burst}/${rule.perSecond}`);
  }

  take(client: string, cost = 1): Taken {
    const now = this.now();
    const bucket = this.buckets.get(client) ?? { tokens: this.rule.burst, at: now };
    bucket.tokens = Math.min(this.rule.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.rule.perSecond);
    bucket.at = now;
    // Re-inserting keeps the map in least-recently-seen order for eviction.
    this.buckets.delete(client);
    this.buckets.set(client, bucket);
    if (this.buckets.size > this.maxClients) this.buckets.delete(this.buckets.keys().next().value as string);
    if (bucket.tokens >= cost) {
      bucket.tokens -= cost;
      return { allowed: true };
    }
    return { allowed: false, retryAfterSeconds: (cost - bucket.tokens) / this.rule.perSecond };
  }

  get clients(): number {
    return this.buckets.size;
  }
}

/** "BURST/PER_SECOND" (e.g. "300/50"), or "off". */
export function parseBucketRule(text: string): BucketRule | null {
  if (text.trim().toLowerCase() === "off") return null;
  const match = /^\s*(\d+)\s*\/\s*(\d+(?:\.\d+)?)\s*$/.exec(text);
  const rule = match ? { burst: Number(match[1]), perSecond: Number(match[2]) } : null;
  if (!rule || rule.burst < 1 || rule.perSecond <= 0) throw new Error(`must be "BURST/PER_SECOND" with BURST ≥ 1 and PER_SECOND > 0 (e.g. "300/50"), or "off"`);
  return rule;
}
