import { Placeholder } from "../components/Placeholder";

/** ExecutionPage is the execution page. */
export function ExecutionPage() {
  return <Placeholder title="Execution" />;
}
