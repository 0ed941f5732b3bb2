import { Placeholder } from "../components/Placeholder";

/** PlanPage is the plan page. */
export function PlanPage() {
  return <Placeholder title="Plan" />;
}
