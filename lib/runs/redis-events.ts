import { Redis } from "ioredis";
import { type EventHub, LocalListeners, type RunListener } from "./events";
import type { ProgressEventData, RunEvent } from "./views";

/*
 * Run events through Redis pub/sub, one channel per run: the worker decoding a run publishes, and
 * every web process with a watcher of that run is subscribed to its channel. Pub/sub keeps no
 * history, which is what watchers need: a (re)connecting watcher gets the stored run as its
 * snapshot first (RunService.subscribe), then the live events.
 */

const channelOf = (runId: string) => `penumbra:run:${runId}`;
const CHANNEL_PREFIX = "penumbra:run:";

export class RedisEventHub implements EventHub {
  private readonly local = new LocalListeners();
  private readonly publisher: Redis;
  private subscriber: Redis | null = null;

  constructor(private readonly url: string) {
    this.publisher = new Redis(url, { lazyConnect: false });
  }

  async publish(runId: string, event: RunEvent): Promise<void> {
    await this.publisher.publish(channelOf(runId), JSON.stringify(event));
  }

  async subscribe(runId: string, listener: RunListener): Promise<() => void> {
    const { first } = this.local.add(runId, listener);
    if (first) await this.connection().subscribe(channelOf(runId));
    return () => {
      if (!this.local.remove(runId, listener).last) return;
      // Unsubscribing is tidying up: a failure only leaves the channel's messages arriving for no listener.
      void this.subscriber?.unsubscribe(channelOf(runId)).catch((error: unknown) => console.error(`penumbra: unsubscribing from run ${runId}'s events failed`, error));
    };
  }

  watched(): string[] {
    return this.local.watched();
  }

  progress(runId: string): ProgressEventData | null {
    return this.local.progress(runId);
  }

  async close(): Promise<void> {
    this.local.clear();
    await Promise.all([this.publisher.quit().catch(() => {}), this.subscriber?.quit().catch(() => {})]);
  }

  /** The subscribing connection (a Redis connection in subscriber mode serves nothing else), opened on first use. */
  private connection(): Redis {
    if (this.subscriber) return this.subscriber;
    const subscriber = new Redis(this.url);
    subscriber.on("message", (channel: string, message: string) => {
      if (!channel.startsWith(CHANNEL_PREFIX)) return;
      this.local.deliver(channel.slice(CHANNEL_PREFIX.length), JSON.parse(message) as RunEvent);
    });
    this.subscriber = subscriber;
    return subscriber;
  }
}
