/** Starting, restarting and talking to the freescode-lsp server through vscode-languageclient. */

import * as fs from "node:fs";
import * as os from "node:os";

import * as vscode from "vscode";
import {
  CloseAction,
  DidChangeConfigurationNotification,
  ErrorAction,
  ExecuteCommandRequest,
  LanguageClient,
  RevealOutputChannelOn,
  State,
  type LanguageClientOptions,
  type ServerOptions,
} from "vscode-languageclient/node";

import {
  expandCommand,
  findExecutable,
  DEFAULT_SERVER_COMMAND,
  INSTALL_COMMAND,
  notFoundMessage,
  settingsPlace,
  type Environment,
} from "./executable";
import { completionAllowedIn, type CompletionHint, inlineCompletionMiddleware } from "./inlineCompletion";
import { NotificationProgressFeature } from "./progress";
import { CrashLimiter } from "./restart";
import { answerConfiguration, documentSelectorFor } from "./settings";
import { STATUS_METHOD } from "./status";
import type { StatusBar } from "./statusBar";
import { FIX_VERIFIED_COMMAND, RUN_TASK_COMMAND, type RunTaskArgs } from "./tasks";
import {
  clientSettings,
  initializationOptions,
  SECTION,
  serverSettings,
  WATCHED_FILES,
  workspaceFolderPath,
} from "./vscodeSettings";

const CLIENT_ID = "freescode";
const CLIENT_NAME = "Free-S_Code";

function isExecutableFile(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) {
      return false;
    }
    if (process.platform !== "win32") {
      fs.accessSync(file, fs.constants.X_OK);
    }
    return true;
  } catch {
    return false;
  }
}

/** What the executable search sees on this machine. */
export function localEnvironment(): Environment {
  return {
    platform: process.platform,
    env: process.env,
    home: os.homedir(),
    workspaceFolder: workspaceFolderPath(),
    isExecutableFile,
  };
}

