/*
 * Every route under app/api answers every method Next.js routes: the ones docs/web-api.md lists
 * for it, and 405 in the API's error shape with an Allow header for the rest (Next.js's own 405
 * has neither). The docs' endpoint table is the list of what each route implements.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ROUTE_METHODS, type RouteMethod } from "./respond";
import { call, errorOf } from "./test-support";

const API_DIR = path.dirname(new URL(import.meta.url).pathname);
const CATCH_ALL = "[...path]";

/** `runs/[id]/publish/route.ts` as `/api/runs/:id/publish`, the docs' spelling. */
const documentedPath = (file: string) => `/api/${path.dirname(file)}`.replace(/\/\.$/, "").replace(/\[(\w+)\]/g, ":$1");

const routeFiles = (readdirSync(API_DIR, { recursive: true }) as string[]).filter((file) => path.basename(file) === "route.ts" && !file.includes(CATCH_ALL)).sort();

/** The methods docs/web-api.md's endpoint table lists for each path. */
function documentedMethods(): Map<string, Set<string>> {
  const docs = readFileSync(path.join(API_DIR, "../../docs/web-api.md"), "utf8");
  const methods = new Map<string, Set<string>>();
  for (const [, method, route] of docs.matchAll(/^\| `([A-Z]+) (\/api\/\S+)` \|/gm)) {
    methods.set(route, (methods.get(route) ?? new Set()).add(method));
  }
  return methods;
}

describe("every API route's methods", () => {
  const documented = documentedMethods();

  it("are the docs' endpoints, one route file each", () => {
    expect(routeFiles.map(documentedPath).sort()).toEqual([...documented.keys()].sort());
  });

  it.each(routeFiles)("%s answers the methods it does not implement with 405, JSON and Allow", async (file) => {
    const route = (await import(path.join(API_DIR, file))) as Record<RouteMethod, (request: Request, context: unknown) => Promise<Response> | Response>;
    // Exporting every method keeps Next.js's bodiless 405 from answering any of them.
    for (const method of ROUTE_METHODS) expect(typeof route[method], `${file} exports ${method}`).toBe("function");
    const implemented = documented.get(documentedPath(file))!;
    const allow = [...implemented, ...(implemented.has("GET") ? ["HEAD"] : []), "OPTIONS"].sort().join(", ");
    const url = documentedPath(file).replace(/:\w+/g, "000000000000");

    const options = await call(route.OPTIONS, url, { method: "OPTIONS" });
    expect(options.status).toBe(204);
    expect(options.headers.get("allow")).toBe(allow);
    if (implemented.has("GET")) expect(route.HEAD).toBe(route.GET);

    const refused = ROUTE_METHODS.filter((method) => !allow.split(", ").includes(method));
    expect(refused.length).toBeGreaterThan(0);
    for (const method of refused) {
      const response = await call(route[method], url, { method });
      expect(response.status, `${method} ${url}`).toBe(405);
      expect(response.headers.get("allow")).toBe(allow);
      expect(response.headers.get("content-type")).toMatch(/^application\/json/);
      expect(await errorOf(response)).toMatchObject({ code: "method_not_allowed", message: `${method} is not allowed on ${url}; allowed: ${allow}` });
    }
  });

  it("answer paths no route claims with the API's JSON 404, for every method", async () => {
    const route = (await import(path.join(API_DIR, CATCH_ALL, "route.ts"))) as Record<RouteMethod, (request: Request) => Response>;
    for (const method of ROUTE_METHODS) {
      const response = await call(route[method], "/api/runs/000000000000/nope", { method });
      expect(response.headers.get("content-type"), method).toMatch(/^application\/json/);
      expect(await errorOf(response)).toEqual({ status: 404, code: "not_found", message: "there is no API endpoint at /api/runs/000000000000/nope; docs/web-api.md lists the endpoints" });
    }
  });

  it("cannot be asked TRACE, CONNECT or TRACK: Node's Request refuses to carry them, so no handler ever sees one", () => {
    // If this starts to pass a method through, the handlers above must answer it too.
    for (const method of ["TRACE", "CONNECT", "TRACK"]) expect(() => new Request("http://penumbra.test/api/runs", { method }), method).toThrow(/unsupported/);
  });
});
