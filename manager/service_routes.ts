/**
 * The service routes: create, list, look at, change (a rolling update), roll back,
 * restart, scale and remove services.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import { readJson } from "../http/app.ts";
import {
  maskedEnv,
  parseScale,
  parseServiceName,
  parseServiceSpec,
  type ServiceSpec,
  type ServiceView,
  type Task,
} from "../task/mod.ts";
import type { Services } from "./services.ts";

function maskSpec(spec: ServiceSpec | null): ServiceSpec | null {
  return spec && { ...spec, Task: { ...spec.Task, Env: maskedEnv(spec.Task.Env) } };
}

/** A service as a reader sees it: its templates' and replicas' environment values masked. */
export function maskService<T extends ServiceView & { Tasks?: Task[] }>(service: T): T {
  return {
    ...service,
    Spec: maskSpec(service.Spec)!,
    PreviousSpec: maskSpec(service.PreviousSpec),
    ...(service.Tasks
      ? { Tasks: service.Tasks.map((t) => ({ ...t, Env: maskedEnv(t.Env) })) }
      : {}),
  };
}

/** `masked(c)` says whether the caller sees environment values masked (a reader). */
export function createServiceRoutes(
  services: Services,
  masked: (c: Context) => boolean = () => false,
): Hono {
  const routes = new Hono();

  routes.post("/services", async (c) => {
    return c.json(await services.create(parseServiceSpec(await readJson(c))), 201);
  });

  routes.get("/services", (c) => {
    const list = services.list();
    return c.json(masked(c) ? list.map(maskService) : list);
  });

  routes.get("/services/:name", (c) => {
    const service = services.get(parseServiceName(c.req.param("name")));
    return c.json(masked(c) ? maskService(service) : service);
  });

  routes.put("/services/:name", async (c) => {
    const name = parseServiceName(c.req.param("name"));
    return c.json(await services.update(name, parseServiceSpec(await readJson(c))));
  });

  routes.post("/services/:name/rollback", async (c) => {
    return c.json(await services.rollback(parseServiceName(c.req.param("name"))));
  });

  routes.post("/services/:name/restart", async (c) => {
    return c.json(await services.restart(parseServiceName(c.req.param("name"))));
  });

  routes.post("/services/:name/scale", async (c) => {
    const name = parseServiceName(c.req.param("name"));
    return c.json(await services.scale(name, parseScale(await readJson(c))));
  });

  routes.delete("/services/:name", async (c) => {
    await services.remove(parseServiceName(c.req.param("name")));
    return c.body(null, 204);
  });

  return routes;
}
