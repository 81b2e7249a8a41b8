import type { ReactNode } from "react";
import { button } from "./styles";

/** A form's last line: the request's error (if the server refused it) beside the submit button. */
export function SubmitBar({ error, testId, disabled, children }: { error: string | null; testId: string; disabled: boolean; children: ReactNode }) {
  return (
    <div className="flex flex-col-reverse items-stretch gap-3 sm:flex-row sm:items-center sm:justify-end">
      {error && (
        <p role="alert" data-testid="form-error" className="flex-1 rounded-md bg-danger-soft px-3 py-2 text-sm text-danger">
          {error}
        </p>
      )}
      <button type="submit" data-testid={testId} disabled={disabled} className={`${button.primary} h-10 px-6`}>
        {children}
      </button>
    </div>
  );
}
