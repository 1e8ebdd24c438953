/**
 * The dashboard's pages, server-rendered with Hono JSX: readable with JavaScript off,
 * every action a plain form. `canAct` hides the forms from readers (the routes refuse
 * them too).
 *
 * @module
 */

import type { Child } from "hono/jsx";
import {
  type ClusterEvent,
  countStates,
  type Node,
  type ServiceView,
  State,
  stateName,
  type Task,
  type TaskHistoryEvent,
} from "../task/mod.ts";

export interface Viewer {
  /** Who is signed in ("" when the manager has no security). */
  name: string;
  role: string;
  canAct: boolean;
}

const PAGES = [
  ["/ui", "Overview"],
  ["/ui/tasks", "Tasks"],
  ["/ui/services", "Services"],
  ["/ui/nodes", "Nodes"],
  ["/ui/events", "Events"],
] as const;

export function Layout(
  props: { title: string; path: string; viewer: Viewer | null; filter?: string; children: Child },
) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{props.title} · cube</title>
        <link rel="stylesheet" href="/ui/static/style.css" />
      </head>
      <body>
        <header>
          <strong>cube</strong>
          {props.viewer && (
            <nav aria-label="Sections">
              {PAGES.map(([href, label]) => (
                <a href={href} aria-current={props.path === href ? "page" : undefined}>{label}</a>
              ))}
            </nav>
          )}
          {props.viewer?.name && (
            <form class="inline" method="post" action="/ui/logout">
              <span class="muted">{props.viewer.name} ({props.viewer.role})</span>
              <button type="submit">Sign out</button>
            </form>
          )}
        </header>
        <main data-filter={props.filter ?? ""}>{props.children}</main>
        {props.viewer && <script src="/ui/static/live.js" defer></script>}
      </body>
    </html>
  );
}

export function SignIn(props: { error?: string }) {
  return (
    <form class="signin" method="post" action="/ui/login">
      <h1>Sign in</h1>
      <label for="token">Token</label>
      <input
        id="token"
        name="token"
        type="password"
        autocomplete="off"
        required
        placeholder="cube_…"
      />
      {props.error && <p class="error" role="alert">{props.error}</p>}
      <button type="submit">Sign in</button>
      <p class="muted">
        Any token works: <code>cube token create --role reader</code> makes one that can only look.
      </p>
    </form>
  );
}

function Counts(props: { tasks: Task[] }) {
  return (
    <ul class="counts" aria-label="Tasks by state">
      {Object.entries(countStates(props.tasks)).map(([state, n]) => (
        <li class={`state-${state}`}>
          <b>{n}</b>
          {state}
        </li>
      ))}
    </ul>
  );
}

function Bar(props: { used: number; total: number; label: string }) {
  const total = props.total || 1;
  return (
    <meter min={0} max={total} value={props.used} aria-label={props.label}>
      {Math.round(props.used / total * 100)}%
    </meter>
  );
}

