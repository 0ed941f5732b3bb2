/**
 * Layout is the frame of every page: a skip link, the header with the
 * navigation, the token prompt, and the page's content in <main>.
 */
import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { useLocation } from "preact-iso";
import { TokenButton, TokenPrompt } from "./TokenPrompt";

/** NAV lists the top-level pages; pages with an ID are reached from them. */
export const NAV: readonly { href: string; label: string; match: (path: string) => boolean }[] = [
  { href: "/", label: "Overview", match: (p) => p === "/" || p.startsWith("/ui/plans") || p.startsWith("/ui/executions") },
  { href: "/ui/queue", label: "Queue", match: (p) => p.startsWith("/ui/queue") || p.startsWith("/ui/jobs") },
  { href: "/ui/environments", label: "Environments", match: (p) => p.startsWith("/ui/environments") },
  { href: "/ui/secrets", label: "Secrets", match: (p) => p.startsWith("/ui/secrets") },
  { href: "/ui/channels", label: "Channels", match: (p) => p.startsWith("/ui/channels") },
];

/** Layout renders the header and navigation around children. */
export function Layout({ children }: { children: ComponentChildren }) {
  const { path } = useLocation();
  // After navigating to another page, start reading (and tabbing) from its content, at its top.
  const firstPath = useRef(path);
  useEffect(() => {
    if (path === firstPath.current) return;
    firstPath.current = "";
    window.scrollTo(0, 0);
    document.getElementById("main")?.focus({ preventScroll: true });
  }, [path]);
  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <div class="topbar-inner">
          <a class="brand" href="/">
            <span class="brand-mark" aria-hidden="true">
              ◆
            </span>
            astro-runner
          </a>
          <nav aria-label="Main" class="nav">
            <ul>
              {NAV.map((item) => (
                <li key={item.href}>
                  <a href={item.href} aria-current={item.match(path) ? "page" : undefined}>
                    {item.label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
          <div class="topbar-tools">
            <a class="btn btn-small btn-primary" href="/ui/plans/new">
              New plan
            </a>
            <TokenButton />
          </div>
        </div>
      </header>
      <TokenPrompt />
      <main id="main" tabIndex={-1} class="page">
        {children}
      </main>
    </>
  );
}

/** PageHeaderProps are PageHeader's properties. */
export interface PageHeaderProps {
  title: ComponentChildren;
  /** docTitle is the browser tab's title; defaults to title when that is a string. */
  docTitle?: string;
  /** crumbs are links shown above the title, e.g. back to the overview. */
  crumbs?: { href: string; label: string }[];
  /** actions are buttons shown beside the title. */
  actions?: ComponentChildren;
  children?: ComponentChildren;
}

/** PageHeader is a page's title row: breadcrumbs, the <h1>, and actions. */
export function PageHeader({ title, docTitle, crumbs, actions, children }: PageHeaderProps) {
  const tab = docTitle ?? (typeof title === "string" ? title : undefined);
  useEffect(() => {
    if (tab) document.title = `${tab} · astro-runner`;
  }, [tab]);
  return (
    <div class="page-header">
      {crumbs && crumbs.length > 0 && (
        <nav aria-label="Breadcrumb" class="crumbs">
          <ol>
            {crumbs.map((c) => (
              <li key={c.href}>
                <a href={c.href}>{c.label}</a>
              </li>
            ))}
          </ol>
        </nav>
      )}
      <div class="page-title-row">
        <h1>{title}</h1>
        {actions && <div class="actions">{actions}</div>}
      </div>
      {children}
    </div>
  );
}
