import Form from "next/form";
import { button, field } from "../ui/styles";

/** A GET form: Enter puts the query in the URL (?q=), so searches are links too. */
export function GallerySearch({ q }: { q: string }) {
  return (
    <Form action="/gallery" role="search" className="flex gap-2">
      <label htmlFor="gallery-q" className="sr-only">
        Search captions
      </label>
      <input id="gallery-q" key={q} name="q" type="search" defaultValue={q} data-testid="gallery-search" placeholder="Search captions" className={`${field} max-w-md`} />
      <button type="submit" className={button.secondary}>
        Search
      </button>
    </Form>
  );
}
