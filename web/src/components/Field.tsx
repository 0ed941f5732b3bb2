/**
 * Field is a labelled form control with its hint and its error messages,
 * tied together for assistive technology (aria-describedby, aria-invalid).
 */
import type { ComponentChildren, VNode } from "preact";
import { cloneElement } from "preact";

/** FieldProps are Field's properties. */
export interface FieldProps {
  /** id is the control's id; the hint and errors get ids derived from it. */
  id: string;
  label: ComponentChildren;
  hint?: ComponentChildren;
  /** errors are shown under the control and mark it invalid. */
  errors?: string[];
  /** children is the one control (input, select, textarea). */
  children: VNode;
}

/** Field renders label, control, hint and errors. */
export function Field({ id, label, hint, errors = [], children }: FieldProps) {
  const describedBy = [hint ? `${id}-hint` : "", errors.length ? `${id}-errors` : ""].filter(Boolean).join(" ");
  const control = cloneElement(children, {
    id,
    "aria-describedby": describedBy || undefined,
    "aria-invalid": errors.length ? "true" : undefined,
  });
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {control}
      {hint && (
        <span class="field-hint" id={`${id}-hint`}>
          {hint}
        </span>
      )}
      {errors.length > 0 && (
        <span class="field-error" id={`${id}-errors`}>
          {errors.join("; ")}
        </span>
      )}
    </div>
  );
}
