/** The palette commands: tasks on the active editor, network status and usage from the CLI. */

import * as vscode from "vscode";

import { cliCommandFor, expandCommand, DEFAULT_CLI_COMMAND, DEFAULT_SERVER_COMMAND, type Environment } from "./executable";
import { subjectOf } from "./html";
import {
  DOCTOR_ARGS,
  doctorReport,
  MODELS_ARGS,
  modelsReport,
  usageReport,
  USAGE_ARGS,
  type CliResult,
  type Report,
} from "./reports";
import { FIX_AND_VERIFY, outcomeOf, parseResult, runTaskArgs, TASK_COMMANDS, type RunTaskArgs, type Task } from "./tasks";
import type { ClientSettings } from "./vscodeSettings";

/** The server as the commands use it (the real one is ServerController). */
export interface TaskServer {
  start(): Promise<void>;
  readonly running: boolean;
  asServerUri(uri: vscode.Uri): string;
  covers(document: vscode.TextDocument): boolean;
  runTask(args: RunTaskArgs): Promise<unknown>;
  fixVerified(args: RunTaskArgs): Promise<unknown>;
}

/** Where results go. */
export interface Ui {
  readonly output: vscode.OutputChannel;
  showExplanation(subject: string, markdown: string, model: string | undefined): Promise<void>;
}

