import type { NextConfig } from "next";
import { SECURITY_HEADERS } from "./lib/security-headers";

const config: NextConfig = {
  // Native modules load from node_modules at run time instead of being bundled.
  serverExternalPackages: ["onnxruntime-node", "better-sqlite3", "sharp", "pg", "bullmq", "ioredis"],
  poweredByHeader: false,
  reactStrictMode: true,
  async headers() {
    return [{ source: "/:path*", headers: [...SECURITY_HEADERS] }];
  },
};

export default config;
