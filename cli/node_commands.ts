/**
 * `cube nodes` (the list), `cube node …` (pause, drain, activate and label nodes) and
 * `cube managers`.
 *
 * @module
 */

import { Command } from "commander";
import type { Node } from "../task/mod.ts";
import { CliError, type ManagerClient } from "./client.ts";
import type { ConnectionFlags } from "./config.ts";
import { bytes, table } from "./format.ts";
import { connect, managerOption } from "./task_commands.ts";

function labelsOf(node: Node): string {
  const entries = Object.entries(node.Labels ?? {});
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(",") : "-";
}

async function list(flags: ConnectionFlags & { json?: boolean }): Promise<void> {
  using client = await connect(flags);
  const nodes = await client.nodes();
  if (flags.json) return console.log(JSON.stringify(nodes, null, 2));
  console.log(table(
    ["NAME", "STATUS", "AVAILABILITY", "CPU", "MEMORY", "DISK", "TASKS", "LABELS"],
    nodes.map((n) => [
      n.Name,
      n.Status,
      n.Availability ?? "active",
      `${+n.CpuAllocated.toFixed(2)}/${n.Cores} cores`,
      `${bytes(n.MemoryAllocated)}/${bytes(n.Memory)}`,
      `${bytes(n.DiskAllocated)}/${bytes(n.Disk)}`,
      String(n.TaskCount),
      labelsOf(n),
    ]),
  ));
}

async function listManagers(flags: ConnectionFlags & { json?: boolean }): Promise<void> {
  using client = await connect(flags);
  const managers = await client.managers();
  // A manager killed a moment ago is listed until its lease expires: each says how it is.
  const health = await Promise.all(managers.map((m) => client.healthAt(m.Url)));
  const listed = managers.map((m, i) => ({ ...m, Health: health[i] }));
  if (flags.json) return console.log(JSON.stringify(listed, null, 2));
  console.log(table(
    ["URL", "ROLE", "HEALTH", "SINCE"],
    listed.map((m) => [m.Url, m.Leader ? "leader" : "follower", m.Health, m.Since]),
  ));
}

export function managersCommand(): Command {
  return managerOption(
    new Command("managers")
      .description("list the managers sharing this cluster's store, the leader first")
      .option("--json", "machine-readable output"),
  ).action(listManagers);
}

export function nodesCommand(): Command {
  return managerOption(
    new Command("nodes")
      .description("list worker nodes with their capacity and what is allocated")
      .option("--json", "machine-readable output"),
  ).action(list);
}

/** `k=v` adds or changes a label, `k-` removes one. */
export function relabel(
  current: Record<string, string>,
  changes: string[],
): Record<string, string> {
  const labels = { ...current };
  for (const change of changes) {
    const set = change.match(/^([A-Za-z0-9_.-]+)=(.*)$/);
    const unset = change.match(/^([A-Za-z0-9_.-]+)-$/);
    if (set) labels[set[1]] = set[2];
    else if (unset) delete labels[unset[1]];
    else throw new CliError(`invalid label change "${change}" (examples: zone=a, zone-)`);
  }
  return labels;
}

async function nodeNamed(client: ManagerClient, name: string): Promise<Node> {
  const node = (await client.nodes()).find((n) => n.Name === name);
  if (!node) throw new CliError(`no node "${name}"; see 'cube nodes'`);
  return node;
}

export function nodeCommand(): Command {
  const node = managerOption(
    new Command("node")
      .description("list nodes (as 'cube nodes'), or pause, drain, activate or label one")
      .option("--json", "machine-readable output"),
  ).action(list);
  const availability = (verb: string, value: "active" | "pause" | "drain", what: string) =>
    node.addCommand(
      managerOption(new Command(verb).description(what).argument("<name>", "the node"))
        .action(async (name: string, flags: ConnectionFlags) => {
          using client = await connect(flags);
          const updated = await client.updateNode(name, { Availability: value });
          console.log(`${updated.Name} ${updated.Availability}`);
        }),
    );
  availability("pause", "pause", "take no new tasks on the node");
  availability("drain", "drain", "take no new tasks, and stop the node's tasks (they say why)");
  availability("activate", "active", "take new tasks on the node again");
  node.addCommand(
    managerOption(
      new Command("label")
        .description("add (k=v) or remove (k-) the node's labels, as constraints see them")
        .argument("<name>", "the node")
        .argument("<changes...>", "k=v to add or change, k- to remove"),
    ).action(async (name: string, changes: string[], flags: ConnectionFlags) => {
      using client = await connect(flags);
      const current = await nodeNamed(client, name);
      const updated = await client.updateNode(name, {
        Labels: relabel(current.ManagerLabels ?? {}, changes),
      });
      console.log(`${updated.Name} ${labelsOf(updated)}`);
    }),
  );
  return node;
}
