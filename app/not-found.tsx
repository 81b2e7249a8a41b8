import { NotFoundMessage } from "@/components/ui/NotFoundMessage";

export default function NotFound() {
  return <NotFoundMessage title="Page not found">There is no page at this address. Check the link, or start from the compose page.</NotFoundMessage>;
}
