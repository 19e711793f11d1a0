/** The `freescode.*` settings as VS Code holds them, read for the server and for the extension. */

import * as vscode from "vscode";

import { DEFAULT_SERVER_COMMAND } from "./executable";
import { buildServerSettings, type Inspector } from "./settings";

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
 * initializationOptions: the settings under their section, and whether VS Code trusts this workspace, so the
 * server may take nodes, a registry, budgets and model paths from the workspace's freescode.toml.
 */
export function initializationOptions(): Record<string, unknown> {
  return { [SECTION]: serverSettings(), workspaceTrusted: vscode.workspace.isTrusted };
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

export function clientSettings(): ClientSettings {
  const config = vscode.workspace.getConfiguration(SECTION);
  return {
    serverCommand: config.get<string>("server.command") || DEFAULT_SERVER_COMMAND,
    serverArgs: strings(config.get("server.args")),
    cliCommand: config.get<string>("cli.command") ?? "",
    cliArgs: strings(config.get("cli.args")),
    languages: config.get("languages"),
  };
}

/** The first workspace folder's path, where the server and the CLI look for freescode.toml. */
export function workspaceFolderPath(): string | undefined {
  const folder = vscode.workspace.workspaceFolders?.[0];
  return folder?.uri.scheme === "file" ? folder.uri.fsPath : undefined;
}
