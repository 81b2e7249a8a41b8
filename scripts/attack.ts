/*
 * npm run attack — a bounded loopback attack on the production server: hostile input, floods,
 * slow clients, stream hoarding, guessed ids and kill -9 crashes. Every request goes to 127.0.0.1.
 *
 * Builds the app (unless --skip-build), starts `npm start`'s server (bin/serve.ts, with its default
 * rate limits) on a free port with a throwaway data folder, and replays each case. Each case plays
 * one client: it names itself in X-Forwarded-For, which the server is told to trust here, so one
 * case's spent tokens do not refuse the next. A request is a hang when the server neither answers
 * nor closes the connection within its deadline.
 *
 * Prints one row per case: requests tried, answers by class, connections the server closed, hangs
 * and unexpected answers (what the case's rule did not allow), then the server's RSS before and
 * after; "open findings" are cases that show a known open defect. Exits 1 on any unexpected 5xx
 * or hang.
 *
 *   tsx scripts/attack.ts [--skip-build] [--json FILE]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import sharp from "sharp";
import { runId } from "../lib/runs/ids";
import { jpegWithHeader } from "../lib/runs/lying-images";
import type { Run } from "../lib/runs/views";
import { table } from "./bench-stats";
import { buildUnlessSkipped, freePort, type Started, startWeb, waitUntilServing } from "./lib/processes";

const argv = process.argv.slice(2);
const JSON_OUT = argv.includes("--json") ? argv[argv.indexOf("--json") + 1] : undefined;
/** Most time an ordinary request may take before it counts as a hang. */
const DEADLINE_MS = 20_000;
/** The server bounds a request's arrival to 60 s (lib/server/front.ts); a slow body may take that long. */
const SLOW_DEADLINE_MS = 75_000;
const TINY_RUN = { plan: { kind: "geodesic", rows: 2 }, cols: 2, steps: 2 };

/** What became of one request. */
type Outcome = { readonly status: number; readonly headers: Record<string, string>; readonly body: string } | { readonly status: "closed" } | { readonly status: "hang" };

interface CaseResult {
  readonly name: string;
  readonly outcomes: Outcome[];
  /** Outcomes the case's rule does not allow, in words. */
  readonly unexpected: string[];
  /** A known open defect this case shows, in words, or null. */
  readonly finding: string | null;
}

interface Attack {
  readonly name: string;
  /** Plays the case as one client; answers its outcomes, what was unexpected and any finding. */
  run(client: Client): Promise<Omit<CaseResult, "name">>;
}

class Client {
  constructor(
    readonly base: string,
    readonly address: string,
  ) {}

  /** One request over a fresh connection: any method, raw body bytes, a deadline. */
  send(method: string, urlPath: string, options: { headers?: Record<string, string>; body?: Buffer | string; deadlineMs?: number } = {}): Promise<Outcome> {
    const { port } = new URL(this.base);
    return new Promise((resolve) => {
      const request = httpRequest({ host: "127.0.0.1", port, method, path: urlPath, agent: false, headers: { "x-forwarded-for": this.address, ...options.headers } }, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          clearTimeout(timer);
          resolve({ status: response.statusCode ?? 0, headers: response.headers as Record<string, string>, body: Buffer.concat(chunks).toString("utf8") });
        });
        response.on("error", () => resolve({ status: "closed" }));
      });
      const timer = setTimeout(() => {
        request.destroy();
        resolve({ status: "hang" });
      }, options.deadlineMs ?? DEADLINE_MS);
      request.on("error", () => {
        clearTimeout(timer);
        resolve({ status: "closed" });
      });
      request.end(options.body);
    });
  }

  json(method: string, urlPath: string, body: unknown, headers: Record<string, string> = {}): Promise<Outcome> {
    return this.send(method, urlPath, { headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  }

  /** Raw bytes on a socket, for requests no client library sends; the outcome once the server closes or the deadline passes. */
  raw(bytes: string, deadlineMs: number): Promise<Outcome> {
    const { port } = new URL(this.base);
    return new Promise((resolve) => {
      const socket = connect(Number(port), "127.0.0.1");
      let answer = "";
      const timer = setTimeout(() => {
        socket.destroy();
        resolve({ status: "hang" });
      }, deadlineMs);
      socket.on("data", (chunk) => (answer += chunk.toString("latin1")));
      socket.on("error", () => undefined);
      socket.on("close", () => {
        clearTimeout(timer);
        const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1];
        resolve(status ? { status: Number(status), headers: {}, body: answer } : { status: "closed" });
      });
      socket.write(bytes);
    });
  }
}

