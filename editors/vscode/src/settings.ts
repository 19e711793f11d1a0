/**
 * The server's settings, built from VS Code's `freescode.*` settings.
 *
 * The shape is the server's (and freescode.toml's): nested `routing`, `models`, `local`, `nodes`,
 * `network`, `server`, `completion`. Only values the user set are sent: the editor is the last settings layer on
 * the server, so sending VS Code's defaults would hide whatever freescode.toml says. The server
 * checks every value and reports bad ones in plain words, so nothing is validated here.
 */

/** The tasks a model can be routed to: every task of `freescode tasks --json` (the tests compare). */
export const ROUTED_TASKS = ["debug", "analyze", "fix", "clean", "fix_helper", "refactor", "complete"] as const;

/** How one VS Code setting maps into the server's settings. */
export interface SettingSpec {
  /** The key under `freescode.` in VS Code. */
  readonly key: string;
  /** Where the value goes in the server's settings object. */
  readonly path: readonly string[];
  /** object: deep-merged across scopes, null members dropped; list: null members dropped. */
  readonly kind: "scalar" | "object" | "list";
}

const scalars = (section: string, names: readonly string[]): SettingSpec[] =>
  names.map((name) => ({ key: `${section}.${name}`, path: [section, name], kind: "scalar" }));

/** Every server setting VS Code offers, in the server's names (the same as in freescode.toml). */
export const SERVER_SETTINGS: readonly SettingSpec[] = [
  ...scalars("routing", ROUTED_TASKS),
  { key: "models", path: ["models"], kind: "object" },
  ...scalars("local", ["memory_budget_gb", "threads", "idle_unload_s", "max_context", "models_dir", "auto_pull"]),
  { key: "nodes", path: ["nodes"], kind: "list" },
  ...scalars("network", [
    "mode",
    "registry",
    "registry_key",
    "max_price_per_1k",
    "budget_usd",
    "connect_timeout_s",
    "first_token_timeout_s",
    "chunk_gap_timeout_s",
    "total_timeout_s",
  ]),
  ...scalars("server", [
    "streaming",
    "diagnostics_enabled",
    "diagnostics_on_save",
    "diagnostics_idle_s",
    "hover_enabled",
    "hover_timeout_s",
    "max_file_bytes",
    "max_tokens",
  ]),
  ...scalars("completion", ["enabled", "debounce_ms", "max_lines", "max_tokens"]),
  { key: "completion.disabled_languages", path: ["completion", "disabled_languages"], kind: "list" },
  ...scalars("verify", ["command", "timeout_s", "attempts", "max_output_bytes", "guard"]),
];

/** Settings the extension itself uses; never sent to the server. */
export const CLIENT_SETTINGS: readonly string[] = [
  "server.command",
  "server.args",
  "cli.command",
  "cli.args",
  "languages",
  "trace.server",
];

/** Client settings whose change needs a server restart to apply. */
export const RESTART_SETTINGS: readonly string[] = ["server.command", "server.args", "languages"];

/**
 * Settings taken from the user's own settings only (scope `machine` or `application` in package.json): they
 * send code to other machines, spend money, load model files or run programs, so a repository's
 * `.vscode/settings.json` must not set them. VS Code already ignores workspace values of such settings; the
 * extension reads them from the user's scope alone too.
 */
export const USER_ONLY_SETTINGS: readonly string[] = [
  "nodes",
  "models",
  "local.models_dir",
  "local.auto_pull",
  "verify.command",
  ...SERVER_SETTINGS.filter((spec) => spec.path[0] === "network").map((spec) => spec.key),
  "server.command",
  "server.args",
  "cli.command",
  "cli.args",
];

/** What VS Code's `WorkspaceConfiguration.inspect` reports for one key (the parts used here). */
export interface Inspected {
  readonly globalValue?: unknown;
  readonly workspaceValue?: unknown;
  readonly workspaceFolderValue?: unknown;
}

/** Reads one `freescode.*` key; undefined when nothing is known about it. */
export type Inspector = (key: string) => Inspected | undefined;

