/** Running the `freescode` CLI and collecting what it printed. */

import { execFile } from "node:child_process";

import type { CliResult } from "./reports";

export interface RunOptions {
  readonly cwd?: string;
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
}

/** Runs a program to the end; never rejects: a failure to start is reported in `spawnError`. */
export function runCli(command: string, args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      command,
      [...args],
      { cwd: options.cwd, env: options.env, timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024, windowsHide: true },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ code: 0, stdout, stderr });
          return;
        }
        const code = typeof error.code === "number" ? error.code : null;
        const spawnError = typeof error.code === "string" ? error.code : error.killed ? "timed out" : undefined;
        resolve({ code, stdout, stderr, spawnError });
      },
    );
  });
}
