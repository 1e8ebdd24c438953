/**
 * Validation of service specs (`POST /services`, `PUT /services/{name}`): the task
 * template is checked as a task is, the rest field by field, each problem naming its field.
 *
 * @module
 */

import { z } from "zod";
import { CubeError } from "../lib/errors.ts";
import { CONSTRAINT_FORM } from "./constraints.ts";
import { formatIssues, parseSubmission } from "./schema.ts";
import {
  DEFAULT_UPDATE_CONFIG,
  type ServiceSpec,
  type TaskTemplate,
  TEMPLATE_FIELDS,
} from "./service.ts";

/** At most this many replicas in one service. */
export const MAX_REPLICAS = 100_000;

const serviceName = z.string({ error: "is required" }).min(1).max(63).regex(
  /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/,
  { error: "must be lowercase letters, digits and -, starting and ending with a letter or digit" },
);

const replicas = z.number({ error: "must be a number" }).int({ error: "must be a whole number" })
  .min(0).max(MAX_REPLICAS, { error: `must be at most ${MAX_REPLICAS}` });

const updateInput = z.strictObject({
  Parallelism: z.number().int().min(1).max(MAX_REPLICAS).optional(),
  Delay: z.number().min(0).max(3600).optional(),
  Monitor: z.number().min(0).max(3600).optional(),
  FailureAction: z.enum(["rollback", "pause"], { error: "must be rollback or pause" }).optional(),
  Order: z.enum(["stop-first", "start-first"], { error: "must be stop-first or start-first" })
    .optional(),
});

const placementInput = z.strictObject({
  Constraints: z.array(
    z.string().max(256).refine((text) => CONSTRAINT_FORM.test(text), {
      error: (i) =>
        `invalid constraint ${
          JSON.stringify(i.input)
        } (expected node.name==NAME, node.labels.KEY==VALUE, or with !=)`,
    }),
  ).max(32).optional(),
  Spread: z.string().max(63).regex(/^[A-Za-z0-9_.-]*$/, { error: "must be a label key" })
    .optional(),
});

const specInput = z.strictObject({
  Name: serviceName,
  Replicas: replicas.optional(),
  Task: z.record(z.string(), z.unknown(), { error: "must be a task template" }),
  UpdateConfig: updateInput.optional(),
  Placement: placementInput.optional(),
});

function parsed<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const result = schema.safeParse(body);
  if (!result.success) throw new CubeError(400, `Invalid ${what}: ${formatIssues(result.error)}`);
  return result.data;
}

/** A service spec, with defaults for what is left out. */
export function parseServiceSpec(body: unknown): ServiceSpec {
  const input = parsed(specInput, body, "service");
  for (const field of Object.keys(input.Task)) {
    if (!(TEMPLATE_FIELDS as readonly string[]).includes(field)) {
      throw new CubeError(
        400,
        `Invalid service: Task.${field}: not part of a task template (${
          TEMPLATE_FIELDS.join(", ")
        })`,
      );
    }
  }
  // The template is checked exactly as a submitted task is.
  let task;
  try {
    task = parseSubmission(input.Task).Task;
  } catch (error) {
    if (error instanceof CubeError) {
      throw new CubeError(400, error.message.replace(/^Invalid task: /, "Invalid service: Task."));
    }
    throw error;
  }
  const template = Object.fromEntries(
    TEMPLATE_FIELDS.map((field) => [field, task[field]]),
  ) as unknown as TaskTemplate;
  return {
    Name: input.Name,
    Replicas: input.Replicas ?? 1,
    Task: template,
    UpdateConfig: { ...DEFAULT_UPDATE_CONFIG, ...input.UpdateConfig },
    Placement: {
      Constraints: (input.Placement?.Constraints ?? []).map((c) => c.trim()),
      Spread: input.Placement?.Spread ?? "",
    },
  };
}

/** `POST /services/{name}/scale`: `{"Replicas": N}`. */
export function parseScale(body: unknown): number {
  return parsed(z.strictObject({ Replicas: replicas }), body, "scale").Replicas;
}

/** A service name from a route. */
export function parseServiceName(name: string): string {
  return parsed(serviceName, name, "service name");
}
