/**
 * ConfirmButton is a two-step button for destructive actions: the first
 * press asks, inline, and only "Yes, <action>" acts. No browser dialog, so
 * it works the same with a keyboard, a screen reader and in tests. Focus
 * moves to Cancel when it asks (the safe choice under Enter) and back to the
 * first button when the question goes away.
 */
import { useEffect, useRef, useState } from "preact/hooks";

/** ConfirmButtonProps are ConfirmButton's properties. */
export interface ConfirmButtonProps {
  /** label is the first button's text, e.g. "Delete". */
  label: string;
  /** question is asked before acting, e.g. "Delete staging?". */
  question: string;
  /** onConfirm runs the action; the buttons are disabled while it runs. */
  onConfirm: () => Promise<void> | void;
  /** small makes the buttons small (in tables). */
  small?: boolean;
  /** subject, if set, is added to the button's accessible name ("Delete staging"), not shown. */
  subject?: string;
}

/** ConfirmButton renders the button, or the question with Yes and Cancel. */
export function ConfirmButton({ label, question, onConfirm, small, subject }: ConfirmButtonProps) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const askRef = useRef<HTMLButtonElement>(null);
  const asked = useRef(false);
  useEffect(() => {
    if (asking) cancelRef.current?.focus();
    else if (asked.current) askRef.current?.focus();
    asked.current = asking;
  }, [asking]);
  const size = small ? " btn-small" : "";
  if (!asking) {
    return (
      <button ref={askRef} type="button" class={`btn btn-danger${size}`} onClick={() => setAsking(true)}>
        {label}
        {subject && <span class="visually-hidden"> {subject}</span>}
      </button>
    );
  }
  return (
    <span class="actions" role="group" aria-label={question}>
      <span>{question}</span>
      <button
        type="button"
        class={`btn btn-danger${size}`}
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          try {
            await onConfirm();
          } finally {
            setBusy(false);
            setAsking(false);
          }
        }}
      >
        Yes, {label.toLowerCase()}
      </button>
      <button ref={cancelRef} type="button" class={`btn${size}`} disabled={busy} onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}
