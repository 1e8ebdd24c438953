/**
 * The control plane: dispatch, status sync, restarts, liveness and its HTTP API.
 *
 * @module
 */

export { createManagerApp } from "./app.ts";
export { Manager, type ManagerOptions } from "./manager.ts";
export { type Desired, type Edit, type Mutation, TaskBook } from "./task_book.ts";
export { type Story, STORY_LIMIT, type TaskRecord } from "./history.ts";
export { NodeRegistry } from "./nodes.ts";
export { WorkerClient } from "./worker_client.ts";
