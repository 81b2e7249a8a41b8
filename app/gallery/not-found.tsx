import Link from "next/link";
import { NotFoundMessage } from "@/components/ui/NotFoundMessage";

export default function GalleryPageNotFound() {
  return (
    <NotFoundMessage title="Gallery page not found">
      The gallery has no such page: its pages are numbered from 1 to the last one its pager shows. <Link href="/gallery" className="text-accent hover:underline">Go to its first page.</Link>
    </NotFoundMessage>
  );
}
