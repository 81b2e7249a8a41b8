/*
 * A run as the progress stream changes it: a pure reducer, so the run page, the comparison columns
 * and the presentation all follow a run the same way.
 */
import { fromServer, type ProgressEvent, type Run, type RunEvent, type RunStatus } from "../api";
import { batchFraction } from "../format";

export interface Live {
  /** Cells in the UNet batch being denoised now. */
  activeCells: number[];
  /** How far that batch has come, 0–1. */
  fraction: number;
}

export interface RunState {
  run: Run;
  live: Live | null;
}

export type StreamEvent =
  | { type: "snapshot"; run: Run }
  | { type: "progress"; progress: ProgressEvent }
  | { type: "cell"; index: number; image: string }
  | { type: "status"; status: RunStatus; error: string | null };

/** One server-sent event (`event: <type>`, `data: <payload JSON>`) as a StreamEvent; null if unreadable. */
export function parseStreamEvent(type: string, text: string): StreamEvent | null {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  if (!data || typeof data !== "object") return null;
  switch (type) {
    case "snapshot":
      return { type, run: fromServer<Run>(data) };
    case "progress":
      return { type, progress: fromServer<ProgressEvent>(data) };
    case "cell": {
      const cell = fromServer<Partial<EventData<"cell">>>(data);
      return typeof cell.index === "number" && typeof cell.image === "string" ? { type, index: cell.index, image: cell.image } : null;
    }
    case "status": {
      const status = fromServer<Partial<EventData<"status">>>(data);
      return typeof status.status === "string" ? { type, status: status.status, error: typeof status.error === "string" ? status.error : null } : null;
    }
    default:
      return null;
  }
}

/** The payload the server sends with an event of this type. */
type EventData<T extends RunEvent["type"]> = Extract<RunEvent, { type: T }>["data"];

export function reduceRun(state: RunState, event: StreamEvent): RunState {
  const { run } = state;
  switch (event.type) {
    case "snapshot":
      return { run: event.run, live: event.run.status === "running" ? state.live : null };
    case "progress": {
      const { evaluation, evaluations, cellsDone, cellsTotal, etaSeconds, activeCells } = event.progress;
      return {
        run: { ...run, progress: { evaluation, evaluations, cellsDone, cellsTotal, etaSeconds } },
        live: { activeCells: activeCells ?? [], fraction: batchFraction(event.progress) },
      };
    }
    case "cell":
      return {
        ...state,
        run: { ...run, cells: run.cells.map((cell) => (cell.index === event.index ? { ...cell, image: event.image } : cell)) },
      };
    case "status":
      return {
        run: { ...run, status: event.status, error: event.error },
        live: event.status === "running" ? state.live : null,
      };
  }
}

export type CellState = "pending" | "active" | "done";

export function cellState(image: string | null, index: number, live: Live | null): CellState {
  if (image) return "done";
  return live?.activeCells.includes(index) ? "active" : "pending";
}
