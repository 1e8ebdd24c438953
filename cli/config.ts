/**
 * CLI contexts (as kubectl's and docker's): named managers with their token and CA, kept
 * in `$XDG_CONFIG_HOME/cube/config.json` (default `~/.config/cube/config.json`, mode
 * 0600), and the settings a command uses: flags, then `CUBE_*` variables, then the
 * current context.
 *
 * @module
 */

import { writePrivateFile } from "../lib/files.ts";
import { urlList } from "../lib/url_list.ts";
import { CliError } from "./client.ts";

export interface Context {
  /** The manager's URL. */
  Manager: string;
  Token?: string;
  /** The cluster CA (PEM), kept inline so the context survives a moved state directory. */
  Ca?: string;
}

export interface Config {
  Current?: string;
  Contexts: Record<string, Context>;
}

export const DEFAULT_MANAGER = "https://localhost:5555";

export function configPath(): string {
  const xdg = Deno.env.get("XDG_CONFIG_HOME");
  const home = Deno.env.get("HOME");
  const base = xdg || (home ? `${home}/.config` : ".config");
  return `${base}/cube/config.json`;
}

export async function loadConfig(): Promise<Config> {
  const path = configPath();
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { Contexts: {} };
    throw new CliError(`cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    const config = JSON.parse(text) as Config;
    return { Current: config.Current, Contexts: config.Contexts ?? {} };
  } catch {
    throw new CliError(`${path} is not valid JSON: fix or remove it`);
  }
}

export async function saveConfig(config: Config): Promise<void> {
  await writePrivateFile(configPath(), JSON.stringify(config, null, 2) + "\n");
}

/** Adds (or replaces) a context; makes it current when `current` says so. */
export async function putContext(name: string, context: Context, current: boolean) {
  const config = await loadConfig();
  config.Contexts[name] = context;
  if (current || !config.Current) config.Current = name;
  await saveConfig(config);
}

/** What `--manager`, `--token` and `--ca` (or their `CUBE_*` variables) said. */
export interface ConnectionFlags {
  manager?: string;
  token?: string;
  ca?: string;
}

export interface Connection {
  manager: string;
  token?: string;
  caPem?: string;
}

/** Whether every manager `flag` names is one of the context's (which may list several). */
function sameManager(context: string, flag: string): boolean {
  const known = new Set(urlList(context));
  return urlList(flag).every((url) => known.has(url));
}

/**
 * Where a command goes and with what: flags and variables win over the current context.
 * A context's token and CA go only to that context's manager, never to another URL.
 */
export async function resolveConnection(flags: ConnectionFlags): Promise<Connection> {
  const config = await loadConfig();
  const context = config.Current ? config.Contexts[config.Current] : undefined;
  const manager = flags.manager ?? context?.Manager ?? DEFAULT_MANAGER;
  const ours = context && sameManager(context.Manager, manager) ? context : undefined;
  const caPem = flags.ca ? await readCaFile(flags.ca) : ours?.Ca;
  return { manager, token: flags.token ?? ours?.Token, caPem };
}

/** The cluster CA certificate a `--ca` flag names. */
export async function readCaFile(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new CliError(`cannot read the CA file ${path}: ${(error as Error).message}`);
  }
}