/** A table that scrolls sideways on a narrow screen, rather than the page. */
function Table(props: { head: string[]; children: Child }) {
  return (
    <div class="scroll">
      <table>
        <thead>
          <tr>{props.head.map((h) => <th key={h}>{h}</th>)}</tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

export function NodesTable(props: { nodes: Node[]; viewer: Viewer }) {
  return (
    <Table
      head={[
        "Node",
        "Status",
        "Availability",
        "CPU",
        "Memory",
        "Tasks",
        ...(props.viewer.canAct ? ["Actions"] : []),
      ]}
    >
      {props.nodes.map((node) => (
        <tr>
          <td>{node.Name}</td>
          <td class={node.Status}>{node.Status}</td>
          <td>{node.Availability ?? "active"}</td>
          <td>
            <Bar used={node.CpuAllocated} total={node.Cores} label={`CPU of ${node.Name}`} />{" "}
            <span class="muted">{+node.CpuAllocated.toFixed(2)}/{node.Cores}</span>
          </td>
          <td>
            <Bar
              used={node.MemoryAllocated}
              total={node.Memory}
              label={`memory of ${node.Name}`}
            />{" "}
            <span class="muted">{gib(node.MemoryAllocated)}/{gib(node.Memory)}</span>
          </td>
          <td>{node.TaskCount}</td>
          {props.viewer.canAct && (
            <td>
              {(node.Availability ?? "active") !== "drain" && (
                <form class="inline" method="post" action={`/ui/nodes/${node.Name}/drain`}>
                  <button type="submit">Drain</button>
                </form>
              )}
              {(node.Availability ?? "active") !== "active" && (
                <form class="inline" method="post" action={`/ui/nodes/${node.Name}/activate`}>
                  <button type="submit">Activate</button>
                </form>
              )}
            </td>
          )}
        </tr>
      ))}
    </Table>
  );
}

export function Overview(props: { tasks: Task[]; nodes: Node[]; viewer: Viewer }) {
  return (
    <>
      <h1>Overview</h1>
      <h2>Tasks</h2>
      <Counts tasks={props.tasks} />
      <h2>Nodes</h2>
      <NodesTable nodes={props.nodes} viewer={props.viewer} />
    </>
  );
}

export function TasksPage(props: { tasks: Task[]; state: string; q: string; viewer: Viewer }) {
  return (
    <>
      <h1>Tasks</h1>
      <form class="inline" method="get" action="/ui/tasks" role="search">
        <label for="q">Name or ID</label>
        <input id="q" name="q" value={props.q} />
        <label for="state">State</label>
        <select id="state" name="state">
          <option value="">any</option>
          {["Pending", "Scheduled", "Running", "Completed", "Failed"].map((s) => (
            <option value={s} selected={props.state === s}>{s}</option>
          ))}
        </select>
        <button type="submit">Filter</button>
      </form>
      <Table
        head={["Name", "ID", "State", "Image", "Node", ...(props.viewer.canAct ? ["Actions"] : [])]}
      >
        {props.tasks.map((task) => (
          <tr data-task={task.ID}>
            <td>
              <a href={`/ui/tasks/${task.ID}`}>{task.Name || "-"}</a>
            </td>
            <td class="mono">{task.ID.slice(0, 8)}</td>
            <td class={`state-${stateName(task.State)}`}>{stateName(task.State)}</td>
            <td>{task.Image}</td>
            <td>{task.Node || "-"}</td>
            {props.viewer.canAct && (
              <td>
                {task.State <= State.Running && (
                  <form class="inline" method="post" action={`/ui/tasks/${task.ID}/stop`}>
                    <button type="submit" aria-label={`Stop ${task.Name || task.ID}`}>
                      Stop
                    </button>
                  </form>
                )}
              </td>
            )}
          </tr>
        ))}
      </Table>
      {props.tasks.length === 0 && <p class="muted">No tasks match.</p>}
    </>
  );
}

export function TaskDetail(
  props: { task: Task; events: TaskHistoryEvent[]; logs: string; viewer: Viewer },
) {
  const { task } = props;
  return (
    <>
      <h1>
        Task {task.Name || task.ID}{" "}
        <span class={`state-${stateName(task.State)}`}>{stateName(task.State)}</span>
      </h1>
      <dl>
        <dt>ID</dt>
        <dd class="mono">{task.ID}</dd>
        <dt>Image</dt>
        <dd>{task.Image}</dd>
        <dt>Node</dt>
        <dd>{task.Node || "-"}</dd>
        {task.Error && (
          <>
            <dt>Error</dt>
            <dd class="error">{task.Error}</dd>
          </>
        )}
      </dl>
      {props.viewer.canAct && task.State <= State.Running && (
        <form class="inline" method="post" action={`/ui/tasks/${task.ID}/stop`}>
          <button type="submit">Stop</button>
        </form>
      )}
      <h2>Events</h2>
      <Table head={["Time", "State", "Node", "Message"]}>
        {props.events.map((e) => (
          <tr>
            <td class="mono">{e.Timestamp}</td>
            <td>{e.StateName}</td>
            <td>{e.Node || "-"}</td>
            <td>{e.Message}</td>
          </tr>
        ))}
      </Table>
      <h2>Logs</h2>
      <pre
        class="logs"
        data-follow={task.Node ? `/ui/tasks/${task.ID}/logs` : undefined}
        aria-live="polite"
      >{props.logs || "(no output)"}</pre>
    </>
  );
}

export function ServicesPage(props: { services: ServiceView[]; viewer: Viewer }) {
  return (
    <>
      <h1>Services</h1>
      <Table
        head={[
          "Service",
          "Image",
          "Replicas",
          "Version",
          "Update",
          ...(props.viewer.canAct ? ["Actions"] : []),
        ]}
      >
        {props.services.map((s) => (
          <tr data-service={s.Name}>
            <td>{s.Name}</td>
            <td>{s.Spec.Task.Image}</td>
            <td>
              <span class="replicas">{s.Running}/{s.Desired}</span> running
            </td>
            <td>{s.Version}</td>
            <td>
              {s.UpdateStatus.State || "-"} <span class="muted">{s.UpdateStatus.Message}</span>
            </td>
            {props.viewer.canAct && (
              <td>
                <form class="inline" method="post" action={`/ui/services/${s.Name}/scale`}>
                  <label for={`replicas-${s.Name}`}>Replicas</label>
                  <input
                    id={`replicas-${s.Name}`}
                    name="replicas"
                    type="number"
                    min={0}
                    value={String(s.Desired)}
                  />
                  <button type="submit">Scale</button>
                </form>
                <form class="inline" method="post" action={`/ui/services/${s.Name}/restart`}>
                  <button type="submit">Restart</button>
                </form>
                {s.PreviousSpec && (
                  <form class="inline" method="post" action={`/ui/services/${s.Name}/rollback`}>
                    <button type="submit">Roll back</button>
                  </form>
                )}
              </td>
            )}
          </tr>
        ))}
      </Table>
      {props.services.length === 0 && <p class="muted">No services yet.</p>}
    </>
  );
}

export function EventsPage(props: { events: ClusterEvent[] }) {
  return (
    <>
      <h1>Events</h1>
      <Table head={["#", "Time", "Type", "What", "Of", "Message"]}>
        {[...props.events].reverse().map((e) => (
          <tr>
            <td>{e.Index}</td>
            <td class="mono">{e.Timestamp}</td>
            <td>{e.Type}</td>
            <td>{e.Action}</td>
            <td>{e.Name ?? e.Node ?? "-"}</td>
            <td>{e.Message}</td>
          </tr>
        ))}
      </Table>
    </>
  );
}

export function Problem(props: { message: string }) {
  return (
    <>
      <h1>Cannot do that</h1>
      <p class="error" role="alert">{props.message}</p>
      <p>
        <a href="/ui">Back to the overview</a>
      </p>
    </>
  );
}
