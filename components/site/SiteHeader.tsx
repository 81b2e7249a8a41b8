import Link from "next/link";
import { NavLink } from "./NavLink";
import { ThemeToggle } from "./ThemeToggle";

export function SiteHeader() {
  return (
    <header className="sticky top-0 z-30 border-b border-line bg-bg/90 backdrop-blur supports-[backdrop-filter]:bg-bg/75">
      <div className="mx-auto flex h-14 max-w-[88rem] items-center gap-2 px-3 sm:gap-4 sm:px-6">
        <Link href="/" className="mr-auto flex items-center gap-2 rounded-md py-1 pr-1 font-semibold tracking-tight" aria-label="Penumbra, home">
          <Wordmark />
          <span className="hidden text-[15px] min-[400px]:inline">Penumbra</span>
        </Link>
        <nav aria-label="Main" className="flex items-center gap-0.5 sm:gap-1">
          <NavLink href="/" testId="nav-compose">Compose</NavLink>
          <NavLink href="/compare" testId="nav-compare">Compare</NavLink>
          <NavLink href="/gallery" testId="nav-gallery">Gallery</NavLink>
        </nav>
        <ThemeToggle />
      </div>
    </header>
  );
}

/** A disc with its soft shadow: the mean and the penumbra around it. */
function Wordmark() {
  return (
    <svg viewBox="0 0 24 24" className="size-6" aria-hidden="true">
      <circle cx="12" cy="12" r="10.5" fill="var(--accent)" opacity="0.16" />
      <circle cx="12" cy="12" r="7.5" fill="var(--accent)" opacity="0.32" />
      <circle cx="12" cy="12" r="4.2" fill="var(--accent)" />
    </svg>
  );
}
