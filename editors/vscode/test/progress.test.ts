import assert from "node:assert/strict";
import { test } from "node:test";

import {
  WorkDoneProgressCreateRequest,
  type ProgressToken,
  type WorkDoneProgressBegin,
  type WorkDoneProgressEnd,
  type WorkDoneProgressReport,
} from "vscode-languageclient/node";

import { NotificationProgressFeature, type ProgressClient } from "../src/progress";
import { mock, ProgressLocation } from "./helpers/vscode-mock";

type Value = WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd;

/** The language client as the feature sees it: the server's side is driven by the test. */
class FakeClient implements ProgressClient {
  create: ((params: { token: ProgressToken }) => void) | undefined;
  readonly handlers = new Map<ProgressToken, (value: Value) => void>();
  readonly cancelled: ProgressToken[] = [];

  onRequest(type: typeof WorkDoneProgressCreateRequest.type, handler: (params: { token: ProgressToken }) => void) {
    assert.equal(type.method, WorkDoneProgressCreateRequest.method);
    this.create = handler;
    return { dispose() {} };
  }

  onProgress(_type: unknown, token: ProgressToken, handler: (value: Value) => void) {
    this.handlers.set(token, handler);
    return { dispose: () => this.handlers.delete(token) };
  }

  sendNotification(type: { method: string }, params: { token: ProgressToken }): Promise<void> {
    assert.equal(type.method, "window/workDoneProgress/cancel");
    this.cancelled.push(params.token);
    return Promise.resolve();
  }

  /** The server creates a progress token and sends values on it. */
  server(token: ProgressToken, ...values: Value[]): void {
    if (!this.handlers.has(token)) {
      this.create?.({ token });
    }
    for (const value of values) {
      this.handlers.get(token)?.(value);
    }
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

function started(): { client: FakeClient; feature: NotificationProgressFeature } {
  mock.reset();
  const client = new FakeClient();
  const feature = new NotificationProgressFeature(client);
  const capabilities: { window?: { workDoneProgress?: boolean } } = {};
  feature.fillClientCapabilities(capabilities);
  assert.deepEqual(capabilities, { window: { workDoneProgress: true } });
  feature.initialize();
  return { client, feature };
}

test("a cancellable rewrite shows a notification whose Cancel tells the server", async () => {
  const { client, feature } = started();
  client.server("fix-1", { kind: "begin", title: "Fix with code-llama-7b", cancellable: true, message: "waiting for the model" });
  await tick();
  const [shown] = mock.progress;
  assert.deepEqual(shown.options, { location: ProgressLocation.Notification, title: "Fix with code-llama-7b", cancellable: true });
  client.server("fix-1", { kind: "report", message: "12 tokens" });
  assert.deepEqual(shown.reports, [{ message: "waiting for the model" }, { message: "12 tokens" }]);

  shown.cancel();
  assert.deepEqual(client.cancelled, ["fix-1"]);
  client.server("fix-1", { kind: "end", message: "cancelled" });
  await tick();
  assert.equal(shown.done, true);
  assert.equal(feature.size, 0);
  assert.equal(client.handlers.size, 0);
});

test("progress the server does not let the user cancel stays in the status bar; percentages become increments", async () => {
  const { client } = started();
  client.server(7, { kind: "begin", title: "Find bugs", percentage: 10 });
  await tick();
  client.server(7, { kind: "report", percentage: 60, message: "half" }, { kind: "end" });
  await tick();
  const [shown] = mock.progress;
  assert.deepEqual(shown.options, { location: ProgressLocation.Window, title: "Find bugs", cancellable: false });
  assert.deepEqual(shown.reports, [{ message: undefined, increment: 10 }, { message: "half", increment: 50 }]);
  assert.equal(shown.done, true);
});

test("an end before VS Code shows the progress, and clear() when the server stops, close everything", async () => {
  const { client, feature } = started();
  client.server("quick", { kind: "begin", title: "Clean up", cancellable: true }, { kind: "end" });
  client.server("open", { kind: "begin", title: "Refactor", cancellable: true });
  await tick();
  assert.equal(feature.size, 1);
  feature.clear();
  await tick();
  assert.equal(feature.size, 0);
  assert.ok(mock.progress.every((entry) => entry.done), JSON.stringify(mock.progress));
});
