/** Text reports from the `freescode` CLI's JSON: the model table (network status) and usage. */

import { INSTALL_COMMAND } from "./executable";

/** How a CLI run ended. */
export interface CliResult {
  /** The exit code; null when the program could not be started or was killed. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The system error when it could not be started or timed out, e.g. "ENOENT". */
  readonly spawnError?: string;
}

export type Report = { ok: true; text: string } | { ok: false; message: string };

/** Rows of cells as left-aligned columns, the first row a header underlined with dashes. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) {
    return "";
  }
  const columns = Math.max(...rows.map((row) => row.length));
  const widths = Array.from({ length: columns }, (_, i) => Math.max(...rows.map((row) => (row[i] ?? "").length)));
  const line = (row: readonly string[]): string =>
    widths
      .map((width, i) => (row[i] ?? "").padEnd(width))
      .join("  ")
      .trimEnd();
  const rule = widths.map((width) => "-".repeat(width)).join("  ");
  return [line(rows[0]), rule, ...rows.slice(1).map(line)].join("\n");
}

/** One value as a table cell. */
export function cell(value: unknown): string {
  if (value === null || value === undefined) {
    return "-";
  }
  if (Array.isArray(value)) {
    return value.length === 0 ? "-" : value.map(cell).join(", ");
  }
  if (typeof value === "number") {
    return Number.isInteger(value) ? value.toLocaleString("en-US") : String(value);
  }
  if (typeof value === "string") {
    return value;
  }
  if (typeof value === "boolean") {
    return value ? "yes" : "no";
  }
  return JSON.stringify(value) ?? "-";
}

function price(value: unknown): string {
  return typeof value === "number" ? `$${value}` : "-";
}

function quoted(command: string, args: readonly string[]): string {
  return `\`${[command, ...args].join(" ")}\``;
}

/** Lines of stderr worth showing (the last few). */
function tail(text: string, lines = 5): string {
  return text.trim().split(/\r?\n/).slice(-lines).join("\n");
}

/** Why a CLI run cannot be reported, in plain words; undefined when it printed its answer. */
export function cliProblem(command: string, args: readonly string[], result: CliResult): string | undefined {
  if (result.spawnError === "ENOENT") {
    return (
      `Free-S_Code: "${command}" was not found. It comes with the language server (${INSTALL_COMMAND}); ` +
      'set "freescode.cli.command" to its full path if it is not on PATH.'
    );
  }
  if (result.spawnError !== undefined) {
    return `Free-S_Code: ${quoted(command, args)} could not run (${result.spawnError}).`;
  }
  if (result.code !== 0) {
    const why = tail(result.stderr) || tail(result.stdout) || "no output";
    return `Free-S_Code: ${quoted(command, args)} failed (exit ${result.code ?? "?"}): ${why}`;
  }
  return undefined;
}

function parseJson(command: string, args: readonly string[], result: CliResult): { value: unknown } | { error: string } {
  try {
    return { value: JSON.parse(result.stdout) as unknown };
  } catch {
    const start = result.stdout.trim().slice(0, 200) || "nothing";
    return { error: `Free-S_Code: ${quoted(command, args)} did not print JSON; it printed: ${start}` };
  }
}

/** The CLI's own remarks on stderr (for example config problems), kept as notes under the report. */
function notes(stderr: string): string {
  const text = stderr.trim();
  return text === "" ? "" : `\n\nNotes from freescode:\n${text}`;
}

export const MODELS_ARGS = ["models", "--json"] as const;
export const USAGE_ARGS = ["usage", "--json"] as const;
export const DOCTOR_ARGS = ["doctor", "--json"] as const;

/** The model catalog and where each model is available now, from `freescode models --json`. */
export function modelsReport(command: string, args: readonly string[], result: CliResult, when: Date): Report {
  const problem = cliProblem(command, args, result);
  if (problem !== undefined) {
    return { ok: false, message: problem };
  }
  const parsed = parseJson(command, args, result);
  if ("error" in parsed) {
    return { ok: false, message: parsed.error };
  }
  if (!Array.isArray(parsed.value)) {
    return { ok: false, message: `Free-S_Code: ${quoted(command, args)} printed JSON that is not a list of models.` };
  }
  const records = parsed.value.filter((item): item is Record<string, unknown> => typeof item === "object" && item !== null);
  const rows = [["model", "context", "price/1K", "available", "specialties"]];
  for (const record of records) {
    rows.push([
      cell(record.id),
      cell(record.context),
      price(record.price_per_1k),
      cell(record.available ?? record.sources),
      cell(record.specialties),
    ]);
  }
  const header = `Free-S_Code network status (${quoted(command, args)}, ${when.toLocaleString()}): ${records.length} models`;
  return { ok: true, text: `${header}\n\n${formatTable(rows)}${notes(result.stderr)}` };
}

