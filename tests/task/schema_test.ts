import assert from "node:assert/strict";
import { CubeError } from "../../lib/errors.ts";
import { parseSubmission, parseTaskEvent, parseTaskId, State, ZERO_TIME } from "../../task/mod.ts";

const BOOK_EVENT = {
  ID: "266592cd-960d-4091-981c-8c25c44b1018",
  State: 2,
  Task: {
    State: 1,
    ID: "266592cd-960d-4091-981c-8c25c44b1018",
    Name: "test-chapter-5-1",
    Image: "strm/helloworld-http",
  },
};

function rejects(body: unknown, pattern: RegExp) {
  assert.throws(() => parseTaskEvent(body), (error: unknown) => {
    assert.ok(error instanceof CubeError, `expected a CubeError, got ${error}`);
    assert.equal(error.status, 400);
    assert.match(error.message, pattern);
    return true;
  });
}

Deno.test("the book's task.json is accepted as is", () => {
  const event = parseTaskEvent(BOOK_EVENT);
  assert.equal(event.ID, BOOK_EVENT.ID);
  assert.equal(event.State, State.Running);
  assert.equal(event.Task.ID, BOOK_EVENT.Task.ID);
  assert.equal(event.Task.Name, "test-chapter-5-1");
  assert.equal(event.Task.Image, "strm/helloworld-http");
  assert.equal(event.Task.State, State.Scheduled);
  assert.equal(event.Task.StartTime, ZERO_TIME);
  assert.deepEqual(event.Task.Env, []);
});

Deno.test("the zero values the book's Go client sends are accepted", () => {
  const event = parseTaskEvent({
    ...BOOK_EVENT,
    Timestamp: "0001-01-01T00:00:00Z",
    Task: {
      ...BOOK_EVENT.Task,
      ContainerID: "",
      Cpu: 0,
      Memory: 0,
      Disk: 0,
      ExposedPorts: null,
      PortBindings: null,
      RestartPolicy: "",
      StartTime: "0001-01-01T00:00:00Z",
      FinishTime: "0001-01-01T00:00:00Z",
      HealthCheck: "",
      RestartCount: 0,
      HostPorts: null,
    },
  });
  assert.deepEqual(event.Task.ExposedPorts, {});
  assert.deepEqual(event.Task.HostPorts, {});
});

Deno.test("a bare Task is accepted as a submission and gets IDs", () => {
  const event = parseSubmission({ Name: "web", Image: "nginx" });
  assert.match(event.Task.ID, /^[0-9a-f-]{36}$/);
  assert.equal(event.State, State.Running);
  assert.equal(event.Task.State, State.Pending);
});

Deno.test("ports are normalised to Docker's port/protocol keys", () => {
  const event = parseTaskEvent({
    Task: { Image: "x", ExposedPorts: { "80": {} }, PortBindings: { "53/udp": "127.0.0.1:5353" } },
  });
  assert.deepEqual(event.Task.ExposedPorts, { "80/tcp": {} });
  assert.deepEqual(event.Task.PortBindings, { "53/udp": "127.0.0.1:5353" });
});

Deno.test("a bad UUID is refused and named", () => {
  rejects(
    { ...BOOK_EVENT, Task: { ...BOOK_EVENT.Task, ID: "not-a-uuid" } },
    /Task\.ID: invalid UUID "not-a-uuid"/,
  );
  rejects({ ...BOOK_EVENT, ID: "1234" }, /^Invalid task: ID: invalid UUID "1234"/);
});

Deno.test("an unknown state is refused and named", () => {
  rejects({ ...BOOK_EVENT, State: 9 }, /State: unknown state 9/);
  rejects(
    { ...BOOK_EVENT, Task: { ...BOOK_EVENT.Task, State: -1 } },
    /Task\.State: unknown state -1/,
  );
});

Deno.test("a wrong type is refused and named", () => {
  rejects({ ...BOOK_EVENT, Task: { ...BOOK_EVENT.Task, Memory: "256m" } }, /Task\.Memory/);
  rejects({ ...BOOK_EVENT, Task: { ...BOOK_EVENT.Task, Env: "A=1" } }, /Task\.Env/);
  rejects({ ...BOOK_EVENT, State: "Running" }, /State: must be a number/);
  rejects([], /body|expected object/);
});

