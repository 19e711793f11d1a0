/**
 * Ghost text (LSP 3.18 `textDocument/inlineCompletion`): vscode-languageclient registers the provider
 * when the server offers it; this middleware sends no request while the user has suggestions turned
 * off, and shows a status bar hint while one is in flight.
 */

import * as vscode from "vscode";
import type { Middleware } from "vscode-languageclient/node";

/** A hint appears only when a suggestion takes longer than this; quick answers cause no flicker. */
export const HINT_DELAY_MS = 150;

/** Whether the user's `freescode.completion.*` settings allow suggestions in a language. */
export function completionAllowed(enabled: unknown, disabledLanguages: unknown, languageId: string): boolean {
  if (enabled === false) {
    return false;
  }
  return !(Array.isArray(disabledLanguages) && disabledLanguages.includes(languageId));
}

/** The settings as VS Code holds them for this document (its folder's settings win). */
export function completionAllowedIn(document: vscode.TextDocument): boolean {
  const config = vscode.workspace.getConfiguration("freescode", document.uri);
  return completionAllowed(config.get("completion.enabled"), config.get("completion.disabled_languages"), document.languageId);
}

/** The timer functions the hint uses (replaced in tests). */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** A status bar item shown while at least one suggestion request has been waiting past the delay. */
export class CompletionHint implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private inFlight = 0;
  private timer: unknown;

  constructor(
    private readonly delayMs = HINT_DELAY_MS,
    private readonly timers: Timers = realTimers,
  ) {
    this.item = vscode.window.createStatusBarItem("freescode.completion", vscode.StatusBarAlignment.Right, 99);
    this.item.name = "Free-S_Code suggestion";
    this.item.text = "$(loading~spin) suggesting";
    this.item.tooltip = "Free-S_Code: a model is writing a suggestion (turn suggestions off with freescode.completion.enabled).";
  }

  /** A request started; the returned function ends it (calling it again does nothing). */
  begin(): () => void {
    this.inFlight += 1;
    if (this.inFlight === 1) {
      this.timer = this.timers.setTimeout(() => {
        this.timer = undefined;
        this.item.show();
      }, this.delayMs);
    }
    let ended = false;
    return () => {
      if (ended) {
        return;
      }
      ended = true;
      this.inFlight -= 1;
      if (this.inFlight === 0) {
        this.timers.clearTimeout(this.timer);
        this.timer = undefined;
        this.item.hide();
      }
    };
  }

  dispose(): void {
    this.timers.clearTimeout(this.timer);
    this.item.dispose();
  }
}

/** The language client middleware: no request when suggestions are off, the hint while one is in flight. */
export function inlineCompletionMiddleware(
  allowed: (document: vscode.TextDocument) => boolean,
  hint: CompletionHint,
): Pick<Middleware, "provideInlineCompletionItems"> {
  return {
    provideInlineCompletionItems: async (document, position, context, token, next) => {
      if (!allowed(document) || token.isCancellationRequested) {
        return [];
      }
      const end = hint.begin();
      const done = token.onCancellationRequested(end);
      try {
        return await next(document, position, context, token);
      } finally {
        done.dispose();
        end();
      }
    },
  };
}
