"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useState, type ReactNode } from "react";
import { postJson, readableError, type Run, sendWithKey } from "../api";
import { randomSeed, requestOf } from "../request";
import { button } from "../ui/styles";
import { rememberCreatorKey, useCreatorKey } from "./creatorKeys";

interface RunActionsProps {
  run: Run;
  onPublished: (run: Run) => void;
}

/** Everything one can do with a run: share it, download it, vary it, publish it, present it. */
export function RunActions({ run, onPublished }: RunActionsProps) {
  const router = useRouter();
  const [copied, setCopied] = useState(false);
  const [busy, setBusy] = useState<"rerun" | "publish" | "unpublish" | null>(null);
  // Only the browser that asked for this link holds its creator key, which publishes it.
  const creatorKey = useCreatorKey(run.id);
  const [message, setMessage] = useState<string | null>(null);
  const done = run.status === "done";
  const id = encodeURIComponent(run.id);

  useEffect(() => {
    if (!copied) return;
    const timer = setTimeout(() => setCopied(false), 2000);
    return () => clearTimeout(timer);
  }, [copied]);

  async function copyLink() {
    const link = `${location.origin}/runs/${id}`;
    try {
      await navigator.clipboard.writeText(link);
      setCopied(true);
      setMessage(null);
    } catch {
      // Clipboard access needs a secure context and permission; show the link to copy by hand.
      setMessage(`Copy this link: ${link}`);
    }
  }

  async function rerun() {
    setBusy("rerun");
    setMessage(null);
    try {
      const { run: next, creatorKey: nextKey } = await postJson<{ run: Run; creatorKey: string }>("/api/runs", requestOf(run, { seed: randomSeed() }));
      rememberCreatorKey([next.id], nextKey);
      router.push(`/runs/${encodeURIComponent(next.id)}`);
    } catch (error) {
      setMessage(readableError(error));
      setBusy(null);
    }
  }

  async function publish(key: string) {
    setBusy("publish");
    setMessage(null);
    try {
      const { run: published } = await sendWithKey<{ run: Run }>("POST", `/api/runs/${id}/publish`, key);
      onPublished(published);
    } catch (error) {
      setMessage(readableError(error));
    } finally {
      setBusy(null);
    }
  }

  async function unpublish(key: string) {
    setBusy("unpublish");
    setMessage(null);
    try {
      const { run: unpublished } = await sendWithKey<{ run: Run }>("DELETE", `/api/runs/${id}/publish`, key);
      onPublished(unpublished);
      setMessage("Taken out of the gallery; the link still opens this run.");
    } catch (error) {
      setMessage(readableError(error));
    } finally {
      setBusy(null);
    }
  }

  const notReady = done ? {} : { "aria-disabled": true as const, tabIndex: -1, title: "Available when the run is done" };
  return (
    <div className="flex flex-col gap-2">
      <div className="flex flex-wrap gap-1.5">
        <button type="button" data-testid="copy-link" onClick={copyLink} className={button.tool}>
          <Icon d="M8.5 11.5a3 3 0 0 0 4.2 0l2.6-2.6a3 3 0 0 0-4.2-4.2l-.8.8M11.5 8.5a3 3 0 0 0-4.2 0l-2.6 2.6a3 3 0 0 0 4.2 4.2l.8-.8" />
          {copied ? "Link copied" : "Copy link"}
        </button>
        <a data-testid="download-grid" href={`/api/runs/${id}/grid.png`} download={`penumbra-${run.id}.png`} className={button.tool} {...notReady}>
          <Icon d="M10 3v10m-4-4 4 4 4-4M4 16h12" />
          Download grid
        </a>
        <a data-testid="download-zip" href={`/api/runs/${id}/cells.zip`} download={`penumbra-${run.id}-cells.zip`} className={button.tool} {...notReady}>
          <Icon d="M10 3v10m-4-4 4 4 4-4M4 16h12" />
          Download all (zip)
        </a>
        <button type="button" data-testid="rerun-seed" onClick={rerun} disabled={busy !== null} className={button.tool}>
          <Icon d="M15.5 8A6 6 0 1 0 16 11M16 4v4h-4" />
          {busy === "rerun" ? "Starting…" : "Re-run with new seed"}
        </button>
        <Link data-testid="edit-rerun" href={`/?from=${id}`} className={button.tool}>
          <Icon d="M12.5 4.5l3 3L8 15H5v-3l7.5-7.5Z" />
          Edit and re-run
        </Link>
        {creatorKey !== null && (
          <button
            type="button"
            data-testid="publish"
            onClick={() => void publish(creatorKey)}
            disabled={!done || run.publishedAt !== null || busy !== null}
            title={done ? undefined : "Available when the run is done"}
            className={button.tool}
          >
            <Icon d={run.publishedAt ? "m5 10 3.5 3.5L15 7" : "M4 7h12M4 7l1 9h10l1-9M8 7V4h4v3"} />
            {run.publishedAt ? "Published" : busy === "publish" ? "Publishing…" : "Publish to gallery"}
          </button>
        )}
        {creatorKey !== null && run.publishedAt && (
          <button type="button" data-testid="unpublish" onClick={() => void unpublish(creatorKey)} disabled={busy !== null} className={button.tool}>
            <Icon d="M5 5l10 10M15 5 5 15" />
            {busy === "unpublish" ? "Unpublishing…" : "Unpublish"}
          </button>
        )}
        {creatorKey === null && run.publishedAt && (
          <span data-testid="published-note" className="self-center px-1 text-xs text-muted">
            In the gallery
          </span>
        )}
        <Link data-testid="present-link" href={`/runs/${id}/present`} className={button.tool}>
          <Icon d="M3 4h14v9H3zM10 13v3M7 17h6" />
          Present
        </Link>
      </div>
      <p aria-live="polite" className="min-h-4 text-xs text-muted empty:min-h-0">
        {copied ? "Link copied to the clipboard." : message}
      </p>
    </div>
  );
}

function Icon({ d }: { d: string }): ReactNode {
  return (
    <svg viewBox="0 0 20 20" className="size-4 shrink-0" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.6" strokeLinecap="round" strokeLinejoin="round">
      <path d={d} />
    </svg>
  );
}
