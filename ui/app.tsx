/**
 * The dashboard at `/ui`: sign in with a token (a session cookie, ui/session.ts), then
 * overview, tasks (with events and live logs), services (scale, restart, roll back),
 * nodes (drain, activate) and events. Pages update themselves from the event stream;
 * every action is a form that works without JavaScript. Readers see no actions, and
 * their posts are refused.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import { raw } from "hono/html";
import type { Child } from "hono/jsx";
import { authorize, type Tokens } from "../security/mod.ts";
import { CubeError, errorMessage } from "../lib/errors.ts";
import { createEventRoutes } from "../manager/event_routes.ts";
import type { Manager } from "../manager/mod.ts";
import { stateName, type Task } from "../task/mod.ts";
import { LIVE_SCRIPT, STYLE } from "./assets.ts";
import {
  EventsPage,
  Layout,
  NodesTable,
  Overview,
  Problem,
  ServicesPage,
  SignIn,
  TaskDetail,
  TasksPage,
  type Viewer,
} from "./pages.tsx";
import { Sessions } from "./session.ts";

const VIEWER = "cube.viewer";

export function createUi(
  { manager, tokens, shutdown }: {
    manager: Manager;
    /** Null: a manager without security (the book's mode); no sign-in. */
    tokens: Tokens | null;
    shutdown?: AbortSignal;
  },
): Hono {
  const ui = new Hono();
  const sessions = new Sessions(tokens);
  const viewerOf = (c: Context) => c.get(VIEWER as never) as Viewer;

  const page = (c: Context, title: string, children: Child, status = 200, filter = "") => {
    const viewer = viewerOf(c) ?? null;
    if (c.req.header("x-cube-fragment")) return c.html(<>{children}</>, status as 200);
    return c.html(
      <>
        {raw("<!DOCTYPE html>")}
        <Layout title={title} path={c.req.path} viewer={viewer} filter={filter}>
          {children}
        </Layout>
      </>,
      status as 200,
    );
  };

  ui.get("/static/style.css", (c) => c.body(STYLE, 200, { "content-type": "text/css" }));
  ui.get(
    "/static/live.js",
    (c) => c.body(LIVE_SCRIPT, 200, { "content-type": "text/javascript" }),
  );

  ui.get("/login", (c) => sessions.required ? page(c, "Sign in", <SignIn />) : c.redirect("/ui"));
  ui.post("/login", async (c) => {
    const form = await c.req.parseBody();
    try {
      await sessions.signIn(c, String(form.token ?? "").trim());
    } catch (error) {
      return page(c, "Sign in", <SignIn error={errorMessage(error)} />, 401);
    }
    return c.redirect("/ui", 303);
  });
  ui.post("/logout", (c) => {
    sessions.signOut(c);
    return c.redirect("/ui/login", 303);
  });

  // Everything else: signed in, and for a change, allowed to and from this site.
  ui.use("*", async (c, next) => {
    if (!sessions.required) {
      c.set(VIEWER as never, { name: "", role: "admin", canAct: true } as never);
      return await next();
    }
    const principal = await sessions.principal(c);
    if (!principal) {
      if (c.req.method === "GET" && !c.req.header("x-cube-fragment")) {
        return c.redirect("/ui/login", 303);
      }
      throw new CubeError(401, "Sign in first: your session has ended");
    }
    let canAct = true;
    try {
      authorize(principal, "POST", "/services/x/scale");
    } catch {
      canAct = false;
    }
    c.set(
      VIEWER as never,
      { name: principal.Name || principal.ID, role: principal.Role, canAct } as never,
    );
    await next();
  });
  ui.use("*", async (c, next) => {
    if (c.req.method !== "POST") return await next();
    const origin = c.req.header("origin");
    if (origin && new URL(origin).host !== new URL(c.req.url).host) {
      throw new CubeError(403, "Refused: the form came from another site");
    }
    if (!viewerOf(c).canAct) {
      throw new CubeError(403, `A ${viewerOf(c).role} token may only look, not change anything`);
    }
    await next();
  });

  // The event stream for the pages' live updates, behind the session instead of a header.
  ui.route("/stream", createEventRoutes(manager.events, shutdown, "/"));

  ui.get("/", (c) =>
    page(
      c,
      "Overview",
      <Overview tasks={manager.tasks.list()} nodes={manager.listNodes()} viewer={viewerOf(c)} />,
    ));

  ui.get("/tasks", (c) => {
    const state = c.req.query("state") ?? "";
    const q = (c.req.query("q") ?? "").trim();
    const tasks = manager.tasks.list().filter((t: Task) =>
      (!state || stateName(t.State) === state) &&
      (!q || t.Name.includes(q) || t.ID.startsWith(q))
    ).reverse();
    return page(
      c,
      "Tasks",
      <TasksPage tasks={tasks} state={state} q={q} viewer={viewerOf(c)} />,
      200,
      "?type=task",
    );
  });

  ui.get("/tasks/:id", async (c) => {
    const task = manager.tasks.get(c.req.param("id"));
    if (!task) return page(c, "Not found", <Problem message="No such task" />, 404);
    let logs = "";
    if (task.Node) {
      try {
        const stream = await manager.nodes.client(task.Node).logs(
          task.ID,
          { follow: false, tail: 100 },
          AbortSignal.timeout(5_000),
        );
        logs = await new Response(stream).text();
      } catch (error) {
        logs = `(logs unavailable: ${errorMessage(error)})`;
      }
    }
    return page(
      c,
      `Task ${task.Name || task.ID}`,
      <TaskDetail
        task={task}
        events={manager.tasks.history(task.ID).History}
        logs={logs}
        viewer={viewerOf(c)}
      />,
      200,
      `?task=${task.ID}`,
    );
  });

  ui.get("/tasks/:id/logs", async (c) => {
    const task = manager.tasks.require(c.req.param("id"));
    if (!task.Node) throw new CubeError(409, `Task ${task.ID} is not placed on a node yet`);
    const signal = shutdown ? AbortSignal.any([c.req.raw.signal, shutdown]) : c.req.raw.signal;
    const stream = await manager.nodes.client(task.Node).logs(
      task.ID,
      { follow: true, tail: 100 },
      signal,
    );
    return c.body(stream, 200, { "content-type": "text/plain; charset=utf-8" });
  });

  ui.post("/tasks/:id/stop", async (c) => {
    const task = manager.tasks.require(c.req.param("id"));
    await manager.stop(task.ID, "stopped from the dashboard");
    return c.redirect(back(c, "/ui/tasks"), 303);
  });

  ui.get("/services", (c) =>
    page(
      c,
      "Services",
      <ServicesPage services={manager.services.list()} viewer={viewerOf(c)} />,
      200,
      "?type=service,task",
    ));

  ui.post("/services/:name/scale", async (c) => {
    const form = await c.req.parseBody();
    const replicas = Number(form.replicas);
    if (!Number.isInteger(replicas) || replicas < 0 || replicas > 100_000) {
      throw new CubeError(400, `Invalid replicas: "${form.replicas}" is not a whole number`);
    }
    await manager.services.scale(c.req.param("name"), replicas);
    return c.redirect("/ui/services", 303);
  });
  ui.post("/services/:name/restart", async (c) => {
    await manager.services.restart(c.req.param("name"));
    return c.redirect("/ui/services", 303);
  });
  ui.post("/services/:name/rollback", async (c) => {
    await manager.services.rollback(c.req.param("name"));
    return c.redirect("/ui/services", 303);
  });

  ui.get("/nodes", (c) =>
    page(
      c,
      "Nodes",
      <>
        <h1>Nodes</h1>
        <NodesTable nodes={manager.listNodes()} viewer={viewerOf(c)} />
      </>,
      200,
      "?type=node,task",
    ));
  for (const [action, availability] of [["drain", "drain"], ["activate", "active"]] as const) {
    ui.post(`/nodes/:name/${action}`, async (c) => {
      await manager.updateNode(c.req.param("name"), { Availability: availability });
      return c.redirect("/ui/nodes", 303);
    });
  }

  ui.get("/events", (c) => page(c, "Events", <EventsPage events={manager.events.last(100, {})} />));

  ui.onError((error, c) => {
    const status = error instanceof CubeError ? error.status : 500;
    return page(c, "Cannot do that", <Problem message={errorMessage(error)} />, status);
  });
  return ui;
}

/** Where to go after an action: back where the form was, when that is a dashboard page. */
function back(c: Context, fallback: string): string {
  const referer = c.req.header("referer");
  if (!referer) return fallback;
  const url = new URL(referer);
  return url.host === new URL(c.req.url).host && url.pathname.startsWith("/ui")
    ? url.pathname + url.search
    : fallback;
}
