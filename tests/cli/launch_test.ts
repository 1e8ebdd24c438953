/**
 * Every way of starting cube passes the same V8 flags (the heap settings that keep a big
 * manager's memory down), and the tests and benchmarks start it the same way.
 */
import assert from "node:assert/strict";
import { V8_FLAGS } from "../../testing/process.ts";

const root = new URL("../../", import.meta.url);

Deno.test("deno.json's tasks, scripts/run.sh and the test helper start cube with the same V8 flags", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  for (const name of ["cube", "dev", "manager", "worker", "compile", "install"]) {
    assert.ok(config.tasks[name].includes(` ${V8_FLAGS} `), `task ${name}: ${config.tasks[name]}`);
  }
  const run = await Deno.readTextFile(new URL("scripts/run.sh", root));
  assert.match(run, new RegExp(`exec deno run -A ${V8_FLAGS} main.ts`));
});

Deno.test("a process started with those flags has them: V8 takes them at start", async () => {
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "console.log(1)"],
    env: { DENO_V8_FLAGS: V8_FLAGS.replace("--v8-flags=", "") },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, "V8 knows every flag");
  assert.equal(new TextDecoder().decode(stdout).trim(), "1");
});