const isAnswer = (outcome: Outcome): outcome is Extract<Outcome, { headers: object }> => typeof outcome.status === "number";
const is4xx = (outcome: Outcome) => isAnswer(outcome) && outcome.status >= 400 && outcome.status < 500;
const describe = (outcome: Outcome) => (isAnswer(outcome) ? `${outcome.status} ${outcome.body.slice(0, 120).replace(/\s+/g, " ")}` : outcome.status);
const jsonError = (outcome: Outcome) => isAnswer(outcome) && /^application\/json/.test(outcome.headers["content-type"] ?? "") && /"error":\{"code"/.test(outcome.body);

/** Each outcome must satisfy `allowed`; the ones that do not are listed with `what` they were. */
function judge(outcomes: { what: string; outcome: Outcome }[], allowed: (outcome: Outcome) => boolean): Omit<CaseResult, "name"> {
  return { outcomes: outcomes.map((o) => o.outcome), unexpected: outcomes.filter((o) => !allowed(o.outcome)).map((o) => `${o.what}: ${describe(o.outcome)}`), finding: null };
}

async function pngBytes(seed: number, side: number): Promise<Buffer> {
  // Noise does not compress, so each upload is about `side`² × 3 bytes and each is distinct.
  const pixels = Buffer.alloc(side * side * 3);
  let state = seed * 2654435761;
  for (let i = 0; i < pixels.length; i++) pixels[i] = (state = (state * 1103515245 + 12345) >>> 0) >>> 24;
  return sharp(pixels, { raw: { width: side, height: side, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
}

async function waitForRun(client: Client, id: string, timeoutMs = 120_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const answer = await client.send("GET", `/api/runs/${id}`);
    const status = isAnswer(answer) && answer.status === 200 ? (JSON.parse(answer.body) as { run: { status: string } }).run.status : "unknown";
    if (!["queued", "running", "unknown"].includes(status) || Date.now() > until) return status;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

const ATTACKS: Attack[] = [
  {
    name: "gallery pages past any number",
    run: async (c) => judge([{ what: "page=1e20", outcome: await c.send("GET", "/gallery?page=1e20") }, { what: "page=2^53+1", outcome: await c.send("GET", "/gallery?page=9007199254740993") }, { what: "api page=1e20", outcome: await c.send("GET", "/api/gallery?page=1e20") }], is4xx),
  },
  {
    name: "methods a route does not take",
    run: async (c) => {
      const tried = [];
      for (const method of ["TRACE", "PUT", "PATCH", "DELETE"]) tried.push({ what: `${method} /api/runs`, outcome: await c.send(method, "/api/runs") });
      tried.push({ what: "PUT /api/health", outcome: await c.send("PUT", "/api/health") });
      return judge(tried, (o) => isAnswer(o) && o.status === 405 && jsonError(o) && Boolean(o.headers.allow));
    },
  },
  {
    name: "ids that climb out of their route",
    run: async (c) =>
      judge(
        [
          { what: "/api/runs/..%2F..%2Fetc", outcome: await c.send("GET", "/api/runs/..%2F..%2Fetc%2Fpasswd") },
          { what: "/api/images/../x", outcome: await c.send("GET", "/api/images/..%2Fx") },
          { what: "/api/nothing-here", outcome: await c.send("GET", "/api/nothing-here") },
        ],
        (o) => is4xx(o) && jsonError(o),
      ),
  },
  {
    name: "bodies that are not plain UTF-8 JSON",
    run: async (c) => {
      const run = JSON.stringify({ input: { kind: "caption", text: "a red shape" }, ...TINY_RUN });
      return judge(
        [
          { what: "application/jsonp", outcome: await c.send("POST", "/api/runs", { headers: { "content-type": "application/jsonp" }, body: run }) },
          { what: "charset=utf-16", outcome: await c.send("POST", "/api/runs", { headers: { "content-type": "application/json; charset=utf-16" }, body: run }) },
          { what: "invalid UTF-8", outcome: await c.send("POST", "/api/runs", { headers: { "content-type": "application/json" }, body: Buffer.concat([Buffer.from('{"input":{"kind":"caption","text":"a red '), Buffer.from([0xc3, 0x28]), Buffer.from('"}}')]) }) },
          { what: "a BOM", outcome: await c.send("POST", "/api/runs", { headers: { "content-type": "application/json" }, body: `\ufeff${run}` }) },
          { what: "not JSON", outcome: await c.send("POST", "/api/runs", { headers: { "content-type": "application/json" }, body: "{" }) },
        ],
        (o) => is4xx(o) && jsonError(o),
      );
    },
  },
  {
    name: "captions with nothing visible",
    run: async (c) => {
      const tried = [];
      for (const text of ["\u200b\u200b", "\u0000", "\u200d\ufeff\u2060", "   "]) tried.push({ what: JSON.stringify(text), outcome: await c.json("POST", "/api/runs", { input: { kind: "caption", text }, ...TINY_RUN }) });
      return judge(tried, (o) => is4xx(o) && jsonError(o));
    },
  },
  {
    name: "numbers past any sense",
    run: async (c) => {
      const caption = { kind: "caption", text: "a red shape" };
      const tried = [
        { what: "guidanceScale 1e308", outcome: await c.json("POST", "/api/runs", { input: caption, ...TINY_RUN, guidanceScale: 1e308 }) },
        { what: "lambdas [1e308]", outcome: await c.json("POST", "/api/runs", { input: caption, plan: { kind: "interpolate", lambdas: [1e308] }, cols: 1, steps: 2 }) },
        { what: "noiseLevel 1e9", outcome: await c.json("POST", "/api/runs", { input: caption, ...TINY_RUN, noiseLevel: 1e9 }) },
        { what: "seed 1e300", outcome: await c.json("POST", "/api/runs", { input: caption, ...TINY_RUN, seed: 1e300 }) },
        { what: "steps 1e6", outcome: await c.json("POST", "/api/runs", { input: caption, ...TINY_RUN, steps: 1e6 }) },
      ];
      return judge(tried, (o) => is4xx(o) && jsonError(o));
    },
  },
  {
    name: "an image whose header lies",
    run: async (c) => {
      const upload = (bytes: Buffer, type: string) => c.send("POST", "/api/uploads", { headers: { "content-type": type }, body: bytes });
      return judge(
        [
          { what: "293-byte JPEG claiming 4000×4000", outcome: await upload(await jpegWithHeader(4000, 4000), "image/jpeg") },
          { what: "text named PNG", outcome: await upload(Buffer.from("not an image at all"), "image/png") },
        ],
        (o) => is4xx(o) && jsonError(o),
      );
    },
  },
  {
    name: "1000 health checks at once",
    run: async (c) => {
      const outcomes = await Promise.all(Array.from({ length: 1000 }, () => c.send("GET", "/api/health")));
      const result = judge(
        outcomes.map((outcome) => ({ what: "health", outcome })),
        (o) => isAnswer(o) && (o.status === 200 || (o.status === 429 && Boolean(o.headers["retry-after"]))),
      );
      const limited = outcomes.filter((o) => isAnswer(o) && o.status === 429).length;
      return { ...result, finding: limited === 0 ? "no health check was rate limited" : null };
    },
  },
  {
    name: "500 guessed run ids",
    run: async (c) => {
      // Half of them 12 digits long (the stored runs' ids and migrated links), half 24 (links).
      const guess = (i: number) => (0xa00000000000 + i * 7919).toString(16).repeat(i % 2 === 0 ? 1 : 2);
      const outcomes = await Promise.all(Array.from({ length: 500 }, (_, i) => c.send("GET", `/api/runs/${guess(i)}`)));
      return judge(
        outcomes.map((outcome) => ({ what: "guess", outcome })),
        (o) => isAnswer(o) && (o.status === 404 || o.status === 429),
      );
    },
  },
  {
    name: "100 distinct 1 MB uploads",
    run: async (c) => {
      const outcomes: Outcome[] = [];
      for (let i = 0; i < 100; i += 10) {
        const batch = await Promise.all(Array.from({ length: 10 }, async (_, j) => c.send("POST", "/api/uploads", { headers: { "content-type": "image/png" }, body: await pngBytes(i + j + 1, 580) })));
        outcomes.push(...batch);
      }
      const stored = outcomes.filter((o) => isAnswer(o) && o.status < 300).length;
      const result = judge(
        outcomes.map((outcome) => ({ what: "upload", outcome })),
        (o) => isAnswer(o) && (o.status < 300 || o.status === 429 || o.status === 413),
      );
      return { ...result, finding: stored === 100 ? "all 100 uploads were stored: no upload quota" : null };
    },
  },
  {
    name: "300 progress streams to one run",
    run: async (c) => {
      const created = await c.json("POST", "/api/runs", { input: { kind: "caption", text: "a green ring at the top" }, cols: 4, steps: 20 });
      if (!isAnswer(created) || created.status >= 300) return { outcomes: [created], unexpected: [`creating the run: ${describe(created)}`], finding: null };
      const id = (JSON.parse(created.body) as { run: { id: string } }).run.id;
      const { port } = new URL(c.base);
      // Each stream is held open until its headers arrive, then left open while the others connect.
      const open: { destroy: () => void }[] = [];
      const outcomes = await Promise.all(
        Array.from(
          { length: 300 },
          () =>
            new Promise<Outcome>((resolve) => {
              const request = httpRequest({ host: "127.0.0.1", port, path: `/api/runs/${id}/events`, agent: false, headers: { "x-forwarded-for": c.address } }, (response) => {
                open.push(response);
                resolve({ status: response.statusCode ?? 0, headers: response.headers as Record<string, string>, body: "" });
              });
              request.on("error", () => resolve({ status: "closed" }));
              setTimeout(() => resolve({ status: "hang" }), DEADLINE_MS);
              request.end();
            }),
        ),
      );
      for (const stream of open) stream.destroy();
      const served = outcomes.filter((o) => isAnswer(o) && o.status === 200).length;
      const result = judge(
        outcomes.map((outcome) => ({ what: "stream", outcome })),
        (o) => isAnswer(o) && (o.status === 200 || o.status === 429),
      );
      return { ...result, finding: served === 300 ? "all 300 streams were served: no stream cap" : null };
    },
  },
  {
    name: "slow headers, and a body never sent",
    run: async (c) => {
      const [headers, body] = await Promise.all([
        c.raw("GET /api/health HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: " + c.address + "\r\n", SLOW_DEADLINE_MS),
        c.raw(`POST /api/uploads HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: ${c.address}\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\nabcd`, SLOW_DEADLINE_MS),
      ]);
      // The server must end both: a 408, or closing the connection.
      return judge(
        [
          { what: "unfinished headers", outcome: headers },
          { what: "4 of 1000 body bytes", outcome: body },
        ],
        (o) => o.status === "closed" || (isAnswer(o) && o.status === 408),
      );
    },
  },
  {
    name: "security headers",
    run: async (c) => {
      const created = await c.json("POST", "/api/runs", { input: { kind: "caption", text: "a blue ring" }, ...TINY_RUN });
      const id = isAnswer(created) ? (JSON.parse(created.body) as { run?: { id: string } }).run?.id : undefined;
      const tried = [{ what: "page /", outcome: await c.send("GET", "/") }, { what: "/api/health", outcome: await c.send("GET", "/api/health") }, { what: "/icon.svg", outcome: await c.send("GET", "/icon.svg") }];
      if (id && (await waitForRun(c, id)) === "done") {
        const run = await c.send("GET", `/api/runs/${id}`);
        const image = isAnswer(run) ? (JSON.parse(run.body) as { run: { cells: { image: string }[] } }).run.cells[0].image : "";
        tried.push({ what: "a cell image", outcome: await c.send("GET", `/api/images/${image}`) });
      }
      return judge(tried, (o) => isAnswer(o) && o.status === 200 && o.headers["x-content-type-options"] === "nosniff" && o.headers["x-frame-options"] === "DENY" && Boolean(o.headers["referrer-policy"]));
    },
  },
  {
    name: "an unlisted run found by guessing its caption",
    run: async (c) => {
      const request = { input: { kind: "caption", text: "a small yellow square at the top" }, ...TINY_RUN };
      const creator = new Client(c.base, "198.51.100.200");
      const mine = await creator.json("POST", "/api/runs", request);
      const guess = await c.json("POST", "/api/runs", request);
      const answer = (o: Outcome) => (isAnswer(o) ? (JSON.parse(o.body) as { run?: Pick<Run, "id" | "preset" | "request"> }).run : undefined);
      const [myRun, guessedRun] = [answer(mine), answer(guess)];
      const tried: { what: string; outcome: Outcome }[] = [
        { what: "creator", outcome: mine },
        { what: "guesser", outcome: guess },
      ];
      // The guesser knows the normalized request (its own answer) and the preset's digest, so it can compute the id the run is stored under.
      const derived = guessedRun ? runId(guessedRun.preset.digest, guessedRun.request) : null;
      const atDerived = derived ? await c.send("GET", `/api/runs/${derived}`) : null;
      // Publishing the creator's link takes the creator's key; the guesser has only its own.
      const keyless = myRun ? await c.send("POST", `/api/runs/${myRun.id}/publish`) : null;
      if (atDerived) tried.push({ what: "the derived id", outcome: atDerived });
      if (keyless) tried.push({ what: "publishing the creator's link without its key", outcome: keyless });
      const result = judge(tried, (o) => isAnswer(o) && (o.status < 300 || o.status === 404 || o.status === 403 || o.status === 409));
      const problems = [
        myRun && guessedRun && myRun.id === guessedRun.id ? "the guesser got the creator's link" : null,
        atDerived && isAnswer(atDerived) && atDerived.status < 300 ? "the id derived from the request opens the run" : null,
        keyless && isAnswer(keyless) && keyless.status !== 403 ? `publishing without the creator key answered ${keyless.status}` : null,
      ].filter((problem) => problem !== null);
      return { ...result, finding: problems.length ? problems.join("; ") : null };
    },
  },
];

/** Resident memory of the server's whole process group (tsx runs the server in a child), in MiB. */
function groupRssMiB(pgid: number): number {
  let pages = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) === pgid) pages += Number(fields[21]);
    } catch {
      // The process ended while it was read.
    }
  }
  return (pages * 4096) / 2 ** 20;
}

/** kill -9 the server mid-run, start it again on the same data, and check the run still finishes. */
async function crashCycles(start: () => Started, base: string, cycles: number): Promise<CaseResult & { server: Started }> {
  let server = start();
  await waitUntilServing(`${base}/api/health`, server.process);
  const client = new Client(base, "198.51.100.250");
  const outcomes: Outcome[] = [];
  const unexpected: string[] = [];
  for (let i = 0; i < cycles; i++) {
    const created = await client.json("POST", "/api/runs", { input: { kind: "caption", text: `a red shape at the top ${["left", "right", "bottom"][i % 3]}` }, cols: 4, steps: 20, seed: 100 + i });
    outcomes.push(created);
    const id = isAnswer(created) ? (JSON.parse(created.body) as { run?: { id: string } }).run?.id : undefined;
    if (!id) {
      unexpected.push(`creating run ${i}: ${describe(created)}`);
      continue;
    }
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await server.stop("SIGKILL");
    server = start();
    await waitUntilServing(`${base}/api/health`, server.process);
    // Opening its stream keeps the recovered run from being cancelled as unwatched.
    const status = await waitForRun(client, id);
    if (status !== "done") unexpected.push(`run ${id} after kill -9 ended ${status}`);
  }
  return { name: `kill -9 mid-run, ${cycles} times`, outcomes, unexpected, finding: null, server };
}

async function main(): Promise<void> {
  buildUnlessSkipped();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(path.join(tmpdir(), "penumbra-attack-"));
  // The server's own default limits, and every case a client of its own behind a trusted proxy.
  const env = { PENUMBRA_DATA: dataDir, PENUMBRA_READ_LIMIT: "300/50", PENUMBRA_WRITE_LIMIT: "30/0.5", PENUMBRA_CLIENT_ADDRESS_HEADER: "x-forwarded-for", PENUMBRA_CLIENT_SHARE: "0.5", PENUMBRA_IDLE_CANCEL_MS: "120000" };
  let server = startWeb(port, env);
  const results: CaseResult[] = [];
  let rssBefore = 0;
  try {
    await waitUntilServing(`${base}/api/health`, server.process);
    rssBefore = groupRssMiB(server.process.pid!);
    for (const [i, attack] of ATTACKS.entries()) {
      const started = performance.now();
      const result = await attack.run(new Client(base, `198.51.100.${i + 1}`));
      results.push({ name: attack.name, ...result });
      console.error(`${attack.name}: ${result.outcomes.length} requests, ${result.unexpected.length} unexpected, ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
    const rssAfter = groupRssMiB(server.process.pid!);
    await server.stop();
    const crashes = await crashCycles(() => startWeb(port, env), base, 3);
    server = crashes.server;
    results.push(crashes);

    const count = (r: CaseResult, test: (o: Outcome) => boolean) => String(r.outcomes.filter(test).length);
    const status = (o: Outcome) => (isAnswer(o) ? o.status : 0);
    console.log(
      table(
        ["case", "tried", "2xx", "4xx", "5xx", "closed", "hangs", "unexpected", "open finding"],
        results.map((r) => [
          r.name,
          String(r.outcomes.length),
          count(r, (o) => status(o) >= 200 && status(o) < 300),
          count(r, (o) => status(o) >= 400 && status(o) < 500),
          count(r, (o) => status(o) >= 500),
          count(r, (o) => o.status === "closed"),
          count(r, (o) => o.status === "hang"),
          String(r.unexpected.length),
          r.finding ?? "",
        ]),
      ),
    );
    const unexpected5xx = results.reduce((n, r) => n + r.outcomes.filter((o) => status(o) >= 500).length, 0);
    const hangs = results.reduce((n, r) => n + r.outcomes.filter((o) => o.status === "hang").length, 0);
    const tried = results.reduce((n, r) => n + r.outcomes.length, 0);
    console.log(`\n${tried} requests; ${unexpected5xx} 5xx; ${hangs} hangs; server RSS ${rssBefore.toFixed(0)} MiB before the cases, ${rssAfter.toFixed(0)} MiB after (before the crash cycles)`);
    for (const r of results) for (const line of r.unexpected.slice(0, 5)) console.log(`unexpected · ${r.name} · ${line}`);
    const findings = results.filter((r) => r.finding);
    console.log(findings.length ? `open findings: ${findings.map((r) => `${r.name}: ${r.finding}`).join("; ")}` : "open findings: none");
    if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ results: results.map(({ name, unexpected, finding, outcomes }) => ({ name, tried: outcomes.length, unexpected, finding })), rssBefore, rssAfter }, null, 2));
    if (unexpected5xx > 0 || hangs > 0) process.exitCode = 1;
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
