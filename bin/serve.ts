/*
 * `npm start`'s server: the production Next.js app behind the front server (lib/server/front.ts),
 * which names each request's client, spends its rate-limit tokens and bounds how long a request
 * may take to arrive.
 *
 *   tsx bin/serve.ts [--hostname <host>] [--port <port>]   (defaults: $HOSTNAME or every interface, $PORT or 3000)
 */
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import next from "next";
import { frontConfig } from "../lib/config";
import { createFrontServer } from "../lib/server/front";

function option(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

async function main(): Promise<void> {
  const options = frontConfig();
  const hostname = option("hostname") ?? process.env.HOSTNAME ?? "0.0.0.0";
  const port = Number(option("port") ?? process.env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number (0–65535), got ${JSON.stringify(option("port") ?? process.env.PORT)}`);

  const app = next({ dev: false, dir: path.resolve(path.dirname(fileURLToPath(import.meta.url)), ".."), hostname, port });
  await app.prepare();
  const handle = app.getRequestHandler();
  const server = createFrontServer((request, response) => handle(request, response), options);
  server.listen(port, hostname, () => {
    const { port: bound } = server.address() as AddressInfo;
    const limits = [options.reads ? `reads ${options.reads.burst}/${options.reads.perSecond}` : "reads unlimited", options.writes ? `writes ${options.writes.burst}/${options.writes.perSecond}` : "writes unlimited"];
    console.log(`penumbra: serving on http://${hostname}:${bound} (${limits.join(", ")} per client${options.clientHeader ? `, client from ${options.clientHeader}` : ""})`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

main().catch((error: unknown) => {
  console.error(`penumbra: the server did not start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
