import { Placeholder } from "../components/Placeholder";

/** QueuePage is the queue page. */
export function QueuePage() {
  return <Placeholder title="Queue" />;
}
