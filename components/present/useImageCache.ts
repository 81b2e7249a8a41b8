"use client";

import { useEffect, useRef, useState } from "react";
import { imageUrl } from "../api";

/**
 * Fetches each image once into an object URL, so a presentation keeps working when the network
 * goes away after loading. Answers the object URL when ready, else the network URL.
 */
export function useImageCache(shas: string[]): (sha: string) => string {
  const [urls, setUrls] = useState<Record<string, string>>({});
  const requested = useRef(new Set<string>());
  const created = useRef<string[]>([]);
  const key = shas.join(",");

  useEffect(() => {
    for (const sha of key ? key.split(",") : []) {
      if (requested.current.has(sha)) continue;
      requested.current.add(sha);
      fetch(imageUrl(sha))
        .then((response) => (response.ok ? response.blob() : Promise.reject(new Error(String(response.status)))))
        .then((blob) => {
          const url = URL.createObjectURL(blob);
          created.current.push(url);
          setUrls((current) => ({ ...current, [sha]: url }));
        })
        // A failed fetch leaves the network URL in place; the browser may still have it cached.
        .catch(() => requested.current.delete(sha));
    }
  }, [key]);

  useEffect(() => {
    const urlsToRevoke = created.current;
    return () => urlsToRevoke.forEach((url) => URL.revokeObjectURL(url));
  }, []);

  return (sha) => urls[sha] ?? imageUrl(sha);
}
