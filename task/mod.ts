/**
 * The shared domain: tasks, their states and transitions, and wire validation.
 * Imports nothing of cube's but `lib/` (leaf helpers that import nothing themselves).
 *
 * @module
 */

export * from "./state.ts";
export * from "./task.ts";
export * from "./schema.ts";
export * from "./node.ts";
export * from "./stats.ts";
export * from "./wire.ts";
export * from "./restart.ts";
export * from "./constraints.ts";
export * from "./service.ts";
export * from "./service_schema.ts";
export * from "./events.ts";
