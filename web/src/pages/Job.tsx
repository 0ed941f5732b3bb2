import { Placeholder } from "../components/Placeholder";

/** JobPage is the job page. */
export function JobPage() {
  return <Placeholder title="Job" />;
}
