// The decode thread's entry point: worker threads start from JavaScript, and the thread's code is
// TypeScript, so tsx's loader is registered first (in the thread itself; hooks are per thread).
import { register } from "tsx/esm/api";

register();
await import("./thread.ts");
