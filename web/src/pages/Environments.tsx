import { Placeholder } from "../components/Placeholder";

/** EnvironmentsPage is the environments page. */
export function EnvironmentsPage() {
  return <Placeholder title="Environments" />;
}
