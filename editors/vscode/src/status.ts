/** The status bar text, from the server's `freescode/status` notifications and the client's state. */

export const STATUS_METHOD = "freescode/status";

/** The body of a `freescode/status` notification (every field optional: progress updates carry few). */
export interface StatusPayload {
  state?: string;
  task?: string | null;
  model?: string | null;
  requestedModel?: string | null;
  engine?: string | null;
  promptTokens?: number | null;
  completionTokens?: number | null;
  seconds?: number | null;
  tokensPerSecond?: number | null;
  costUsd?: number | null;
  problem?: string | null;
  fallbackReason?: string | null;
}

export type ServerState = "starting" | "running" | "stopped";

/** What the status bar knows: the server's state, the last task, and the spend since VS Code started. */
export interface StatusModel {
  readonly server: ServerState;
  readonly last?: StatusPayload;
  readonly busy: boolean;
  readonly spentUsd: number;
  readonly tasks: number;
}

export interface StatusView {
  readonly text: string;
  readonly tooltip: string;
  readonly warning: boolean;
}

const NAME = "Free-S_Code";
/** Each server task's title, as `freescode tasks --json` gives it (the tests compare). */
export const TASK_VERBS: Readonly<Record<string, string>> = {
  fix: "Fix",
  debug: "Find bugs",
  clean: "Clean up",
  refactor: "Refactor",
  analyze: "Explain",
  fix_helper: "Fix (merge)",
  complete: "Complete",
};
const ENGINE_WIDTH = 24;

export function initialStatus(): StatusModel {
  return { server: "starting", busy: false, spentUsd: 0, tasks: 0 };
}

function finished(state: string | undefined): boolean {
  return state === "done" || state === "failed";
}

function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** Ghost text (inline completion) runs as this task; it has its own hint and never replaces the last task. */
export const COMPLETION_TASK = "complete";

/**
 * The model after one notification: a finished task adds its cost; anything else is work in progress.
 * A suggestion's status only adds what it cost.
 */
export function applyStatus(model: StatusModel, payload: StatusPayload): StatusModel {
  if (payload.task === COMPLETION_TASK) {
    const cost = finished(payload.state) ? (num(payload.costUsd) ?? 0) : 0;
    return cost > 0 ? { ...model, spentUsd: model.spentUsd + cost } : model;
  }
  if (!finished(payload.state)) {
    return { ...model, busy: true, last: payload };
  }
  const cost = num(payload.costUsd) ?? 0;
  return { ...model, busy: false, last: payload, spentUsd: model.spentUsd + Math.max(cost, 0), tasks: model.tasks + 1 };
}

export function withServerState(model: StatusModel, server: ServerState): StatusModel {
  return { ...model, server, busy: server === "running" ? model.busy : false };
}

/** Dollars: "$0" when nothing was spent, four decimals below a cent, else two. */
export function formatUsd(value: number): string {
  if (value <= 0) {
    return "$0";
  }
  return value < 0.01 ? `$${value.toFixed(4)}` : `$${value.toFixed(2)}`;
}

export function verb(task: string | null | undefined): string {
  return task ? (TASK_VERBS[task] ?? task) : "task";
}

function shorten(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

/** The engine as the status bar shows it: "local", or a node's host without "node:" and the scheme. */
export function engineLabel(engine: string): string {
  const host = engine.replace(/^node:/, "").replace(/^https?:\/\//, "").replace(/\/+$/, "");
  return shorten(host, ENGINE_WIDTH);
}

function tokensLine(last: StatusPayload): string | undefined {
  const prompt = num(last.promptTokens);
  const completion = num(last.completionTokens);
  const seconds = num(last.seconds);
  const rate = num(last.tokensPerSecond);
  if (prompt === undefined && completion === undefined) {
    return undefined;
  }
  let line = `Tokens: ${prompt ?? 0} prompt + ${completion ?? 0} completion`;
  if (seconds !== undefined) {
    line += ` in ${seconds.toFixed(1)} s`;
  }
  if (rate !== undefined) {
    line += ` (${rate.toFixed(1)} tokens/s)`;
  }
  return line;
}

/** The status bar item's text and tooltip. */
export function renderStatus(model: StatusModel): StatusView {
  const spend = `Spent this session: ${formatUsd(model.spentUsd)} over ${model.tasks} task${model.tasks === 1 ? "" : "s"}`;
  const click = "Click to show the Free-S_Code output.";
  if (model.server === "stopped") {
    const tooltip = [`${NAME}: the server is not running.`, 'Run "Free-S_Code: Restart Server" to start it.', click];
    return { text: `$(circle-slash) ${NAME}`, tooltip: tooltip.join("\n"), warning: true };
  }
  if (model.server === "starting") {
    return { text: `$(sync~spin) ${NAME}`, tooltip: [`${NAME}: starting the server…`, click].join("\n"), warning: false };
  }
  const last = model.last;
  if (last === undefined) {
    return { text: `$(sparkle) ${NAME}`, tooltip: [`${NAME}: ready, no task run yet.`, spend, click].join("\n"), warning: false };
  }
  const modelName = last.model ?? last.requestedModel ?? "?";
  if (model.busy) {
    const tokens = num(last.completionTokens);
    const progress = tokens ? ` · ${tokens} tok` : "";
    return {
      text: `$(sync~spin) ${verb(last.task)} · ${modelName}${progress}`,
      tooltip: [`${NAME}: ${verb(last.task)} with ${modelName} is running.`, spend, click].join("\n"),
      warning: false,
    };
  }
  const parts = [modelName];
  if (last.engine) {
    parts.push(engineLabel(last.engine));
  }
  const rate = num(last.tokensPerSecond);
  if (rate !== undefined) {
    parts.push(`${rate.toFixed(1)} tok/s`);
  }
  parts.push(formatUsd(model.spentUsd));
  const failed = last.state === "failed";
  const lines = [`${NAME}: last task ${verb(last.task)} ${failed ? "failed" : "done"}`];
  lines.push(`Model: ${modelName}${last.requestedModel && last.requestedModel !== modelName ? ` (routed: ${last.requestedModel})` : ""}`);
  if (last.fallbackReason) {
    lines.push(`Why not ${last.requestedModel ?? "the routed model"}: ${last.fallbackReason}`);
  }
  lines.push(`Engine: ${last.engine ?? "none"}`);
  const tokens = tokensLine(last);
  if (tokens !== undefined) {
    lines.push(tokens);
  }
  lines.push(`Cost: ${formatUsd(num(last.costUsd) ?? 0)}`);
  if (last.problem) {
    lines.push(`Problem: ${last.problem}`);
  }
  lines.push(spend, click);
  return { text: `${failed ? "$(warning)" : "$(sparkle)"} ${parts.join(" · ")}`, tooltip: lines.join("\n"), warning: failed };
}
