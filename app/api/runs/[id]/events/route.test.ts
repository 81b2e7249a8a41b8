import { describe, expect, it } from "vitest";
import type { Run } from "@/lib/runs/index";
import { CLIENT_HEADER } from "@/lib/server/client-address";
import { STREAM_LIMITS } from "@/lib/server/stream-slots";
import { POST as createRun } from "../../route";
import { call, errorOf, postJson, useTestService, waitForStatus } from "../../../test-support";
import { GET as getEvents } from "./route";

useTestService();

describe("GET /api/runs/:id/events", () => {
  it("caps open streams per client with a 429 that says why, and frees a slot when a stream closes", async () => {
    const { run } = (await (await postJson(createRun, "/api/runs", { input: { kind: "caption", text: "a grey ring" }, cols: 4, steps: 20 })).json()) as { run: Run };
    const open = async (client: string, signal?: AbortSignal) => call(getEvents, `/api/runs/${run.id}/events`, { headers: { [CLIENT_HEADER]: client }, signal }, { id: run.id });

    const watchers = Array.from({ length: STREAM_LIMITS.perClient }, () => new AbortController());
    const answers = await Promise.all(watchers.map((watcher) => open("198.51.100.1", watcher.signal)));
    expect(answers.map((answer) => answer.status)).toEqual(watchers.map(() => 200));

    const refused = await open("198.51.100.1");
    expect(refused.headers.get("retry-after")).toBe("5");
    expect(await errorOf(refused)).toMatchObject({ status: 429, code: "too_many_streams", message: expect.stringMatching(/this client already has 24 open progress streams/) });
    // Another client is not held back by the first one's streams.
    const other = new AbortController();
    expect((await open("198.51.100.2", other.signal)).status).toBe(200);

    // A watcher that leaves gives its slot back.
    watchers[0].abort();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const again = new AbortController();
    expect((await open("198.51.100.1", again.signal)).status).toBe(200);
    for (const watcher of [...watchers, other, again]) watcher.abort();
    await waitForStatus(run.id, ["done", "failed", "cancelled"]);
  }, 60_000);
});
