import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { CLIENT_HEADER } from "./client-address";
import { createFrontServer, FRONT_DEFAULTS, type FrontOptions } from "./front";

const servers: { close: () => void }[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

async function start(options: Partial<FrontOptions>): Promise<string> {
  // Like a route handler, it reads the whole body before answering.
  const server = createFrontServer(async (request, response) => {
    for await (const _chunk of request);
    response.setHeader("Content-Type", "application/json");
    response.end(JSON.stringify({ client: request.headers[CLIENT_HEADER] }));
  }, { ...FRONT_DEFAULTS, ...options });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  servers.push({
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Writes raw bytes and answers what the server sent back and how long it took to close. */
async function raw(base: string, bytes: string): Promise<{ answer: string; ms: number }> {
  const { port } = new URL(base);
  const socket = connect(Number(port), "127.0.0.1");
  const started = performance.now();
  let answer = "";
  socket.on("data", (chunk) => (answer += chunk.toString()));
  socket.write(bytes);
  await once(socket, "close");
  return { answer, ms: performance.now() - started };
}

describe("the front server", () => {
  it("answers 429 in the API's error shape with Retry-After once a client's reads are spent, and counts writes apart", async () => {
    const base = await start({ reads: { burst: 3, perSecond: 0.1 }, writes: { burst: 1, perSecond: 0.1 } });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await fetch(`${base}/api/health`)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const refused = await fetch(`${base}/api/health`);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(await refused.json()).toEqual({ error: { code: "rate_limited", message: expect.stringMatching(/too many reads from this client: at most 3 at once/) } });
    // Writes have their own bucket; build assets are never counted.
    expect((await fetch(`${base}/api/runs`, { method: "POST" })).status).toBe(200);
    expect((await fetch(`${base}/api/runs`, { method: "POST" })).status).toBe(429);
    expect((await fetch(`${base}/_next/static/chunk.js`)).status).toBe(200);
  });

  it("answers a refused write only once its body has arrived, so the client reads the 429 instead of a reset", async () => {
    const base = await start({ writes: { burst: 1, perSecond: 0.01 } });
    expect((await fetch(`${base}/api/uploads`, { method: "POST", body: "x" })).status).toBe(200);
    const socket = connect(Number(new URL(base).port), "127.0.0.1");
    let answer = "";
    socket.on("data", (chunk) => (answer += chunk.toString()));
    const length = 200_000;
    socket.write(`POST /api/uploads HTTP/1.1\r\nHost: x\r\nContent-Length: ${length}\r\n\r\n${"a".repeat(10)}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Answering now would close the socket under a client still sending.
    expect(answer).toBe("");
    socket.write("a".repeat(length - 10));
    await expect.poll(() => answer, { timeout: 3000 }).toMatch(/^HTTP\/1\.1 429/);
    socket.destroy();
  });

  it("tells handlers the client's address, never one the client claims, unless a proxy header is configured", async () => {
    const direct = await start({});
    expect(await (await fetch(`${direct}/`, { headers: { [CLIENT_HEADER]: "9.9.9.9", "x-forwarded-for": "8.8.8.8" } })).json()).toEqual({ client: "127.0.0.1" });
    const proxied = await start({ clientHeader: "x-forwarded-for", reads: { burst: 1, perSecond: 0.1 } });
    expect(await (await fetch(`${proxied}/`, { headers: { "x-forwarded-for": "8.8.8.8, 203.0.113.5" } })).json()).toEqual({ client: "203.0.113.5" });
    // Behind the proxy each forwarded client has its own bucket.
    expect((await fetch(`${proxied}/`, { headers: { "x-forwarded-for": "203.0.113.5" } })).status).toBe(429);
    expect((await fetch(`${proxied}/`, { headers: { "x-forwarded-for": "203.0.113.6" } })).status).toBe(200);
  });

  it("answers TRACE itself, with 405 in the API's error shape, before Next.js could fail on it", async () => {
    const base = await start({});
    const trace = await raw(base, "TRACE /api/runs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect(trace.answer).toMatch(/^HTTP\/1\.1 405/);
    expect(trace.answer).toMatch(/\r\nAllow: GET, HEAD, OPTIONS, POST, DELETE\r\n/i);
    expect(trace.answer).toContain(`"code":"method_not_allowed"`);
    // Node's parser itself refuses TRACK as a method it does not know.
    expect((await raw(base, "TRACK /api/runs HTTP/1.1\r\nHost: x\r\n\r\n")).answer).toMatch(/^HTTP\/1\.1 400/);
  });

  it("drops a client that sends its headers, or a declared body, too slowly", async () => {
    const base = await start({ headersTimeoutMs: 1000, requestTimeoutMs: 1500 });
    const slowHeaders = await raw(base, "GET / HTTP/1.1\r\nHost: x\r\n");
    expect(slowHeaders.answer).toMatch(/^HTTP\/1\.1 408/);
    expect(slowHeaders.ms).toBeLessThan(4000);
    const shortBody = await raw(base, "POST /api/uploads HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabcd");
    expect(shortBody.answer).toMatch(/^HTTP\/1\.1 408/);
    expect(shortBody.ms).toBeLessThan(4500);
  }, 15_000);
});
