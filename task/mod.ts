/**
 * The shared domain: tasks, their states and transitions, and wire validation.
 * Imports nothing from the rest of cube but the error type.
 *
 * @module
 */

export * from "./state.ts";
export * from "./task.ts";
export * from "./transition.ts";
export * from "./schema.ts";
export * from "./node.ts";
export * from "./stats.ts";
