import type { NextConfig } from "next";

const config: NextConfig = {
  // Native modules load from node_modules at run time instead of being bundled.
  serverExternalPackages: ["onnxruntime-node", "better-sqlite3", "sharp", "pg", "bullmq", "ioredis"],
  poweredByHeader: false,
  reactStrictMode: true,
};

export default config;
