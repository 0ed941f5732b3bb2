/**
 * App wires the routes of the dashboard. The API lives at root paths, so the
 * dashboard's pages live under /ui/ (and the overview at /).
 */
import { ErrorBoundary, LocationProvider, Route, Router } from "preact-iso";
import { Layout } from "./components/Layout";
import { ChannelPage } from "./pages/Channel";
import { ChannelsPage } from "./pages/Channels";
import { EnvironmentsPage } from "./pages/Environments";
import { ExecutionPage } from "./pages/Execution";
import { JobPage } from "./pages/Job";
import { NotFoundPage } from "./pages/NotFound";
import { OverviewPage } from "./pages/Overview";
import { PlanPage } from "./pages/Plan";
import { QueuePage } from "./pages/Queue";
import { SecretsPage } from "./pages/Secrets";

/** ROUTES are the dashboard's client routes (see web/README.md). */
export const ROUTES = {
  overview: "/",
  plan: "/ui/plans/:id",
  execution: "/ui/executions/:id",
  queue: "/ui/queue",
  job: "/ui/jobs/:id",
  environments: "/ui/environments",
  secrets: "/ui/secrets",
  channels: "/ui/channels",
  channel: "/ui/channels/:id",
} as const;

/** App is the root component. */
export function App() {
  return (
    <LocationProvider>
      <ErrorBoundary>
        <Layout>
          <Router>
            <Route path={ROUTES.overview} component={OverviewPage} />
            <Route path={ROUTES.plan} component={PlanPage} />
            <Route path={ROUTES.execution} component={ExecutionPage} />
            <Route path={ROUTES.queue} component={QueuePage} />
            <Route path={ROUTES.job} component={JobPage} />
            <Route path={ROUTES.environments} component={EnvironmentsPage} />
            <Route path={ROUTES.secrets} component={SecretsPage} />
            <Route path={ROUTES.channels} component={ChannelsPage} />
            <Route path={ROUTES.channel} component={ChannelPage} />
            <Route default component={NotFoundPage} />
          </Router>
        </Layout>
      </ErrorBoundary>
    </LocationProvider>
  );
}
