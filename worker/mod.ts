/**
 * The node agent: Docker runtime, task lifecycle, stats and HTTP API.
 *
 * @module
 */

export { createWorkerApp } from "./app.ts";
export { DockerRuntime, type DockerRuntimeOptions, type PullPolicy } from "./docker_runtime.ts";
export { type Stats, StatsCollector } from "./stats.ts";
export { Worker, type WorkerOptions } from "./worker.ts";
export type { AgentHealth, NodeAgent, SubmitResult } from "./agent.ts";
export { ManagerLink, type ManagerLinkOptions } from "./manager_link.ts";
