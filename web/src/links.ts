/** links.ts builds the dashboard's URLs, so that pages never spell them by hand. */

/** planHref is the page of a plan ("new" for the new-plan form). */
export const planHref = (id: string) => `/ui/plans/${encodeURIComponent(id)}`;
/** executionHref is the page of an execution. */
export const executionHref = (id: string) => `/ui/executions/${encodeURIComponent(id)}`;
/** jobHref is the page of a queue job. */
export const jobHref = (id: number | string) => `/ui/jobs/${encodeURIComponent(String(id))}`;
/** channelHref is the page of an alert channel. */
export const channelHref = (id: string) => `/ui/channels/${encodeURIComponent(id)}`;
/** queueHref is the queue page, optionally filtered to one queue. */
export const queueHref = (queue?: string) => (queue ? `/ui/queue?queue=${encodeURIComponent(queue)}` : "/ui/queue");
/** NEW_PLAN_HREF is the form that creates a plan. */
export const NEW_PLAN_HREF = "/ui/plans/new";
