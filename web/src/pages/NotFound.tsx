import { PageHeader } from "../components/Layout";

/** NotFoundPage answers a dashboard URL that no route knows. */
export function NotFoundPage() {
  return (
    <>
      <PageHeader title="Page not found" />
      <p>
        No dashboard page has this address. <a href="/">Back to the overview</a>.
      </p>
    </>
  );
}
