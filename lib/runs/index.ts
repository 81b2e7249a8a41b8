/** lib/runs: the server-side core the web app's route handlers and pages call (docs/web-api.md, docs/deployment.md). */
// A client component importing this by mistake fails the build instead of shipping the server to the browser.
import "server-only";

export { closeRunService, getRunService, openRunService, type RunServiceOptions } from "./deployment";
export { configurationError, type ErrorContext, isServerFault, readableMessage, RunError, type RunErrorCode, toRunError } from "./errors";
export type { RunListener } from "./events";
export { type Comparison, GALLERY_PAGE_SIZE, type GalleryPage, MAX_GALLERY_PAGE, type Health, type PresetInfo, RunService, type Upload } from "./service";
export type { RunStatus } from "./storage";
export type { GalleryCard, ProgressEventData, Run, RunEvent, RunProgress, StoredDescription } from "./views";
