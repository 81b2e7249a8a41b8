"use client";

import Link from "next/link";
import { usePathname } from "next/navigation";

interface NavLinkProps {
  href: string;
  testId: string;
  children: string;
}

/** A header link that marks itself current for its own section (Compose is only "/"). */
export function NavLink({ href, testId, children }: NavLinkProps) {
  const pathname = usePathname();
  const current = href === "/" ? pathname === "/" : pathname === href || pathname.startsWith(`${href}/`);
  return (
    <Link
      href={href}
      data-testid={testId}
      aria-current={current ? "page" : undefined}
      className="rounded-md px-2.5 py-1.5 text-sm text-muted hover:bg-sunken hover:text-fg aria-[current=page]:bg-sunken aria-[current=page]:font-medium aria-[current=page]:text-fg"
    >
      {children}
    </Link>
  );
}
