/** Free-S_Code for VS Code: starts freescode-lsp, adds the palette commands and the status bar item. */

import * as vscode from "vscode";

import { runCli } from "./cli";
import { localEnvironment, ServerController } from "./client";
import { fixAndVerifyOnEditor, runTaskOnEditor, showCliReport, type CliReportKind } from "./commands";
import { ExplainPanel } from "./explainPanel";
import { CompletionHint } from "./inlineCompletion";
import { languageIds, RESTART_SETTINGS } from "./settings";
import { SHOW_OUTPUT_COMMAND, StatusBar } from "./statusBar";
import { FIX_AND_VERIFY, TASK_COMMANDS } from "./tasks";
import { clientSettings, SECTION } from "./vscodeSettings";

let controller: ServerController | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("Free-S_Code", { log: true });
  const statusBar = new StatusBar();
  const explainPanel = new ExplainPanel();
  const completionHint = new CompletionHint();
  const server = new ServerController(output, statusBar, completionHint);
  controller = server;
  const ui = {
    output,
    showExplanation: (subject: string, markdown: string, model: string | undefined) => explainPanel.show(subject, markdown, model),
  };
  const languagesContext = (): Thenable<unknown> =>
    vscode.commands.executeCommand("setContext", "freescode.languages", languageIds(clientSettings().languages));
  const report = async (kind: CliReportKind): Promise<void> => {
    await showCliReport(kind, clientSettings(), localEnvironment(), runCli, output);
  };

  context.subscriptions.push(
    output,
    statusBar,
    completionHint,
    explainPanel,
    server,
    ...TASK_COMMANDS.map(({ command, task }) => vscode.commands.registerCommand(command, () => runTaskOnEditor(task, server, ui))),
    vscode.commands.registerCommand(FIX_AND_VERIFY.command, () => fixAndVerifyOnEditor(server, ui)),
    vscode.commands.registerCommand("freescode.showNetworkStatus", () => report("models")),
    vscode.commands.registerCommand("freescode.showUsage", () => report("usage")),
    vscode.commands.registerCommand("freescode.runDoctor", () => report("doctor")),
    vscode.commands.registerCommand("freescode.restartServer", () => server.restart()),
    vscode.commands.registerCommand(SHOW_OUTPUT_COMMAND, () => output.show(true)),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration(`${SECTION}.languages`)) {
        await languagesContext();
      }
      if (RESTART_SETTINGS.some((key) => event.affectsConfiguration(`${SECTION}.${key}`))) {
        const choice = await vscode.window.showInformationMessage(
          "Free-S_Code: the server command or languages changed; restart the server to apply.",
          "Restart Server",
        );
        if (choice === "Restart Server") {
          await server.restart();
        }
      }
    }),
  );
  await languagesContext();
  void server.start();
}

export async function deactivate(): Promise<void> {
  await controller?.stop();
  controller = undefined;
}