export class ServerController implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private readonly limiter = new CrashLimiter();
  private starting: Promise<void> | undefined;
  private workspaceFileWatcher: vscode.FileSystemWatcher | undefined;

  constructor(
    private readonly output: vscode.LogOutputChannel,
    private readonly statusBar: StatusBar,
    private readonly completionHint: CompletionHint,
  ) {}

  get running(): boolean {
    return this.client?.state === State.Running;
  }

  /** The URI string the client used when it opened this document on the server. */
  asServerUri(uri: vscode.Uri): string {
    return this.client ? this.client.code2ProtocolConverter.asUri(uri) : uri.toString();
  }

  /** True when this document is one the server knows about (its language is in `freescode.languages`). */
  covers(document: vscode.TextDocument): boolean {
    return vscode.languages.match(documentSelectorFor(clientSettings().languages), document) > 0;
  }

  /** Starts the server if it is not running; shows why when it cannot. */
  start(): Promise<void> {
    this.starting ??= this.startOnce().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async startOnce(): Promise<void> {
    if (this.client !== undefined) {
      return;
    }
    const settings = clientSettings();
    const environment = localEnvironment();
    const command = expandCommand(settings.serverCommand, DEFAULT_SERVER_COMMAND, environment);
    const found = findExecutable(command, environment);
    if (found === undefined) {
      this.statusBar.setServerState("stopped");
      this.output.appendLine(notFoundMessage(command, vscode.env.remoteName));
      void this.offerInstall(command);
      return;
    }
    const serverOptions: ServerOptions = {
      command: found,
      args: settings.serverArgs,
      options: { cwd: environment.workspaceFolder, env: process.env },
    };
    const client = new LanguageClient(CLIENT_ID, CLIENT_NAME, serverOptions, this.clientOptions(settings.languages));
    client.registerFeature(new NotificationProgressFeature(client));
    client.onDidChangeState((event) => {
      this.statusBar.setServerState(
        event.newState === State.Running ? "running" : event.newState === State.Starting ? "starting" : "stopped",
      );
    });
    client.onNotification(STATUS_METHOD, (payload: unknown) => this.statusBar.update(payload));
    this.client = client;
    this.output.appendLine(`Starting ${[found, ...settings.serverArgs].join(" ")}`);
    try {
      await client.start();
    } catch (error) {
      this.client = undefined;
      client.dispose().catch(() => undefined);
      this.statusBar.setServerState("stopped");
      const message = `Free-S_Code: the language server could not start: ${String(error)}`;
      this.output.appendLine(message);
      const choice = await vscode.window.showErrorMessage(message, "Show Output", "Open Settings");
      if (choice === "Show Output") {
        this.output.show(true);
      } else if (choice === "Open Settings") {
        await vscode.commands.executeCommand("workbench.action.openSettings", "freescode.server");
      }
    }
  }

  private async offerInstall(command: string): Promise<void> {
    const place = settingsPlace(vscode.env.remoteName);
    const choice = await vscode.window.showErrorMessage(
      notFoundMessage(command, vscode.env.remoteName),
      place.button,
      "Copy Install Command",
    );
    if (choice === place.button) {
      try {
        await vscode.commands.executeCommand(place.command, place.argument);
      } catch {
        await vscode.commands.executeCommand("workbench.action.openSettings", "freescode.server.command");
      }
    } else if (choice === "Copy Install Command") {
      await vscode.env.clipboard.writeText(INSTALL_COMMAND);
      void vscode.window.showInformationMessage(`Copied: ${INSTALL_COMMAND}`);
    }
  }

  private clientOptions(languages: unknown): LanguageClientOptions {
    return {
      documentSelector: documentSelectorFor(languages),
      outputChannel: this.output,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationOptions: () => initializationOptions(),
      synchronize: { configurationSection: SECTION, fileEvents: this.watchWorkspaceFile() },
      errorHandler: {
        error: (_error, _message, count) => ({ action: count !== undefined && count <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown }),
        closed: () =>
          this.limiter.crashed(Date.now())
            ? { action: CloseAction.Restart, message: "Free-S_Code: the language server stopped; restarting it.", handled: true }
            : { action: CloseAction.DoNotRestart, message: this.limiter.giveUpMessage() },
      },
      middleware: {
        ...inlineCompletionMiddleware(completionAllowedIn, this.completionHint),
        workspace: {
          configuration: async (params, token, next) => {
            const needsDefaults = params.items.some((item) => item.section !== SECTION);
            const defaults = needsDefaults ? await next(params, token) : [];
            return answerConfiguration(params.items, SECTION, serverSettings, Array.isArray(defaults) ? defaults : []);
          },
          didChangeConfiguration: async () => {
            await this.client?.sendNotification(DidChangeConfigurationNotification.type, {
              settings: { [SECTION]: serverSettings() },
            });
          },
        },
      },
    };
  }

  /** Runs `freescode.runTask` on the server and returns its answer. */
  async runTask(args: RunTaskArgs): Promise<unknown> {
    if (this.client === undefined || !this.running) {
      throw new Error("the language server is not running");
    }
    return this.client.sendRequest(ExecuteCommandRequest.type, { command: RUN_TASK_COMMAND, arguments: [args] });
  }

  /** Runs `freescode.fixVerified` on the server and returns its answer. */
  async fixVerified(args: RunTaskArgs): Promise<unknown> {
    if (this.client === undefined || !this.running) {
      throw new Error("the language server is not running");
    }
    return this.client.sendRequest(ExecuteCommandRequest.type, { command: FIX_VERIFIED_COMMAND, arguments: [args] });
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) {
      try {
        await client.dispose(5000);
      } catch (error) {
        this.output.appendLine(`Stopping the server: ${String(error)}`);
      }
    }
    this.statusBar.setServerState("stopped");
  }

  /** Stops the server and starts it again with the current settings; past crashes are forgotten. */
  async restart(): Promise<void> {
    await this.starting;
    await this.stop();
    this.limiter.reset();
    this.statusBar.setServerState("starting");
    await this.start();
  }

  /** One watcher on freescode.toml for the extension's lifetime: the server asks about a changed file again. */
  private watchWorkspaceFile(): vscode.FileSystemWatcher {
    this.workspaceFileWatcher ??= vscode.workspace.createFileSystemWatcher(WATCHED_FILES);
    return this.workspaceFileWatcher;
  }

  dispose(): void {
    this.workspaceFileWatcher?.dispose();
    void this.stop();
  }
}
