/**
 * The dashboard in a real browser (Debian's chromium through npm playwright-core) against
 * a real cluster: sign-in, a task submitted through the API appearing without a reload,
 * stopping it from the page, scaling a service from the page, and a reader seeing no
 * actions (and refused when it posts one anyway). Screenshots go to test-output/ui/.
 */
import assert from "node:assert/strict";
import { type Browser, chromium, type Page } from "playwright-core";
import { State } from "../../task/mod.ts";
import { startCluster, type TestCluster } from "../../testing/cluster.ts";
import { SLEEP_IMAGE } from "../../testing/docker.ts";
import { request, waitFor } from "../../testing/wait.ts";

const SHOTS = new URL("../../test-output/ui/", import.meta.url).pathname;

async function launch(): Promise<Browser & AsyncDisposable> {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return Object.assign(browser, { [Symbol.asyncDispose]: () => browser.close() });
}

/** A page signed in with `token`; the browser trusts the test manager's own certificate. */
async function signedIn(browser: Browser, cluster: TestCluster, token: string): Promise<Page> {
  // The browser has no way to take the cluster CA as Deno does: it accepts the certificate
  // of this loopback test manager, in this context only.
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  // A navigation cut by a network change may hang instead of failing: tried again sooner.
  context.setDefaultNavigationTimeout(10_000);
  const page = await context.newPage();
  await again(() => page.goto(`${cluster.url}/ui`));
  assert.match(page.url(), /\/ui\/login$/, "signed out, the dashboard asks to sign in");
  await act(page, async () => {
    // Again after a dropped post: from the sign-in page, wherever the drop left the browser.
    if (!/\/ui\/login$/.test(page.url())) await page.goto(`${cluster.url}/ui/login`);
    await page.getByLabel("Token").fill(token, { timeout: 10_000 });
    await page.getByRole("button", { name: "Sign in" }).click();
  }, () => page.waitForURL(/\/ui$/));
  return page;
}

/**
 * Chromium drops a navigation with `ERR_NETWORK_CHANGED` when the host's interfaces
 * change, and Docker adds one for every container it starts: what the browser does next to
 * starting containers is tried again when that (and only that) is why it failed.
 */
async function again<T>(step: () => Promise<T>): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await step();
    } catch (error) {
      // The drop shows as the error itself, as a navigation cut short by Chromium's error
      // page or by Chromium loading the page again on its own, or as a navigation that
      // never ends (each is given 10 s: see `signedIn`).
      const dropped =
        /ERR_NETWORK_CHANGED|interrupted by another navigation to "|Timeout \d+ms exceeded/
          .test(String(error));
      if (attempt === 5 || !dropped) throw error;
      // Chromium may still be loading the page again on its own: let the network settle.
      await networkSettled();
    }
  }
}

/**
 * Waits until the host's interfaces and addresses have not changed for a second (at most
 * 10 s): a container's interface gets its IPv6 address a second or two after the container
 * starts, and each change makes Chromium drop what it is loading.
 */
async function networkSettled(): Promise<void> {
  const snapshot = async () => {
    const names = [...Deno.readDirSync("/sys/class/net")].map((e) => e.name).sort().join(",");
    const inet6 = await Deno.readTextFile("/proc/net/if_inet6").catch(() => "");
    return `${names}\n${inet6}`;
  };
  const deadline = Date.now() + 10_000;
  let last = await snapshot();
  let since = Date.now();
  while (Date.now() < deadline && Date.now() - since < 1_000) {
    await new Promise((r) => setTimeout(r, 100));
    const now = await snapshot();
    if (now !== last) [last, since] = [now, Date.now()];
  }
}

/**
 * Clicks, then waits for what the click should bring; after a post dropped by a network
 * change (Chromium's error page, or a wait that ran out), the page again, and the click
 * again unless what it should bring shows by then.
 */
async function act(page: Page, click: () => Promise<void>, until: () => Promise<unknown>) {
  for (let attempt = 1;; attempt++) {
    await again(click);
    try {
      await until();
      return;
    } catch (error) {
      if (attempt === 3) throw error;
      if (page.url().startsWith("chrome-error:")) await again(() => page.goBack());
      else if (/Timeout \d+ms exceeded/.test(String(error))) await again(() => page.reload());
      else throw error;
      try {
        await until();
        return;
      } catch { /* not done: click again */ }
    }
  }
}