Deno.test("a missing Image is refused and named", () => {
  const { Image: _, ...task } = BOOK_EVENT.Task;
  rejects({ ...BOOK_EVENT, Task: task }, /Task\.Image: is required/);
  rejects({ ...BOOK_EVENT, Task: { ...task, Image: "  " } }, /Task\.Image: must not be empty/);
});

Deno.test("an unknown field is refused with a suggestion", () => {
  const { Image, ...task } = BOOK_EVENT.Task;
  rejects(
    { ...BOOK_EVENT, Task: { ...task, Imagee: Image } },
    /Task\.Imagee: unknown field \(did you mean "Image"\?\)/,
  );
  rejects({ ...BOOK_EVENT, Extra: 1 }, /Extra: unknown field/);
});

Deno.test("bad ports, env and health paths are refused", () => {
  rejects({ Task: { Image: "x", ExposedPorts: { "http": {} } } }, /invalid port "http"/);
  rejects({ Task: { Image: "x", PortBindings: { "80/tcp": "eighty" } } }, /invalid host port/);
  rejects({ Task: { Image: "x", Env: ["NOVALUE"] } }, /KEY=value/);
  rejects({ Task: { Image: "x", HealthCheck: "health" } }, /starting with \//);
});

Deno.test("numbers outside what Docker takes are refused at submit, not at container create", () => {
  // Finding 8: {"99999/tcp":{}} was accepted, failed at container create, and was restarted.
  rejects({ Task: { Image: "x", ExposedPorts: { "99999/tcp": {} } } }, /ports are 1 to 65535/);
  rejects({ Task: { Image: "x", ExposedPorts: { "0/tcp": {} } } }, /ports are 1 to 65535/);
  rejects({ Task: { Image: "x", PortBindings: { "80/tcp": "70000" } } }, /0 \(any\) to 65535/);
  rejects({ Task: { Image: "x", PortBindings: { "80/tcp": "127.0.0.1:99999" } } }, /to 65535/);
  rejects({ Task: { Image: "x", Memory: 1024 } }, /at least 6 MiB/);
  rejects({ Task: { Image: "x", Memory: 2 ** 60 } }, /at most 2\^50/);
  rejects({ Task: { Image: "x", Memory: 1.5 } }, /whole number/);
  rejects({ Task: { Image: "x", Disk: -1 } }, /Task\.Disk/);
  rejects({ Task: { Image: "x", Cpu: 0.001 } }, /at least 0\.01 cores/);
  rejects({ Task: { Image: "x", Cpu: 2000 } }, /Task\.Cpu/);
  rejects({ Task: { Image: "x", MaxRestarts: -1 } }, /Task\.MaxRestarts/);
  rejects({ Task: { Image: "x", Health: { Interval: 0 } } }, /Task\.Health\.Interval/);
  rejects({ Task: { Image: "x", Health: { FailureThreshold: 1.5 } } }, /FailureThreshold/);
  rejects({ Task: { Image: "x", ExitCode: 2 ** 40 } }, /Task\.ExitCode/);
  rejects({ Task: { Image: "x", Placement: -1 } }, /Task\.Placement/);
  // The edges are fine.
  const event = parseTaskEvent({
    Task: { Image: "x", ExposedPorts: { "65535/tcp": {} }, PortBindings: { "1/udp": "0" } },
  });
  assert.deepEqual(Object.keys(event.Task.ExposedPorts), ["65535/tcp"]);
  assert.equal(
    parseTaskEvent({ Task: { Image: "x", Memory: 6 * 1024 * 1024 } }).Task.Memory,
    6291456,
  );
});

Deno.test("route IDs must be UUIDs", () => {
  assert.equal(parseTaskId("266592CD-960D-4091-981C-8C25C44B1018"), BOOK_EVENT.ID);
  assert.throws(() => parseTaskId("abc"), /Invalid task ID "abc"/);
});
