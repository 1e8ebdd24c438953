/**
 * The service routes: create, list, look at, change (a rolling update), roll back,
 * restart, scale and remove services.
 *
 * @module
 */

import { Hono } from "hono";
import { readJson } from "../http/app.ts";
import { parseScale, parseServiceName, parseServiceSpec } from "../task/mod.ts";
import type { Services } from "./services.ts";

export function createServiceRoutes(services: Services): Hono {
  const routes = new Hono();

  routes.post("/services", async (c) => {
    return c.json(await services.create(parseServiceSpec(await readJson(c))), 201);
  });

  routes.get("/services", (c) => c.json(services.list()));

  routes.get("/services/:name", (c) => c.json(services.get(parseServiceName(c.req.param("name")))));

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
