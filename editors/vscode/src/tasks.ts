/** `freescode.runTask`: its arguments from an editor selection, and what to tell the user about its answer. */

export const RUN_TASK_COMMAND = "freescode.runTask";

export type Task = "fix" | "debug" | "clean" | "refactor" | "analyze";

/** The palette commands that run a task, with the words the user sees (as in `freescode tasks --json`; the tests compare). */
export const TASK_COMMANDS: readonly { command: string; task: Task; title: string }[] = [
  { command: "freescode.fix", task: "fix", title: "Fix" },
  { command: "freescode.findBugs", task: "debug", title: "Find Bugs" },
  { command: "freescode.cleanUp", task: "clean", title: "Clean Up" },
  { command: "freescode.refactor", task: "refactor", title: "Refactor" },
  { command: "freescode.explain", task: "analyze", title: "Explain" },
];

/** The server command of "Fix and verify": a fix's arguments, the candidate checked before it lands. */
export const FIX_VERIFIED_COMMAND = "freescode.fixVerified";

/** The palette command that runs it on the selection or the code unit at the cursor. */
export const FIX_AND_VERIFY = { command: "freescode.fixAndVerify", title: "Fix and Verify" } as const;

export interface Position {
  readonly line: number;
  readonly character: number;
}

/** A selection or cursor, start before end (as VS Code's `Selection.start`/`end` are). */
export interface Span {
  readonly start: Position;
  readonly end: Position;
}

/** The one argument of `freescode.runTask`; lines are 0-based. */
export interface RunTaskArgs {
  uri: string;
  task: Task;
  line: number;
  endLine: number;
  endCharacter: number;
  version: number;
}

/**
 * The arguments for a task on a selection or at the cursor.
 *
 * A cursor (or a selection within one line) means "the code unit around this line"; a selection
 * over several lines means those whole lines, the last one only if the selection reaches into it.
 */
export function runTaskArgs(uri: string, version: number, task: Task, span: Span): RunTaskArgs {
  const [first, last] = span.start.line <= span.end.line ? [span.start, span.end] : [span.end, span.start];
  return {
    uri,
    task,
    line: first.line,
    endLine: last.line,
    endCharacter: last.line === first.line ? 0 : last.character,
    version,
  };
}

/** What the server answers (debug adds `findings`, rewrites add `edits`). */
export interface RunTaskResult {
  applied: boolean;
  message?: string;
  markdown?: string;
  model?: string;
  findings?: number;
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** The server's answer, read defensively: undefined when it is not an answer at all. */
export function parseResult(raw: unknown): RunTaskResult | undefined {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return undefined;
  }
  const value = raw as Record<string, unknown>;
  return {
    applied: value.applied === true,
    message: text(value.message),
    markdown: text(value.markdown),
    model: text(value.model),
    findings: typeof value.findings === "number" ? value.findings : undefined,
  };
}

/**
 * What the user is told after a task.
 *
 * `notice`: a short message in the status bar; `info`: a notification; `explain`: show the markdown;
 * `log`: only a line in the output (the server has already shown its own message for failures).
 */
export type Outcome =
  | { kind: "notice"; text: string }
  | { kind: "info"; text: string; problems: boolean }
  | { kind: "explain"; markdown: string; model?: string }
  | { kind: "log"; text: string }
  | { kind: "error"; text: string };

export function outcomeOf(task: Task, raw: unknown): Outcome {
  const result = parseResult(raw);
  if (result === undefined) {
    return { kind: "error", text: `Free-S_Code: the server gave no answer for ${task}.` };
  }
  const message = result.message ?? (result.applied ? "done" : "nothing was changed");
  if (task === "analyze") {
    return result.markdown !== undefined
      ? { kind: "explain", markdown: result.markdown, model: result.model }
      : { kind: "log", text: `Explain: ${message}` };
  }
  if (task === "debug") {
    const findings = result.findings;
    if (findings !== undefined && message.startsWith("Find bugs")) {
      return { kind: "info", text: `Free-S_Code: ${message}`, problems: findings > 0 };
    }
    return { kind: "log", text: `Find bugs: ${message}` };
  }
  return result.applied ? { kind: "notice", text: `Free-S_Code: ${message}` } : { kind: "log", text: `${task}: ${message}` };
}