type Json = Record<string, unknown>;

export function isPlainObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A deep merge: objects merge, everything else replaces (like VS Code for object settings). */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) {
    return over;
  }
  const out: Json = { ...base };
  for (const [key, value] of Object.entries(over)) {
    out[key] = key in out ? deepMerge(out[key], value) : value;
  }
  return out;
}

/** Drops null and undefined members at any depth: null in settings.json means "not set". */
export function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.filter((item) => item !== null && item !== undefined).map(withoutNulls);
  }
  if (isPlainObject(value)) {
    const out: Json = {};
    for (const [key, member] of Object.entries(value)) {
      if (member !== null && member !== undefined) {
        out[key] = withoutNulls(member);
      }
    }
    return out;
  }
  return value;
}

/**
 * The value the user set, the most specific scope winning; undefined when only the default applies.
 * `userOnly`: the user's own settings alone count, never the workspace's or a folder's.
 */
export function explicitValue(inspected: Inspected | undefined, kind: SettingSpec["kind"], userOnly = false): unknown {
  if (inspected === undefined) {
    return undefined;
  }
  const candidates = userOnly
    ? [inspected.globalValue]
    : [inspected.globalValue, inspected.workspaceValue, inspected.workspaceFolderValue];
  const scopes = candidates.filter((value) => value !== undefined);
  if (scopes.length === 0) {
    return undefined;
  }
  if (kind === "object") {
    let merged: unknown = undefined;
    for (const value of scopes) {
      merged = merged === undefined ? value : deepMerge(merged, value);
    }
    return merged;
  }
  return scopes[scopes.length - 1];
}

function isUnset(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === "string" && value.trim() === "");
}

function setPath(target: Json, path: readonly string[], value: unknown): void {
  let node = target;
  for (const part of path.slice(0, -1)) {
    if (!isPlainObject(node[part])) {
      node[part] = {};
    }
    node = node[part] as Json;
  }
  node[path[path.length - 1]] = value;
}

/**
 * The server's settings object from what the user set in VS Code.
 *
 * An empty string or null means "not set" (the server's default, or freescode.toml's value, applies).
 */
export function buildServerSettings(inspect: Inspector): Json {
  const settings: Json = {};
  for (const spec of SERVER_SETTINGS) {
    const raw = explicitValue(inspect(spec.key), spec.kind, USER_ONLY_SETTINGS.includes(spec.key));
    if (isUnset(raw)) {
      continue;
    }
    const value = spec.kind === "scalar" ? raw : withoutNulls(raw);
    if (isPlainObject(value) && Object.keys(value).length === 0) {
      continue;
    }
    setPath(settings, spec.path, value);
  }
  return settings;
}

/** One item of a `workspace/configuration` request. */
export interface ConfigurationItem {
  readonly section?: string;
  readonly scopeUri?: string;
}

/**
 * Answers `workspace/configuration`: items for our section get the server-shaped settings, the
 * others whatever VS Code's default answer was.
 */
export function answerConfiguration(
  items: readonly ConfigurationItem[],
  section: string,
  build: (scopeUri: string | undefined) => unknown,
  defaults: readonly unknown[],
): unknown[] {
  return items.map((item, index) => (item.section === section ? build(item.scopeUri) : (defaults[index] ?? null)));
}

/** The language ids of the `freescode.languages` setting, trimmed, without blanks or repeats. */
export function languageIds(languages: unknown): string[] {
  const ids = Array.isArray(languages)
    ? languages.filter((id): id is string => typeof id === "string" && id.trim() !== "").map((id) => id.trim())
    : [];
  return [...new Set(ids)];
}

/** A document filter as vscode-languageclient takes it. */
export interface LanguageFilter {
  readonly scheme: string;
  readonly language: string;
}

/** The documents the server is told about: files and unsaved buffers of the configured languages. */
export function documentSelectorFor(languages: unknown): LanguageFilter[] {
  return languageIds(languages).flatMap((language) => [
    { scheme: "file", language },
    { scheme: "untitled", language },
  ]);
}
