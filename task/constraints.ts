/**
 * Placement constraints, as Swarm spells them: `node.name==w1`, `node.name!=w3`,
 * `node.labels.zone==a`, `node.labels.disk!=hdd`. A node without the label does not
 * equal any value (so it satisfies `!=`).
 *
 * @module
 */

import { CubeError } from "../lib/errors.ts";

export interface Constraint {
  /** As written, for messages. */
  text: string;
  /** `name`, or the label's key. */
  field: { kind: "name" } | { kind: "label"; key: string };
  equal: boolean;
  value: string;
}

const CONSTRAINT = /^\s*node\.(name|labels\.([A-Za-z0-9_.-]+))\s*(==|!=)\s*(\S+)\s*$/;

/** What a constraint looks like, for validation at the edge. */
export const CONSTRAINT_FORM = CONSTRAINT;

/** A constraint expression, or a 400 that shows the accepted forms. */
export function parseConstraint(text: string): Constraint {
  const match = text.match(CONSTRAINT);
  if (!match) {
    throw new CubeError(
      400,
      `Invalid constraint "${text}": expected node.name==NAME, node.name!=NAME, node.labels.KEY==VALUE or node.labels.KEY!=VALUE`,
    );
  }
  return {
    text: text.trim(),
    field: match[1] === "name" ? { kind: "name" } : { kind: "label", key: match[2] },
    equal: match[3] === "==",
    value: match[4],
  };
}

/** Whether a node with `name` and `labels` satisfies the constraint. */
export function satisfies(
  constraint: Constraint,
  node: { Name: string; Labels?: Record<string, string> },
): boolean {
  const actual = constraint.field.kind === "name" ? node.Name : node.Labels?.[constraint.field.key];
  return (actual === constraint.value) === constraint.equal;
}
