import { describe, expect, it } from "vitest";
import { useTestService } from "@/app/api/test-support";
import { loadGallery } from "./server";

useTestService();

/** How next/navigation's notFound() marks what it throws; Next renders the segment's not-found page with 404 for it. */
const NOT_FOUND = { digest: "NEXT_HTTP_ERROR_FALLBACK;404" };

describe("loadGallery (the /gallery page's data)", () => {
  it("loads page 1 of an empty gallery", async () => {
    expect(await loadGallery("", "1")).toMatchObject({ runs: [], total: 0, page: 1, pages: 1 });
  });

  // These answered 500 from the page (the service refused them, the page let the refusal through) and 400 from the API.
  it.each(["1e20", "9007199254740993", "9007199254740991", "0", "-1", "1.5", "abc", "", "0x10"])("answers the not-found page (404) for ?page=%s", async (page) => {
    await expect(loadGallery("", page)).rejects.toMatchObject(NOT_FOUND);
  });

  it("answers the not-found page for a page past the end", async () => {
    await expect(loadGallery("", "2")).rejects.toMatchObject(NOT_FOUND);
  });
});
