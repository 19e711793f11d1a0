/** The status bar item: last task's model, engine, tokens/s and spend; a spinner while a task runs. */

import * as vscode from "vscode";

import {
  applyStatus,
  initialStatus,
  renderStatus,
  withServerState,
  type ServerState,
  type StatusModel,
} from "./status";

export const SHOW_OUTPUT_COMMAND = "freescode.showOutput";

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private model: StatusModel = initialStatus();

  constructor() {
    this.item = vscode.window.createStatusBarItem("freescode.status", vscode.StatusBarAlignment.Right, 100);
    this.item.name = "Free-S_Code";
    this.item.command = SHOW_OUTPUT_COMMAND;
    this.render();
    this.item.show();
  }

  /** A `freescode/status` notification arrived. */
  update(payload: unknown): void {
    if (typeof payload === "object" && payload !== null && !Array.isArray(payload)) {
      this.model = applyStatus(this.model, payload);
      this.render();
    }
  }

  setServerState(state: ServerState): void {
    this.model = withServerState(this.model, state);
    this.render();
  }

  get current(): StatusModel {
    return this.model;
  }

  private render(): void {
    const view = renderStatus(this.model);
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.backgroundColor = view.warning ? new vscode.ThemeColor("statusBarItem.warningBackground") : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
