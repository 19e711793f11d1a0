/**
 * The server's cancellable work-done progress (a streamed rewrite, Find bugs…) as a notification with a
 * Cancel button. vscode-languageclient shows all server progress in the status bar, where it cannot be
 * cancelled; progress the server marks as not cancellable stays there.
 */

import * as vscode from "vscode";
import {
  WorkDoneProgress,
  WorkDoneProgressCancelNotification,
  WorkDoneProgressCreateRequest,
  type ClientCapabilities,
  type Disposable,
  type FeatureState,
  type ProgressToken,
  type StaticFeature,
  type WorkDoneProgressBegin,
  type WorkDoneProgressEnd,
  type WorkDoneProgressReport,
} from "vscode-languageclient/node";

/** The part of the language client this feature talks to. */
export interface ProgressClient {
  onRequest(type: typeof WorkDoneProgressCreateRequest.type, handler: (params: { token: ProgressToken }) => void): Disposable;
  onProgress(
    type: typeof WorkDoneProgress.type,
    token: ProgressToken,
    handler: (value: WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd) => void,
  ): Disposable;
  sendNotification(type: typeof WorkDoneProgressCancelNotification.type, params: { token: ProgressToken }): Promise<void>;
}

type Reporter = vscode.Progress<{ message?: string; increment?: number }>;

/** One server progress, from `create` to `end`. */
class ProgressView {
  private reporter: Reporter | undefined;
  private finish: (() => void) | undefined;
  private ended = false;
  private reported = 0;
  private readonly subscription: Disposable;

  constructor(
    private readonly client: ProgressClient,
    private readonly token: ProgressToken,
    private readonly onEnd: (view: ProgressView) => void,
  ) {
    this.subscription = client.onProgress(WorkDoneProgress.type, token, (value) => {
      switch (value.kind) {
        case "begin":
          this.begin(value);
          break;
        case "report":
          this.report(value);
          break;
        case "end":
          this.end();
          break;
      }
    });
  }

  private begin(params: WorkDoneProgressBegin): void {
    const cancellable = params.cancellable === true;
    const options = {
      location: cancellable ? vscode.ProgressLocation.Notification : vscode.ProgressLocation.Window,
      title: params.title,
      cancellable,
    };
    void vscode.window.withProgress(options, (progress, cancelled) => {
      if (this.ended) {
        return Promise.resolve();
      }
      this.reporter = progress;
      cancelled.onCancellationRequested(() => {
        void this.client.sendNotification(WorkDoneProgressCancelNotification.type, { token: this.token });
      });
      this.report(params);
      return new Promise<void>((resolve) => {
        this.finish = resolve;
      });
    });
  }

  private report(params: { message?: string; percentage?: number }): void {
    if (this.reporter === undefined) {
      return;
    }
    if (typeof params.percentage === "number") {
      const percentage = Math.max(0, Math.min(params.percentage, 100));
      const increment = Math.max(0, percentage - this.reported);
      this.reported += increment;
      this.reporter.report({ message: params.message, increment });
    } else if (typeof params.message === "string") {
      this.reporter.report({ message: params.message });
    }
  }

  end(): void {
    this.ended = true;
    this.subscription.dispose();
    this.finish?.();
    this.finish = undefined;
    this.onEnd(this);
  }
}

/**
 * Registered after vscode-languageclient's own features, so its handler for
 * `window/workDoneProgress/create` is the one that answers.
 */
export class NotificationProgressFeature implements StaticFeature {
  private readonly active = new Set<ProgressView>();

  constructor(private readonly client: ProgressClient) {}

  getState(): FeatureState {
    return { kind: "static" };
  }

  fillClientCapabilities(capabilities: ClientCapabilities): void {
    capabilities.window = { ...capabilities.window, workDoneProgress: true };
  }

  initialize(): void {
    this.client.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
      this.active.add(new ProgressView(this.client, token, (view) => this.active.delete(view)));
    });
  }

  /** How many progress views are open. */
  get size(): number {
    return this.active.size;
  }

  clear(): void {
    for (const view of [...this.active]) {
      view.end();
    }
  }
}
