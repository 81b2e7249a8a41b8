import Link from "next/link";
import { button } from "../ui/styles";

/** Previous/next links that keep the search; a missing direction stays in place, disabled. */
export function GalleryPager({ q, page, pages }: { q: string; page: number; pages: number }) {
  const href = (target: number) => {
    const params = new URLSearchParams();
    if (q) params.set("q", q);
    if (target > 1) params.set("page", String(target));
    const query = params.toString();
    return query ? `/gallery?${query}` : "/gallery";
  };
  return (
    <nav aria-label="Pages" className="flex items-center justify-between gap-3">
      {page > 1 ? (
        <Link data-testid="gallery-prev" href={href(page - 1)} className={button.secondary} rel="prev">
          ← Newer
        </Link>
      ) : (
        <span data-testid="gallery-prev" aria-disabled="true" className={button.secondary}>
          ← Newer
        </span>
      )}
      <span className="text-sm text-muted tabular-nums">
        Page {page} of {pages}
      </span>
      {page < pages ? (
        <Link data-testid="gallery-next" href={href(page + 1)} className={button.secondary} rel="next">
          Older →
        </Link>
      ) : (
        <span data-testid="gallery-next" aria-disabled="true" className={button.secondary}>
          Older →
        </span>
      )}
    </nav>
  );
}
