/*
 * Route-handler tests call the exported GET/POST functions with real Request objects against the
 * real service (models/shapes, a temporary data folder), exactly as Next.js would.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect } from "vitest";
import { closeRunService, getRunService } from "@/lib/runs/index";

type Handler = (request: Request, context: { params: Promise<Record<string, string>> }) => Promise<Response> | Response;

/** A fresh data folder and environment for this test file's service; removed after the file's tests. */
export function useTestService(env: Record<string, string> = {}): { dataDir: string } {
  const dataDir = mkdtempSync(path.join(tmpdir(), "penumbra-routes-"));
  Object.assign(process.env, { PENUMBRA_DATA: dataDir, PENUMBRA_IDLE_CANCEL_MS: "60000", ...env });
  afterAll(async () => {
    await closeRunService();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { dataDir };
}

export function call(handler: Handler, url: string, init: RequestInit = {}, params: Record<string, string> = {}): Promise<Response> {
  return Promise.resolve(handler(new Request(new URL(url, "http://penumbra.test"), init), { params: Promise.resolve(params) }));
}

export function postJson(handler: Handler, url: string, body: unknown, params: Record<string, string> = {}): Promise<Response> {
  return call(handler, url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }, params);
}

/** The JSON error of a refused request, checked to have the documented shape and no stack trace. */
export async function errorOf(response: Response): Promise<{ status: number; code: string; message: string }> {
  const text = await response.text();
  expect(text).not.toMatch(/\n\s+at /);
  const body = JSON.parse(text) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(["error"]);
  return { status: response.status, ...body.error };
}

/** Resolves when the run reaches one of `statuses`, using the service's own event stream. */
export async function waitForStatus(id: string, statuses: readonly string[]): Promise<string> {
  let reach: (status: string) => void = () => {};
  const reached = new Promise<string>((resolve) => (reach = resolve));
  const unsubscribe = await (await getRunService()).subscribe(id, (event) => {
    const status = event.type === "snapshot" || event.type === "status" ? event.data.status : null;
    if (status && statuses.includes(status)) reach(status);
  });
  try {
    return await reached;
  } finally {
    unsubscribe();
  }
}
