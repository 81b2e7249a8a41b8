"use client";

import { useCallback, useState } from "react";
import { api, readableError, type Upload } from "../api";

export interface ChosenImage {
  sha256: string;
  width: number;
  height: number;
  type: string;
}

const RAW_TYPES = ["image/png", "image/jpeg", "image/webp"];

/**
 * Sends an image to /api/uploads and remembers the stored upload, or the server's reason for
 * refusing it. The server decides by the bytes, so nothing is filtered here by name or type.
 */
export function useImageUpload(initial: ChosenImage | null = null) {
  const [image, setImage] = useState<ChosenImage | null>(initial);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const send = useCallback(async (file: File) => {
    setBusy(true);
    setError(null);
    setImage(null);
    try {
      setImage(await uploadImage(file));
    } catch (problem) {
      setError(readableError(problem));
    } finally {
      setBusy(false);
    }
  }, []);

  const clear = useCallback(() => {
    setImage(null);
    setError(null);
  }, []);

  return { image, error, busy, send, clear };
}

/** Stores an image on the server; throws an ApiError carrying the server's reason when refused. */
export async function uploadImage(file: File): Promise<ChosenImage> {
  // Known image types go as raw bytes; anything else as a form field, so the server names the problem.
  const init: RequestInit = RAW_TYPES.includes(file.type) ? { method: "POST", headers: { "Content-Type": file.type }, body: file } : { method: "POST", body: formWith(file) };
  const { upload } = await api<{ upload: Upload }>("/api/uploads", init);
  return { sha256: upload.sha256, width: upload.width, height: upload.height, type: upload.type };
}

function formWith(file: File) {
  const form = new FormData();
  form.append("file", file);
  return form;
}

/** The first image file in a drop or paste, if any. */
export function imageFileOf(data: DataTransfer | null): File | null {
  if (!data) return null;
  for (const item of Array.from(data.items ?? [])) {
    if (item.kind === "file") {
      const file = item.getAsFile();
      if (file) return file;
    }
  }
  return data.files?.[0] ?? null;
}
