import Link from "next/link";
import type { ReactNode } from "react";
import { button } from "./styles";

/** The body of every not-found page: what was missing, why that may be, and the way home. */
export function NotFoundMessage({ title, children }: { title: string; children: ReactNode }) {
  return (
    <main className="mx-auto flex w-full max-w-xl flex-1 flex-col items-start justify-center gap-4 px-4 py-16">
      <p className="font-mono text-sm text-faint">404</p>
      <h1 className="text-2xl font-semibold tracking-tight">{title}</h1>
      <div className="text-sm leading-relaxed text-muted">{children}</div>
      <div className="flex gap-2">
        <Link href="/" className={button.primary}>
          Compose a run
        </Link>
        <Link href="/gallery" className={button.secondary}>
          Browse the gallery
        </Link>
      </div>
    </main>
  );
}
