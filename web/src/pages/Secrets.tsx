import { Placeholder } from "../components/Placeholder";

/** SecretsPage is the secrets page. */
export function SecretsPage() {
  return <Placeholder title="Secrets" />;
}
