/** lib/runs: the server-side core the web app's route handlers call (docs/web-api.md). */
export { configurationError, type ErrorContext, isServerFault, readableMessage, RunError, type RunErrorCode, toRunError } from "./errors";
export {
  closeRunService,
  type Comparison,
  GALLERY_PAGE_SIZE,
  type GalleryPage,
  getRunService,
  type Health,
  type PresetInfo,
  type RunListener,
  RunService,
  type RunServiceOptions,
  type Upload,
} from "./service";
export type { RunStatus } from "./store";
export type { GalleryCard, ProgressEventData, Run, RunEvent, RunProgress, StoredDescription } from "./views";
