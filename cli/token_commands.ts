/**
 * `cube token …` (user tokens and the worker join token), `cube login` and
 * `cube context …` (where the CLI goes, and with which token).
 *
 * @module
 */

import { Command, Option } from "commander";
import { urlList } from "../lib/url_list.ts";
import { ROLES } from "../security/mod.ts";
import { CliError, ManagerClient } from "./client.ts";
import { configPath, loadConfig, putContext, readCaFile, saveConfig } from "./config.ts";
import { ago, table } from "./format.ts";
import { parseDuration } from "./options.ts";
import { connect, managerOption } from "./task_commands.ts";
import type { ConnectionFlags } from "./config.ts";

function when(time: string): string {
  return time ? ago(time) : "-";
}

function status(token: { ExpireTime: string; RevokeTime: string }): string {
  if (token.RevokeTime) return "revoked";
  if (token.ExpireTime && Date.parse(token.ExpireTime) <= Date.now()) return "expired";
  return "active";
}

export function tokenCommand(): Command {
  const token = new Command("token").description(
    "manage user tokens and the worker join token (admin)",
  );
  token.addCommand(
    managerOption(
      new Command("create")
        .description("create a token; it is printed once and never shown again")
        .addOption(
          new Option("--role <role>", "what it may do").choices([...ROLES]).makeOptionMandatory(),
        )
        .option("--name <name>", "a label, e.g. who or what uses it")
        .addOption(
          new Option("--ttl <duration>", "expires after this long, e.g. 30d (default: never)")
            .argParser(parseDuration),
        )
        .option("--json", "print the token and its record as JSON"),
    ).action(
      async (
        flags: ConnectionFlags & { role: string; name?: string; ttl?: number; json?: boolean },
      ) => {
        using client = await connect(flags);
        const created = await client.createToken({
          Role: flags.role,
          Name: flags.name,
          Ttl: flags.ttl,
        });
        if (flags.json) return console.log(JSON.stringify(created, null, 2));
        console.log(created.Token);
        console.error(
          `token ${created.ID} (${created.Role}${
            created.ExpireTime ? `, expires ${created.ExpireTime}` : ""
          }): keep it now, it is not shown again`,
        );
      },
    ),
  );
  token.addCommand(
    managerOption(
      new Command("ls").alias("list").description("list tokens (never their secrets)")
        .option("--json", "print JSON"),
    ).action(async (flags: ConnectionFlags & { json?: boolean }) => {
      using client = await connect(flags);
      const tokens = await client.tokens();
      if (flags.json) return console.log(JSON.stringify(tokens, null, 2));
      console.log(table(
        ["ID", "NAME", "ROLE", "NODE", "CREATED", "EXPIRES", "STATUS"],
        tokens.map((t) => [
          t.ID,
          t.Name || "-",
          t.Role,
          t.Node ?? "-",
          when(t.CreateTime),
          t.ExpireTime || "never",
          status(t),
        ]),
      ));
    }),
  );
  token.addCommand(
    managerOption(
      new Command("revoke").description("revoke a token at once (a node's: the node is cut off)")
        .argument("<id>", "the token's ID (see 'cube token ls')"),
    ).action(async (id: string, flags: ConnectionFlags) => {
      using client = await connect(flags);
      const revoked = await client.revokeToken(id);
      console.log(`revoked ${revoked.ID}${revoked.Name ? ` (${revoked.Name})` : ""}`);
    }),
  );
  token.addCommand(
    managerOption(
      new Command("join").description("print the worker join token")
        .option("--rotate", "replace it: the old one stops working for new joins"),
    ).action(async (flags: ConnectionFlags & { rotate?: boolean }) => {
      using client = await connect(flags);
      console.log(await client.joinToken(flags.rotate ?? false));
      if (flags.rotate) console.error("the old join token no longer lets workers join");
    }),
  );
  return token;
}

/** `https://a:5555,https://b:5555` (several managers) → each URL, checked. */
function managerList(list: string): string[] {
  const urls = urlList(list);
  for (const url of urls.length ? urls : [list]) {
    try {
      new URL(url);
    } catch {
      throw new CliError(`invalid manager URL "${url}": expected https://HOST:PORT`);
    }
  }
  return urls;
}

/** The context's default name: the first manager's HOST:PORT. */
function contextName(urls: string[]): string {
  return new URL(urls[0]).host;
}

export function loginCommand(): Command {
  return new Command("login")
    .description("check a token against a manager and save both as a context (made current)")
    .argument(
      "<url>",
      "the manager's URL, e.g. https://10.0.0.5:5555, or several managers' separated by commas",
    )
    .addOption(
      new Option("--token <token>", "bearer token").env("CUBE_TOKEN").makeOptionMandatory(),
    )
    .option("--ca <file>", "the cluster CA certificate (the manager's ca.pem)")
    .option("--name <name>", "the context's name (default: HOST:PORT)")
    .action(async (url: string, flags: { token: string; ca?: string; name?: string }) => {
      const urls = managerList(url);
      const name = flags.name ?? contextName(urls);
      const caPem = flags.ca ? await readCaFile(flags.ca) : undefined;
      {
        using client = new ManagerClient({ manager: urls.join(","), token: flags.token, caPem });
        await client.nodes(); // any token that is valid may read: this checks URL, CA and token
      }
      await putContext(name, { Manager: urls.join(","), Token: flags.token, Ca: caPem }, true);
      console.log(`logged in to ${url} as context "${name}" (saved in ${configPath()})`);
    });
}

export function contextCommand(): Command {
  const context = new Command("context").description("list and switch saved managers");
  context.addCommand(
    new Command("ls").alias("list").description("list contexts; * marks the current one")
      .option("--json", "print JSON (without tokens)")
      .action(async (flags: { json?: boolean }) => {
        const config = await loadConfig();
        const rows = Object.entries(config.Contexts).map(([name, c]) => ({
          Name: name,
          Current: name === config.Current,
          Manager: c.Manager,
          Token: Boolean(c.Token),
          Ca: Boolean(c.Ca),
        }));
        if (flags.json) return console.log(JSON.stringify(rows, null, 2));
        console.log(table(
          ["CURRENT", "NAME", "MANAGER", "TOKEN", "CA"],
          rows.map((r) => [
            r.Current ? "*" : "",
            r.Name,
            r.Manager,
            r.Token ? "yes" : "no",
            r.Ca ? "yes" : "system",
          ]),
        ));
      }),
  );
  context.addCommand(
    new Command("use").description("make a context current").argument("<name>")
      .action(async (name: string) => {
        const config = await loadConfig();
        if (!config.Contexts[name]) {
          const known = Object.keys(config.Contexts);
          throw new CliError(
            `no context "${name}"${known.length ? ` (known: ${known.join(", ")})` : ""}`,
          );
        }
        config.Current = name;
        await saveConfig(config);
        console.log(`using context "${name}" (${config.Contexts[name].Manager})`);
      }),
  );
  return context;
}
