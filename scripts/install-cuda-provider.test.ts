import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CUDA_PROVIDER = path.join(REPO_ROOT, "node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so");

interface Outcome {
  readonly code: number;
  readonly stderr: string;
}

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: REPO_ROOT, env, timeout: 30_000 }, (error, _stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stderr }));
  });
}

/** A proxy that records the first line of every connection and refuses it, so nothing is downloaded. */
async function refusingProxy(): Promise<{ url: string; requests: string[]; close: () => void }> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once("data", (data) => {
      requests.push(data.toString().split("\r\n")[0]);
      socket.end("HTTP/1.1 403 Forbidden\r\n\r\n");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

/** The postinstall as `npm ci` runs it: as the project's own script, through a proxy that refuses everything. */
async function postinstall(install: string | undefined) {
  const proxy = await refusingProxy();
  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      npm_package_json: path.join(REPO_ROOT, "package.json"),
      npm_config_local_prefix: REPO_ROOT,
      // onnxruntime-node's script sends its downloads through global-agent, which reads this.
      GLOBAL_AGENT_HTTPS_PROXY: proxy.url,
      ONNXRUNTIME_NODE_INSTALL: install,
    };
    if (install === undefined) delete env.ONNXRUNTIME_NODE_INSTALL;
    const outcome = await run(process.execPath, ["scripts/install-cuda-provider.mjs"], env);
    return { ...outcome, requests: proxy.requests };
  } finally {
    proxy.close();
  }
}

describe("npm ci", () => {
  it("reads the project's npm config without an unknown key", async () => {
    // npm warns about every key of the project's .npmrc it does not know, on every command.
    const { code, stderr } = await run("npm", ["config", "get", "registry"], process.env);
    expect(code).toBe(0);
    expect(stderr).not.toMatch(/project config/i);
  });

  it("leaves the CUDA provider alone unless ONNXRUNTIME_NODE_INSTALL asks for it", async () => {
    expect(await postinstall(undefined)).toEqual({ code: 0, stderr: "", requests: [] });
  });

  // Only Linux x64 has a CUDA provider to download; where it is installed already there is nothing to fetch.
  it.runIf(process.platform === "linux" && process.arch === "x64" && !existsSync(CUDA_PROVIDER))(
    "downloads the CUDA provider from NuGet with ONNXRUNTIME_NODE_INSTALL=cuda12",
    async () => {
      const { code, requests } = await postinstall("cuda12");
      expect(requests).toEqual(["CONNECT api.nuget.org:443 HTTP/1.1"]);
      // The proxy refused: the install fails loudly rather than leaving a CPU-only install behind.
      expect(code).not.toBe(0);
    },
  );
});
