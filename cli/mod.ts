/**
 * The `cube` command line: one subcommand per role and per user action.
 *
 * @module
 */

import { Command } from "commander";
import denoJson from "../deno.json" with { type: "json" };
import { devCommand } from "./dev_command.ts";
import { eventsCommand } from "./event_commands.ts";
import { managerCommand } from "./manager_command.ts";
import { logsCommand, runCommand, statusCommand, stopCommand } from "./task_commands.ts";
import { simCommand } from "./sim_command.ts";
import { workerCommand } from "./worker_command.ts";
import { managersCommand, nodeCommand, nodesCommand } from "./node_commands.ts";
import { applyCommand, serviceCommand } from "./service_commands.ts";
import { contextCommand, loginCommand, tokenCommand } from "./token_commands.ts";

export function createProgram(): Command {
  return new Command("cube")
    .description("a small container orchestrator: a manager schedules tasks onto worker nodes")
    .version(denoJson.version, "-V, --version")
    .showHelpAfterError()
    .addCommand(managerCommand())
    .addCommand(workerCommand())
    .addCommand(devCommand())
    .addCommand(runCommand())
    .addCommand(statusCommand())
    .addCommand(stopCommand())
    .addCommand(logsCommand())
    .addCommand(eventsCommand())
    .addCommand(nodesCommand())
    .addCommand(nodeCommand())
    .addCommand(managersCommand())
    .addCommand(serviceCommand())
    .addCommand(applyCommand())
    .addCommand(tokenCommand())
    .addCommand(loginCommand())
    .addCommand(contextCommand())
    .addCommand(simCommand());
}
