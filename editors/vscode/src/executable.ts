/** Finding the `freescode-lsp` and `freescode` programs before starting them, to fail with a useful message. */

import * as path from "node:path";

export const DEFAULT_SERVER_COMMAND = "freescode-lsp";
export const DEFAULT_CLI_COMMAND = "freescode";
export const INSTALL_COMMAND = "pip install 'freescode-lsp[local]'";

/** What the search may look at; the real one is built from process.env and fs. */
export interface Environment {
  readonly platform: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly home: string;
  readonly workspaceFolder?: string;
  readonly isExecutableFile: (file: string) => boolean;
}

/** `~` and `${workspaceFolder}` / `${userHome}` expanded; an empty setting becomes the default. */
export function expandCommand(command: unknown, fallback: string, environment: Environment): string {
  let value = typeof command === "string" ? command.trim() : "";
  if (value === "") {
    return fallback;
  }
  value = value.replace(/\$\{userHome\}/g, environment.home);
  if (environment.workspaceFolder !== undefined) {
    value = value.replace(/\$\{workspaceFolder\}/g, environment.workspaceFolder);
  }
  if (value === "~" || value.startsWith("~/") || value.startsWith("~\\")) {
    value = environment.home + value.slice(1);
  }
  return value;
}

function pathModule(platform: string): typeof path.posix {
  return platform === "win32" ? path.win32 : path.posix;
}

function hasDirectory(command: string, platform: string): boolean {
  return command.includes("/") || (platform === "win32" && command.includes("\\"));
}

function candidates(file: string, platform: string, env: Environment["env"]): string[] {
  if (platform !== "win32") {
    return [file];
  }
  const extensions = (env.PATHEXT ?? ".COM;.EXE;.BAT;.CMD").split(";").filter(Boolean);
  const hasExtension = extensions.some((ext) => file.toLowerCase().endsWith(ext.toLowerCase()));
  return hasExtension ? [file] : [file, ...extensions.map((ext) => file + ext)];
}

/** The full path the command would run from, or undefined when there is no such program. */
export function findExecutable(command: string, environment: Environment): string | undefined {
  const { platform, env } = environment;
  const paths = pathModule(platform);
  if (hasDirectory(command, platform)) {
    const absolute = paths.isAbsolute(command)
      ? command
      : paths.resolve(environment.workspaceFolder ?? environment.home, command);
    return candidates(absolute, platform, env).find(environment.isExecutableFile);
  }
  const searchPath = env.PATH ?? env.Path ?? "";
  for (const directory of searchPath.split(platform === "win32" ? ";" : ":")) {
    if (directory === "") {
      continue;
    }
    const found = candidates(paths.join(directory, command), platform, env).find(environment.isExecutableFile);
    if (found !== undefined) {
      return found;
    }
  }
  return undefined;
}

/**
 * The `freescode` CLI to run: the setting if given, else the `freescode` next to a server named by
 * path (both come from the same pip install), else `freescode` on PATH.
 */
export function cliCommandFor(serverCommand: string, cliSetting: string, platform: string): string {
  if (cliSetting.trim() !== "") {
    return cliSetting.trim();
  }
  const paths = pathModule(platform);
  if (hasDirectory(serverCommand, platform)) {
    const base = paths.basename(serverCommand);
    const match = /^freescode-lsp(\.exe|\.cmd|\.bat)?$/i.exec(base);
    if (match) {
      return paths.join(paths.dirname(serverCommand), DEFAULT_CLI_COMMAND + (match[1] ?? ""));
    }
  }
  return DEFAULT_CLI_COMMAND;
}

export const SERVER_COMMAND_SETTING = "freescode.server.command";

/** Where `freescode.server.command` is read in the current window, and the button that goes there. */
export interface SettingsPlace {
  /** Words for the message, e.g. "in the Remote settings (SSH)". */
  readonly where: string;
  readonly button: string;
  /** The VS Code command the button runs, and its argument. */
  readonly command: string;
  readonly argument: unknown;
}

const REMOTE_LABELS: Record<string, string> = {
  "ssh-remote": "SSH",
  wsl: "WSL",
  "dev-container": "Dev Container",
  "attached-container": "Dev Container",
  codespaces: "Codespaces",
  tunnel: "Tunnel",
};

/** A remote window's kind as people say it: "SSH", "WSL", "Dev Container"…; other names as they are. */
export function remoteLabel(remoteName: string): string {
  return REMOTE_LABELS[remoteName] ?? remoteName;
}

/**
 * The setting is `machine`-scoped: a repository's workspace settings cannot name the program to run. In a local
 * window it is read from the User settings; in a remote window (SSH, WSL, dev containers, Codespaces,
 * code-server) the server runs on the remote machine, so only the Remote settings of that machine count.
 */
export function settingsPlace(remoteName: string | undefined): SettingsPlace {
  if (remoteName === undefined || remoteName === "") {
    return {
      where: "in your User settings",
      button: "Open Settings",
      command: "workbench.action.openSettings",
      argument: SERVER_COMMAND_SETTING,
    };
  }
  return {
    where:
      `in the Remote settings (${remoteLabel(remoteName)}): ` +
      "in this window your User settings are not read for it, because the server runs on the remote machine",
    button: "Open Remote Settings",
    command: "workbench.action.openRemoteSettings",
    argument: { query: SERVER_COMMAND_SETTING },
  };
}

/** The words shown when the server program is missing; `remoteName` is VS Code's `env.remoteName`. */
export function notFoundMessage(command: string, remoteName?: string): string {
  const remote = remoteName !== undefined && remoteName !== "";
  const on = remote ? ` on the remote machine (${remoteLabel(remoteName)})` : "";
  const named =
    command === DEFAULT_SERVER_COMMAND ? `\`freescode-lsp\` was not found on PATH${on}` : `"${command}" was not found${on}`;
  return (
    `Free-S_Code: the language server ${named}. ` +
    `Install it${remote ? " there" : ""} with: ${INSTALL_COMMAND} — or set "${SERVER_COMMAND_SETTING}" to its full path ` +
    `(for example the one in your virtual environment's bin folder) ${settingsPlace(remoteName).where}.`
  );
}