/** Any JSON as readable text: objects as "key: value" lines, lists of objects as tables. */
export function renderJson(value: unknown, indent = ""): string {
  if (Array.isArray(value)) {
    if (value.length > 0 && value.every((item) => typeof item === "object" && item !== null && !Array.isArray(item))) {
      const records = value as Record<string, unknown>[];
      const keys = [...new Set(records.flatMap((record) => Object.keys(record)))];
      const table = formatTable([keys, ...records.map((record) => keys.map((key) => cell(record[key])))]);
      return table
        .split("\n")
        .map((line) => indent + line)
        .join("\n");
    }
    return indent + cell(value);
  }
  if (typeof value === "object" && value !== null) {
    const lines: string[] = [];
    for (const [key, member] of Object.entries(value)) {
      if (typeof member === "object" && member !== null && !(Array.isArray(member) && !member.some((m) => typeof m === "object"))) {
        lines.push(`${indent}${key}:`, renderJson(member, `${indent}  `));
      } else {
        lines.push(`${indent}${key}: ${cell(member)}`);
      }
    }
    return lines.join("\n");
  }
  return indent + cell(value);
}

/** Spend and tokens from `freescode usage --json`, or why there are none. */
export function usageReport(command: string, args: readonly string[], result: CliResult, when: Date): Report {
  const missing = result.code === 2 && /invalid choice: '?usage'?/.test(result.stderr);
  if (missing) {
    return {
      ok: false,
      message:
        `Free-S_Code: the installed freescode has no "usage" command yet, so there is no usage to show. ` +
        `Update it with: pip install -U 'freescode-lsp[local]'. The status bar still shows this session's spend.`,
    };
  }
  const problem = cliProblem(command, args, result);
  if (problem !== undefined) {
    return { ok: false, message: problem };
  }
  const parsed = parseJson(command, args, result);
  if ("error" in parsed) {
    return { ok: false, message: parsed.error };
  }
  const header = `Free-S_Code usage (${quoted(command, args)}, ${when.toLocaleString()})`;
  return { ok: true, text: `${header}\n\n${renderJson(parsed.value)}${notes(result.stderr)}` };
}

/** One check of `freescode doctor --json`. */
interface DoctorCheck {
  readonly name: string;
  readonly status: string;
  readonly detail: string;
  readonly todo: string;
}

function isDoctorCheck(value: unknown): value is DoctorCheck {
  const check = value as Partial<DoctorCheck> | null;
  return typeof check === "object" && check !== null && typeof check.name === "string" && typeof check.status === "string";
}

/** The checks of `freescode doctor --json` as lines, each problem followed by what to do. */
export function doctorReport(command: string, args: readonly string[], result: CliResult, when: Date): Report {
  const answered = result.code === 0 || result.code === 1;
  const problem = answered ? undefined : cliProblem(command, args, result);
  if (problem !== undefined) {
    return { ok: false, message: problem };
  }
  const parsed = parseJson(command, args, result);
  if ("error" in parsed) {
    return { ok: false, message: parsed.error };
  }
  if (!Array.isArray(parsed.value) || !parsed.value.every(isDoctorCheck)) {
    return { ok: false, message: `Free-S_Code: ${quoted(command, args)} printed no list of checks.` };
  }
  const lines = parsed.value.flatMap((check) => {
    const head = `${check.status.toUpperCase().padEnd(5)} ${check.name}: ${cell(check.detail)}`;
    return check.status !== "ok" && check.todo ? [head, `      -> ${check.todo}`] : [head];
  });
  const header = `Free-S_Code doctor (${quoted(command, args)}, ${when.toLocaleString()})`;
  return { ok: true, text: `${header}\n\n${lines.join("\n")}` };
}
