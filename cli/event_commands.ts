/**
 * `cube events`: the cluster's event stream. Without `-f`, what is stored (the newest 20,
 * or everything after `--since`); with `-f`, that and then every event as it happens,
 * until interrupted, following again after the last event shown when a stream ends (a
 * manager stopped, or another one leads now).
 *
 * @module
 */

import { Command, Option } from "commander";
import { sleep } from "../lib/async.ts";
import { errorMessage } from "../lib/errors.ts";
import { type ClusterEvent, EVENT_TYPES } from "../task/mod.ts";
import { CliError, type StreamNotice } from "./client.ts";
import type { ConnectionFlags } from "./config.ts";
import { intOption } from "./options.ts";
import { connect, managerOption } from "./task_commands.ts";

/** The pause before `-f` follows again after its stream ended, in ms. */
const RESUME_PAUSE_MS = 250;

interface EventFlags extends ConnectionFlags {
  follow?: boolean;
  since?: number;
  last?: number;
  task?: string;
  service?: string;
  node?: string;
  type?: string;
  json?: boolean;
}

/** One line per event: index, time, type, what happened, to what, and why. */
export function eventLine(event: ClusterEvent): string {
  const subject = event.Type === "task"
    ? `${event.Name || "-"} (${event.Task?.slice(0, 8)})${event.Node ? ` on ${event.Node}` : ""}`
    : event.Type === "service"
    ? event.Service ?? "-"
    : event.Node ?? "-";
  return [
    String(event.Index).padStart(6),
    event.Timestamp,
    event.Type.padEnd(7),
    event.Action.padEnd(11),
    event.Message ? `${subject}: ${event.Message}` : subject,
  ].join(" ");
}

export function eventsCommand(): Command {
  return managerOption(
    new Command("events")
      .description("show the cluster's events (tasks, services, nodes); -f to follow them live")
      .option("-f, --follow", "keep printing events as they happen, until interrupted")
      .addOption(intOption("--since <index>", "the events after this index"))
      .addOption(intOption("--last <n>", "the newest n events (default 20 without --since)"))
      .option("--task <task>", "only this task (ID or name)")
      .option("--service <name>", "only this service")
      .option("--node <name>", "only this node")
      .addOption(
        new Option("--type <types>", `only these types, comma-separated: ${EVENT_TYPES.join(",")}`),
      )
      .option("--json", "one JSON object per line"),
  ).action(async (flags: EventFlags) => {
    using client = await connect(flags);
    const query: Record<string, string> = { follow: String(!!flags.follow) };
    if (flags.since !== undefined) query.since = String(flags.since);
    else query.last = String(flags.last ?? 20);
    for (const key of ["task", "service", "node", "type"] as const) {
      if (flags[key]) query[key] = flags[key]!;
    }
    const controller = new AbortController();
    const stop = () => controller.abort();
    Deno.addSignalListener("SIGINT", stop);
    let last: number | null = null;
    try {
      for (;;) {
        let ended: string | null = null;
        try {
          for await (const item of client.eventStream(query, controller.signal)) {
            if (item.Type === "gone" || item.Type === "end") {
              if (item.Type === "end" && flags.follow) ended = (item as StreamNotice).Message;
              else console.error(`cube: ${(item as StreamNotice).Message}`);
              continue;
            }
            last = (item as ClusterEvent).Index;
            console.log(flags.json ? JSON.stringify(item) : eventLine(item as ClusterEvent));
          }
        } catch (error) {
          // No manager would open a stream: said and done. A stream cut (its manager died)
          // is followed again below.
          if (error instanceof CliError || !flags.follow) throw error;
          ended = `the stream was cut (${errorMessage(error)})`;
        }
        if (!flags.follow || controller.signal.aborted) break;
        // The stream ended under a follower (the manager stopped, or another leads now):
        // go on after the last event shown, through whichever manager answers.
        console.error(`cube: ${ended ?? "the stream ended"}; following again`);
        if (last !== null) {
          delete query.last;
          query.since = String(last);
        }
        await sleep(RESUME_PAUSE_MS, controller.signal);
      }
    } catch (error) {
      if (!controller.signal.aborted) throw error;
    } finally {
      Deno.removeSignalListener("SIGINT", stop);
    }
  });
}
