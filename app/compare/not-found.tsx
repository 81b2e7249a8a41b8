import { NotFoundMessage } from "@/components/ui/NotFoundMessage";

export default function ComparisonNotFound() {
  return <NotFoundMessage title="Comparison not found">No comparison has this id on this server. Start a new one from the Compare page.</NotFoundMessage>;
}
