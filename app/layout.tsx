import type { Metadata, Viewport } from "next";
import { headers } from "next/headers";
import type { ReactNode } from "react";
import { SiteHeader } from "@/components/site/SiteHeader";
import { VIEW_PREFS_SCRIPT } from "@/components/run/viewPrefs";
import { THEME_SCRIPT } from "@/components/site/theme";
import "./globals.css";

export const metadata: Metadata = {
  title: { default: "Penumbra", template: "%s · Penumbra" },
  description: "See what a caption could mean: samples from a ProbVLM distribution over CLIP embeddings, decoded into images and ordered by deviation.",
};

export const viewport: Viewport = {
  themeColor: [
    { media: "(prefers-color-scheme: light)", color: "#fbfbfa" },
    { media: "(prefers-color-scheme: dark)", color: "#111214" },
  ],
};

export default async function RootLayout({ children }: { children: ReactNode }) {
  // proxy.ts gives each page request a nonce; the policy lets only scripts that carry it run.
  const nonce = (await headers()).get("x-nonce") ?? undefined;
  return (
    // The inline script sets the theme class (and the run pages' remembered view choices, components/run/viewPrefs.ts) before paint, so React must accept the changed attributes.
    <html lang="en" suppressHydrationWarning>
      <head>
        <script nonce={nonce} dangerouslySetInnerHTML={{ __html: `${THEME_SCRIPT};${VIEW_PREFS_SCRIPT}` }} />
      </head>
      <body className="flex min-h-dvh flex-col">
        <a href="#main" className="sr-only focus:not-sr-only focus:fixed focus:left-3 focus:top-3 focus:z-50 focus:rounded-md focus:bg-surface focus:px-3 focus:py-2 focus:shadow">
          Skip to content
        </a>
        <SiteHeader />
        <div id="main" className="flex flex-1 flex-col">
          {children}
        </div>
      </body>
    </html>
  );
}
