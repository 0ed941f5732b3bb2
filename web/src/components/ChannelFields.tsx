/**
 * ChannelFields are the form fields of an alert channel, shared by the
 * create form (/ui/channels) and the edit form (/ui/channels/:id). The
 * secret, the header values and a Slack URL are write-only: editing shows
 * them empty, and leaving them empty keeps what is stored.
 */
import type { components } from "../api";
import { fieldErrors, parseStringMap } from "../forms";
import { Field } from "./Field";

type ChannelBody = components["schemas"]["ChannelBody"];
type Kind = ChannelBody["kind"];

/** ChannelDraft is what the form holds. */
export interface ChannelDraft {
  name: string;
  kind: Kind;
  url: string;
  secret: string;
  /** headers is a JSON object of strings, or empty. */
  headers: string;
  /** removeSecret (edit only) removes the stored secret. */
  removeSecret: boolean;
  /** removeHeaders (edit only) removes the stored headers. */
  removeHeaders: boolean;
}

/** emptyChannelDraft is the create form's start. */
export function emptyChannelDraft(): ChannelDraft {
  return { name: "", kind: "webhook", url: "", secret: "", headers: "", removeSecret: false, removeHeaders: false };
}

/** draftOf starts an edit of a stored channel: write-only fields start empty. */
export function draftOf(ch: components["schemas"]["Channel"]): ChannelDraft {
  return {
    name: ch.name,
    kind: ch.kind,
    url: ch.kind === "webhook" ? ch.url : "",
    secret: "",
    headers: "",
    removeSecret: false,
    removeHeaders: false,
  };
}

/**
 * channelBody builds the request body from the draft, or says which fields
 * are wrong before anything is sent. In "edit" mode, empty write-only fields
 * are left out, so the server keeps the stored values.
 */
export function channelBody(
  d: ChannelDraft,
  mode: "create" | "edit",
): { body?: ChannelBody; errors: Partial<Record<keyof ChannelDraft, string>> } {
  const errors: Partial<Record<keyof ChannelDraft, string>> = {};
  const body: ChannelBody = { name: d.name.trim(), kind: d.kind };
  if (!body.name) errors.name = "A name is required.";
  const url = d.url.trim();
  if (url) body.url = url;
  else if (mode === "create" || d.kind === "webhook") errors.url = "A URL is required.";
  if (d.kind === "webhook") {
    if (mode === "edit" && d.removeSecret) body.secret = "";
    else if (d.secret) body.secret = d.secret;
    if (mode === "edit" && d.removeHeaders) body.headers = {};
    else if (d.headers.trim()) {
      try {
        body.headers = parseStringMap(d.headers);
      } catch (err) {
        errors.headers = `Headers: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
  }
  return Object.keys(errors).length ? { errors } : { body, errors };
}

/** ChannelFieldsProps are ChannelFields' properties. */
export interface ChannelFieldsProps {
  draft: ChannelDraft;
  onChange: (d: ChannelDraft) => void;
  mode: "create" | "edit";
  /** error is the API's answer to the last submit, for per-field messages. */
  error: unknown;
  localErrors: Partial<Record<keyof ChannelDraft, string>>;
  /** hasSecret and headerNames (edit only) describe what is stored. */
  hasSecret?: boolean;
  headerNames?: string[];
}

/** ChannelFields renders the fields; the caller renders the form and its buttons. */
export function ChannelFields({ draft, onChange, mode, error, localErrors, hasSecret, headerNames = [] }: ChannelFieldsProps) {
  const set = <K extends keyof ChannelDraft>(k: K, v: ChannelDraft[K]) => onChange({ ...draft, [k]: v });
  const errs = (k: keyof ChannelDraft, apiField: string = k) => [
    ...(localErrors[k] ? [localErrors[k] as string] : []),
    ...fieldErrors(error, apiField),
  ];
  const id = (k: string) => `channel-${mode}-${k}`;
  const webhook = draft.kind === "webhook";
  return (
    <>
      <div class="fields-row">
        <Field id={id("name")} label="Name" hint="Lowercase letters, digits, - and _ (at most 100)." errors={errs("name")}>
          <input type="text" required autocomplete="off" spellcheck={false} value={draft.name} onInput={(e) => set("name", (e.target as HTMLInputElement).value)} />
        </Field>
        <Field id={id("kind")} label="Kind" hint={mode === "edit" ? "The kind cannot change." : undefined} errors={errs("kind")}>
          <select value={draft.kind} disabled={mode === "edit"} onChange={(e) => set("kind", (e.target as HTMLSelectElement).value as Kind)}>
            <option value="webhook">webhook</option>
            <option value="slack">slack</option>
          </select>
        </Field>
      </div>
      <Field
        id={id("url")}
        label={webhook ? "URL" : "Slack incoming webhook URL"}
        hint={
          webhook
            ? "An http or https URL the server's network policy allows."
            : mode === "edit"
              ? "Write-only: leave empty to keep the stored URL."
              : "Write-only: it is a credential, and is never shown again."
        }
        errors={errs("url")}
      >
        <input type="url" autocomplete="off" spellcheck={false} value={draft.url} onInput={(e) => set("url", (e.target as HTMLInputElement).value)} />
      </Field>
      {webhook && (
        <>
          <Field
            id={id("secret")}
            label="Signing secret"
            hint={
              mode === "edit"
                ? hasSecret
                  ? "A secret is stored. Leave empty to keep it; type one to replace it."
                  : "No secret is stored: deliveries are not signed. 16 to 256 bytes."
                : "Optional: 16 to 256 bytes. Deliveries then carry X-Astro-Signature."
            }
            errors={errs("secret")}
          >
            <input
              type="password"
              autocomplete="new-password"
              disabled={draft.removeSecret}
              value={draft.secret}
              onInput={(e) => set("secret", (e.target as HTMLInputElement).value)}
            />
          </Field>
          {mode === "edit" && hasSecret && (
            <label class="checkbox">
              <input type="checkbox" checked={draft.removeSecret} onChange={(e) => set("removeSecret", (e.target as HTMLInputElement).checked)} /> Remove the
              stored secret
            </label>
          )}
          <Field
            id={id("headers")}
            label="Extra headers"
            hint={
              mode === "edit" && headerNames.length > 0
                ? `Stored: ${headerNames.join(", ")} (values hidden). Leave empty to keep them; a JSON object replaces them.`
                : 'Optional: a JSON object of strings, e.g. {"X-Team": "payments"}. Values are write-only.'
            }
            errors={errs("headers")}
          >
            <textarea
              rows={3}
              spellcheck={false}
              disabled={draft.removeHeaders}
              value={draft.headers}
              onInput={(e) => set("headers", (e.target as HTMLTextAreaElement).value)}
            />
          </Field>
          {mode === "edit" && headerNames.length > 0 && (
            <label class="checkbox">
              <input type="checkbox" checked={draft.removeHeaders} onChange={(e) => set("removeHeaders", (e.target as HTMLInputElement).checked)} /> Remove the
              stored headers
            </label>
          )}
        </>
      )}
    </>
  );
}
