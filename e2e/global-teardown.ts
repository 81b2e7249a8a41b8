import { rmSync } from "node:fs";

/** Removes the data directory the config created for this run (never one passed in by hand). */
export default function removeTestData(): void {
  const dataDir = process.env.PENUMBRA_E2E_DATA;
  if (dataDir && process.env.PENUMBRA_E2E_DATA_OWNED === "1") rmSync(dataDir, { recursive: true, force: true });
}
