"use client";

import Link from "next/link";
import { button } from "@/components/ui/styles";

export default function ErrorPage({ error, retry }: { error: unknown; retry: () => void }) {
  // Server errors reach the browser without their message; the digest matches the server's log.
  const digest = error instanceof Error && "digest" in error ? String((error as Error & { digest?: string }).digest ?? "") : "";
  return (
    <main className="mx-auto flex w-full max-w-xl flex-1 flex-col items-start justify-center gap-4 px-4 py-16">
      <h1 className="text-2xl font-semibold tracking-tight">Something went wrong</h1>
      <p className="text-sm leading-relaxed text-muted">
        The page could not be loaded. This is the server&apos;s fault, not yours; trying again often helps.
        {digest && (
          <>
            {" "}
            Reference: <span className="font-mono">{digest}</span>
          </>
        )}
      </p>
      <div className="flex gap-2">
        <button type="button" onClick={() => retry()} className={button.primary}>
          Try again
        </button>
        <Link href="/" className={button.secondary}>
          Back to compose
        </Link>
      </div>
    </main>
  );
}
