/**
 * Simulated worker nodes: the worker's protocol without Docker, for measuring and testing
 * the control plane at a scale one machine cannot run containers for.
 *
 * @module
 */

export { SimNode, type SimNodeOptions } from "./sim_node.ts";
export { type Fleet, type FleetOptions, startFleet } from "./fleet.ts";