async function shot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });
}

Deno.test("sign in, see a task appear live, stop it and scale a service from the page", async () => {
  await using cluster = await startCluster({ workers: 1 });
  await using browser = await launch();
  const page = await signedIn(browser, cluster, cluster.adminToken);
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === "cube_session")!;
  assert.equal(session.httpOnly, true);
  assert.equal(session.secure, true);
  assert.equal(session.sameSite, "Strict");
  assert.equal(await page.getByRole("heading", { name: "Overview" }).count(), 1);
  await shot(page, "overview");

  // A task submitted through the API shows up without a reload.
  await again(() => page.goto(`${cluster.url}/ui/tasks`));
  await page.evaluate(() => (globalThis as unknown as { marker: number }).marker = 42);
  const task = await cluster.submit({ Name: "live-one", Image: SLEEP_IMAGE });
  const row = page.locator(`tr[data-task="${task.ID}"]`);
  await row.getByText("Running").waitFor({ timeout: 20_000 });
  assert.equal(
    await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker),
    42,
    "the same page, not a reload",
  );
  await shot(page, "tasks");

  // Stopped from the page.
  await act(
    page,
    () => row.getByRole("button", { name: "Stop live-one" }).click(),
    () => page.locator(`tr[data-task="${task.ID}"]`).getByText("Completed").waitFor(),
  );
  assert.equal((await cluster.task(task.ID)).State, State.Completed);

  // A service scaled from the page.
  await request(`${cluster.url}/services`, {
    body: { Name: "web", Replicas: 1, Task: { Image: SLEEP_IMAGE } },
  });
  await again(() => page.goto(`${cluster.url}/ui/services`));
  await page.locator('tr[data-service="web"] .replicas').getByText("1/1").waitFor({
    timeout: 20_000,
  });
  await act(
    page,
    async () => {
      await page.getByLabel("Replicas").fill("2");
      await page.getByRole("button", { name: "Scale" }).click();
    },
    () =>
      page.locator('tr[data-service="web"] .replicas').getByText("2/2").waitFor({
        timeout: 20_000,
      }),
  );
  assert.equal((await request(`${cluster.url}/services/web`)).body.Desired, 2);
  await shot(page, "services");

  // The task's page: its events, and the phone-width layout.
  await page.setViewportSize({ width: 390, height: 844 });
  await again(() => page.goto(`${cluster.url}/ui/tasks/${task.ID}`));
  assert.equal(await page.getByRole("cell", { name: "submitted" }).count(), 1);
  await shot(page, "task-phone");

  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(/\/ui\/login$/);
  await page.context().close();
});

Deno.test("a reader sees no actions, and an action it posts anyway is refused", async () => {
  await using cluster = await startCluster({ workers: 1 });
  const task = await cluster.submit({ Name: "watched", Image: SLEEP_IMAGE });
  await cluster.waitForState(task.ID, State.Running);
  await request(`${cluster.url}/services`, {
    body: { Name: "web", Replicas: 1, Task: { Image: SLEEP_IMAGE } },
  });
  // Its container started (and Docker's network changed) before the browser looks.
  await waitFor("the replica to run", async () => {
    return (await request(`${cluster.url}/services/web`)).body.Running === 1;
  });
  const reader = await cluster.manager.createToken("reader", "viewer");
  await networkSettled();
  await using browser = await launch();
  const page = await signedIn(browser, cluster, reader);
  for (const path of ["/ui", "/ui/tasks", "/ui/services", "/ui/nodes"]) {
    await again(() => page.goto(`${cluster.url}${path}`));
    assert.equal(await page.locator("main form[method=post]").count(), 0, `no actions on ${path}`);
  }
  await again(() => page.goto(`${cluster.url}/ui/tasks`));
  await shot(page, "reader-tasks");
  const refused = await page.request.post(`${cluster.url}/ui/tasks/${task.ID}/stop`, {
    headers: { origin: cluster.url },
  });
  assert.equal(refused.status(), 403);
  assert.equal((await cluster.task(task.ID)).State, State.Running, "nothing changed");
  await page.context().close();
});
