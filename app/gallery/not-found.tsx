import Link from "next/link";
import { NotFoundMessage } from "@/components/ui/NotFoundMessage";

export default function GalleryPageNotFound() {
  return (
    <NotFoundMessage title="Gallery page not found">
      The gallery does not have that many pages. <Link href="/gallery" className="text-accent hover:underline">Go to its first page.</Link>
    </NotFoundMessage>
  );
}
