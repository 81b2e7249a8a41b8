import { NotFoundMessage } from "@/components/ui/NotFoundMessage";

export default function RunNotFound() {
  return (
    <NotFoundMessage title="Run not found">
      No run has this id on this server. Run ids are 12 hexadecimal digits; a permalink from another Penumbra server only works there.
    </NotFoundMessage>
  );
}
