/** One webview panel beside the editor showing the last explanation. */

import * as vscode from "vscode";

import { explainHtml } from "./html";

export class ExplainPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;

  async show(subject: string, markdown: string, model: string | undefined): Promise<void> {
    let bodyHtml: string | undefined;
    try {
      const rendered = await vscode.commands.executeCommand<unknown>("markdown.api.render", markdown);
      bodyHtml = typeof rendered === "string" ? rendered : undefined;
    } catch {
      bodyHtml = undefined;
    }
    if (this.panel === undefined) {
      this.panel = vscode.window.createWebviewPanel(
        "freescode.explain",
        "Free-S_Code: Explain",
        { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
        { enableScripts: false, enableFindWidget: true, localResourceRoots: [] },
      );
      this.panel.onDidDispose(() => {
        this.panel = undefined;
      });
    } else {
      this.panel.reveal(vscode.ViewColumn.Beside, true);
    }
    this.panel.webview.html = explainHtml({ subject, model, bodyHtml, markdown, cspSource: this.panel.webview.cspSource });
  }

  dispose(): void {
    this.panel?.dispose();
  }
}
