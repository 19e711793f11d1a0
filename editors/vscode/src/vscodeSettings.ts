/** The `freescode.*` settings as VS Code holds them, read for the server and for the extension. */

import * as vscode from "vscode";

import { DEFAULT_SERVER_COMMAND } from "./executable";
import { buildServerSettings, explicitValue, type Inspector, USER_ONLY_SETTINGS } from "./settings";

export const SECTION = "freescode";

/** Reads what the user set for a key, per scope (VS Code's defaults are left out). */
export function inspector(scope?: vscode.Uri): Inspector {
  const config = vscode.workspace.getConfiguration(SECTION, scope);
  return (key) => config.inspect(key);
}

/** The settings object the server takes (initializationOptions, workspace/configuration). */
export function serverSettings(scopeUri?: string): Record<string, unknown> {
  return buildServerSettings(inspector(scopeUri ? vscode.Uri.parse(scopeUri) : undefined));
}

/**
 * initializationOptions: the settings under their section. VS Code's workspace trust is not passed on: the
 * extension runs only in trusted workspaces, and the server still asks before it takes nodes, a registry,
 * budgets or model paths from the workspace's freescode.toml, for the content it shows.
 */
export function initializationOptions(): Record<string, unknown> {
  return { [SECTION]: serverSettings() };
}

/** What the extension itself needs: how to start the server and the CLI, and for which languages. */
export interface ClientSettings {
  readonly serverCommand: string;
  readonly serverArgs: string[];
  readonly cliCommand: string;
  readonly cliArgs: string[];
  readonly languages: unknown;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}

/** The programs and their arguments come from the user's own settings only (see USER_ONLY_SETTINGS). */
export function clientSettings(): ClientSettings {
  const config = vscode.workspace.getConfiguration(SECTION);
  const users = (key: string): unknown => {
    const inspected = config.inspect(key);
    return explicitValue(inspected, "scalar", USER_ONLY_SETTINGS.includes(key)) ?? inspected?.defaultValue;
  };
  const serverCommand = users("server.command");
  const cliCommand = users("cli.command");
  return {
    serverCommand: (typeof serverCommand === "string" && serverCommand) || DEFAULT_SERVER_COMMAND,
    serverArgs: strings(users("server.args")),
    cliCommand: typeof cliCommand === "string" ? cliCommand : "",
    cliArgs: strings(users("cli.args")),
    languages: config.get("languages"),
  };
}

/** The glob of the files whose changes the server is told about: a changed freescode.toml is asked about again. */
export const WATCHED_FILES = "**/freescode.toml";

/** The first workspace folder's path, where the server and the CLI look for freescode.toml. */
export function workspaceFolderPath(): string | undefined {
  const folder = vscode.workspace.workspaceFolders?.[0];
  return folder?.uri.scheme === "file" ? folder.uri.fsPath : undefined;
}
