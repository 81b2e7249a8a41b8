import { NotFoundMessage } from "@/components/ui/NotFoundMessage";

export default function PresentNotFound() {
  return <NotFoundMessage title="Nothing to present">No run has this id on this server, so there is no grid to present.</NotFoundMessage>;
}
