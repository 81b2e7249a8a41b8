import { createHash } from "node:crypto";
import { expect, type APIRequestContext } from "@playwright/test";

/* The parts of docs/web-api.md the browser tests read back to check what the pages show. */

export interface ProviderChoice {
  provider: string;
  skipped: { provider: string; reason: string }[];
}

export interface RunCell {
  index: number;
  row: number;
  col: number;
  image: string | null;
}

export interface Run {
  id: string;
  status: "queued" | "running" | "done" | "failed" | "cancelled";
  error: string | null;
  publishedAt: string | null;
  preset: { name: string; digest: string };
  request: {
    input: { kind: "caption"; text: string } | { kind: "image"; upload: string; width: number; height: number; type: string };
    plan: { kind: "geodesic" | "interpolate" | "shell" };
    seed: number;
    cols: number;
    steps: number;
  };
  rows: number;
  cols: number;
  imageSize: { width: number; height: number };
  description: {
    modality: "text" | "image";
    uncertainty: number;
    percentile: number;
    /* Absent on runs stored by versions before the out-of-distribution check. */
    epistemic?: { score: number; percentile: number } | null;
    outOfDistribution?: { flagged: boolean; reasons: string[]; unknownWords: string[] };
  } | null;
  providers: Record<string, ProviderChoice> | null;
  cells: RunCell[];
}

export interface RunRequest {
  input: { kind: "caption"; text: string } | { kind: "image"; upload: string };
  plan?: { kind: "geodesic"; rows?: number; fractions?: number[]; tail?: number } | { kind: "interpolate"; lambdas: number[] } | { kind: "shell"; quantiles: number[] };
  cols?: number;
  seed?: number;
  steps?: number;
  scheduler?: "pndm" | "ddim" | "dpmpp2m";
}

export const SHA256_HEX = /^[0-9a-f]{64}$/;
export const RUN_PATH = /\/runs\/([0-9a-f]{24})$/;
export const COMPARE_PATH = /\/compare\/([0-9a-f]{24})$/;

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

async function json<T>(response: Awaited<ReturnType<APIRequestContext["get"]>>, what: string): Promise<T> {
  expect(response.ok(), `${what}: HTTP ${response.status()} ${await response.text()}`).toBe(true);
  return (await response.json()) as T;
}

/** Creates a link to a run through the API (a run decoded before is reused), for tests whose subject is not the compose form. */
export async function createRun(request: APIRequestContext, body: RunRequest): Promise<Run> {
  return (await createRunWithKey(request, body)).run;
}

/** createRun, with the creator key that publishes the link. */
export async function createRunWithKey(request: APIRequestContext, body: RunRequest): Promise<{ run: Run; creatorKey: string }> {
  return json<{ run: Run; creatorKey: string }>(await request.post("/api/runs", { data: body }), "POST /api/runs");
}

export async function getRun(request: APIRequestContext, id: string): Promise<Run> {
  return (await json<{ run: Run }>(await request.get(`/api/runs/${id}`), `GET /api/runs/${id}`)).run;
}

export async function getComparison(request: APIRequestContext, id: string): Promise<{ id: string; runs: Run[] }> {
  return (await json<{ comparison: { id: string; runs: Run[] } }>(await request.get(`/api/compare/${id}`), `GET /api/compare/${id}`)).comparison;
}

/** The bytes at a same-origin path, failing the test on anything but 200 or on a header that differs from `headers`. */
export async function fetchBytes(request: APIRequestContext, path: string, headers: Record<string, string | RegExp> = {}): Promise<Buffer> {
  const response = await request.get(path);
  expect(response.status(), `GET ${path}`).toBe(200);
  for (const [name, expected] of Object.entries(headers)) {
    const actual = response.headers()[name];
    if (typeof expected === "string") expect(actual, `${name} of ${path}`).toBe(expected);
    else expect(actual, `${name} of ${path}`).toMatch(expected);
  }
  return response.body();
}
