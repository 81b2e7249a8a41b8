"use client";

import { useCallback, useEffect, useReducer, useRef, useState } from "react";
import { api, isUnfinished, type Run } from "../api";
import { parseStreamEvent, reduceRun, type RunState } from "./runState";

const EVENT_NAMES = ["snapshot", "progress", "cell", "status"] as const;
/** After the server refused a stream, about when one of its streams may have ended (its Retry-After). */
const STREAM_RETRY_MS = 5000;

/**
 * Follows a run from its server-rendered snapshot: subscribes to its event stream while it is
 * queued or running, or cancelled (opening the stream resumes a run that was cancelled because
 * nobody watched it), and closes the stream once it ends. `replace` swaps in a run the caller got
 * from the API (after a retry) and `resubscribe` opens a fresh stream.
 */
export function useRunStream(initial: Run) {
  const [state, dispatch] = useReducer(reduceRun, { run: initial, live: null } satisfies RunState);
  const [generation, setGeneration] = useState(0);
  const statusRef = useRef(state.run.status);
  statusRef.current = state.run.status;

  const id = initial.id;
  useEffect(() => {
    if (!isUnfinished(statusRef.current) && statusRef.current !== "cancelled") return;
    let closed = false;
    const source = new EventSource(`/api/runs/${encodeURIComponent(id)}/events`);

    // The status event carries no timings or finish time; one read of the finished run does.
    const refresh = () =>
      api<{ run: Run }>(`/api/runs/${encodeURIComponent(id)}`)
        .then(({ run }) => !closed && dispatch({ type: "snapshot", run }))
        .catch(() => undefined);

    const onEvent = (name: string) => (message: MessageEvent<string>) => {
      const event = parseStreamEvent(name, message.data);
      if (!event) return;
      dispatch(event);
      const ended = event.type === "status" ? event.status : event.type === "snapshot" ? event.run.status : null;
      if (ended && !isUnfinished(ended)) {
        // The server ends the stream here; closing first stops EventSource reconnecting.
        source.close();
        if (event.type === "status") refresh();
      }
    };
    for (const name of EVENT_NAMES) source.addEventListener(name, onEvent(name) as EventListener);
    let retry: ReturnType<typeof setTimeout> | undefined;
    source.onerror = () => {
      if (!isUnfinished(statusRef.current)) return source.close();
      // EventSource retries a dropped connection itself, but gives up on an error answer (a 429
      // when the server has too many streams open): open a fresh stream after a pause then.
      if (source.readyState === EventSource.CLOSED && retry === undefined) retry = setTimeout(() => setGeneration((g) => g + 1), STREAM_RETRY_MS);
    };
    return () => {
      closed = true;
      clearTimeout(retry);
      source.close();
    };
  }, [id, generation]);

  const replace = useCallback((run: Run) => dispatch({ type: "snapshot", run }), []);
  const resubscribe = useCallback(() => setGeneration((g) => g + 1), []);
  return { ...state, replace, resubscribe };
}