/** The palette title of a task's command ("Find Bugs"). */
function titleOf(task: Task): string {
  return TASK_COMMANDS.find((entry) => entry.task === task)?.title ?? task;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The active editor, once the server that covers its language runs; undefined after telling the user why not. */
async function readyEditor(title: string, server: TaskServer): Promise<vscode.TextEditor | undefined> {
  const editor = vscode.window.activeTextEditor;
  if (editor === undefined) {
    void vscode.window.showWarningMessage(`Free-S_Code: ${title} works on the active editor; open a file first.`);
    return undefined;
  }
  const document = editor.document;
  if (!server.covers(document)) {
    void vscode.window.showWarningMessage(
      `Free-S_Code is not enabled for ${document.languageId} files. ` +
        `Add "${document.languageId}" to the "freescode.languages" setting, then restart the server.`,
    );
    return undefined;
  }
  await server.start();
  if (!server.running) {
    void vscode.window.showWarningMessage('Free-S_Code: the language server is not running. Run "Free-S_Code: Restart Server".');
    return undefined;
  }
  return editor;
}

/**
 * Runs "Fix and verify" on the active editor's selection, or on the code unit at the cursor. The server shows
 * which attempt runs and what the last check said as cancellable progress, and says itself when none passed.
 */
export async function fixAndVerifyOnEditor(server: TaskServer, ui: Ui): Promise<void> {
  const editor = await readyEditor(FIX_AND_VERIFY.title, server);
  if (editor === undefined) {
    return;
  }
  const args = runTaskArgs(server.asServerUri(editor.document.uri), editor.document.version, "fix", editor.selection);
  let answer: unknown;
  try {
    answer = await server.fixVerified(args);
  } catch (error) {
    const message = `Free-S_Code: ${FIX_AND_VERIFY.title} failed: ${errorText(error)}`;
    ui.output.appendLine(message);
    void vscode.window.showErrorMessage(message);
    return;
  }
  const result = parseResult(answer);
  if (result === undefined) {
    const message = `Free-S_Code: the server gave no answer for ${FIX_AND_VERIFY.title}.`;
    ui.output.appendLine(message);
    void vscode.window.showErrorMessage(message);
  } else if (result.applied) {
    const notice = `Free-S_Code: ${result.message ?? "verified"}`;
    ui.output.appendLine(notice);
    vscode.window.setStatusBarMessage(notice, 5000);
  } else {
    // The server has already shown why: the check's output, the best candidate and how to apply it anyway.
    ui.output.appendLine(`${FIX_AND_VERIFY.title}: ${result.message ?? "nothing was changed"}`);
  }
}

/** Runs a task on the active editor's selection, or on the code unit at the cursor. */
export async function runTaskOnEditor(task: Task, server: TaskServer, ui: Ui): Promise<void> {
  const editor = await readyEditor(titleOf(task), server);
  if (editor === undefined) {
    return;
  }
  const document = editor.document;
  const args = runTaskArgs(server.asServerUri(document.uri), document.version, task, editor.selection);
  let answer: unknown;
  try {
    // Rewrites show the server's own cancellable progress; the others get a spinner in the status bar.
    answer =
      task === "analyze" || task === "debug"
        ? await vscode.window.withProgress(
            { location: vscode.ProgressLocation.Window, title: `Free-S_Code: ${titleOf(task)}` },
            () => server.runTask(args),
          )
        : await server.runTask(args);
  } catch (error) {
    const message = `Free-S_Code: ${titleOf(task)} failed: ${errorText(error)}`;
    ui.output.appendLine(message);
    void vscode.window.showErrorMessage(message);
    return;
  }
  const outcome = outcomeOf(task, answer);
  switch (outcome.kind) {
    case "explain":
      ui.output.appendLine(`Explain: ${outcome.model ?? "a model"} explained ${subjectOf(document.fileName, args)}`);
      await ui.showExplanation(subjectOf(document.fileName, args), outcome.markdown, outcome.model);
      break;
    case "notice":
      ui.output.appendLine(outcome.text);
      vscode.window.setStatusBarMessage(outcome.text, 5000);
      break;
    case "info": {
      ui.output.appendLine(outcome.text);
      const choice = await vscode.window.showInformationMessage(outcome.text, ...(outcome.problems ? ["Show Problems"] : []));
      if (choice === "Show Problems") {
        await vscode.commands.executeCommand("workbench.actions.view.problems");
      }
      break;
    }
    case "log":
      ui.output.appendLine(outcome.text);
      break;
    case "error":
      ui.output.appendLine(outcome.text);
      void vscode.window.showErrorMessage(outcome.text);
      break;
  }
}

export type CliRunner = (command: string, args: readonly string[], options: { cwd?: string; timeoutMs?: number }) => Promise<CliResult>;

/** Which CLI report to show. */
export type CliReportKind = "models" | "usage" | "doctor";

/** Doctor loads the embedded model in a child process: give it longer than the table reports. */
const DOCTOR_TIMEOUT_MS = 180_000;

const REPORTS = {
  models: { args: MODELS_ARGS, title: "Free-S_Code: network status", render: modelsReport },
  usage: { args: USAGE_ARGS, title: "Free-S_Code: usage", render: usageReport },
  doctor: { args: DOCTOR_ARGS, title: "Free-S_Code: doctor", render: doctorReport },
} as const;

/** Runs `freescode models|usage|doctor --json` and shows the report in the output. */
export async function showCliReport(
  kind: CliReportKind,
  settings: ClientSettings,
  environment: Environment,
  run: CliRunner,
  output: vscode.OutputChannel,
): Promise<Report> {
  const serverCommand = expandCommand(settings.serverCommand, DEFAULT_SERVER_COMMAND, environment);
  const cli = expandCommand(cliCommandFor(serverCommand, settings.cliCommand, environment.platform), DEFAULT_CLI_COMMAND, environment);
  const { args: kindArgs, title, render } = REPORTS[kind];
  const args = [...settings.cliArgs, ...kindArgs];
  const options = kind === "doctor" ? { cwd: environment.workspaceFolder, timeoutMs: DOCTOR_TIMEOUT_MS } : { cwd: environment.workspaceFolder };
  const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title }, () => run(cli, args, options));
  const report = render(cli, args, result, new Date());
  if (report.ok) {
    output.appendLine("");
    output.appendLine(report.text);
    output.show(true);
  } else {
    output.appendLine(report.message);
    void vscode.window.showErrorMessage(report.message);
  }
  return report;
}
