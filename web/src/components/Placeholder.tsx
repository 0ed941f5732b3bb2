/** Placeholder stands in for a page whose content is not built yet. */
import { PageHeader } from "./Layout";

/** Placeholder renders a page title and a note that the page is empty for now. */
export function Placeholder({ title }: { title: string }) {
  return (
    <>
      <PageHeader title={title} crumbs={[{ href: "/", label: "Overview" }]} />
      <p class="muted">This page is not built yet.</p>
    </>
  );
}
