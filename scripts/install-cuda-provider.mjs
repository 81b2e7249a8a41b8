// The project's postinstall: on request, fetches onnxruntime-node's CUDA provider.
//
// package.json's allowScripts denies onnxruntime-node's own install script, because by default on
// Linux x64 it downloads the CUDA provider from NuGet: that fails an offline `npm ci` and is of no
// use without an NVIDIA GPU (the CPU provider is bundled in the npm package). A GPU machine asks for
// it with `ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci`; then this runs that script (docs/cuda.md).
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";

if (!process.env.ONNXRUNTIME_NODE_INSTALL) process.exit(0);

const packageJson = createRequire(import.meta.url).resolve("onnxruntime-node/package.json");
const { status, error } = spawnSync(process.execPath, [path.join(path.dirname(packageJson), "script", "install.js")], {
  stdio: "inherit",
  // The script does nothing when npm_package_json names the project npm runs in (it takes that for
  // `npm ci` in onnxruntime's own checkout), and this runs as the project's script: give it the
  // package.json npm gives a dependency's script.
  env: { ...process.env, npm_package_json: packageJson },
});
if (error) throw error;
process.exit(status ?? 1);
