/** The repository's `freescode` command line, run for the JSON it prints: the server's word the extension's copies are checked against. */

import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

import { repositoryRoot } from "./paths";

export const cli = path.join(repositoryRoot, ".venv", "bin", "freescode");
export const cliAvailable = fs.existsSync(cli);

/** node:test options that skip a test when the command line is not installed. */
export const needsCli = { skip: cliAvailable ? false : `no ${cli}: run \`make install\` in the repository` };

/** What `freescode <args>` prints, parsed as JSON; `fallback` when the command line is not installed. */
export function cliJson<T>(args: readonly string[], fallback: T): T {
  return cliAvailable ? (JSON.parse(execFileSync(cli, args, { encoding: "utf8", timeout: 60_000 })) as T) : fallback;
}
