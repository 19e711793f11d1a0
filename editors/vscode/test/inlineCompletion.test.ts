import assert from "node:assert/strict";
import { describe, test } from "node:test";

import type * as vscode from "vscode";

import { applyStatus, COMPLETION_TASK, initialStatus, renderStatus, withServerState } from "../src/status";
import { CompletionHint, completionAllowed, completionAllowedIn, inlineCompletionMiddleware, type Timers } from "../src/inlineCompletion";
import { mock, Uri, type FakeStatusBarItem } from "./helpers/vscode-mock";

/** Timers the test fires by hand. */
class ManualTimers implements Timers {
  readonly pending = new Map<number, () => void>();
  private next = 0;

  setTimeout(callback: () => void): unknown {
    this.next += 1;
    this.pending.set(this.next, callback);
    return this.next;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  fire(): void {
    const callbacks = [...this.pending.values()];
    this.pending.clear();
    callbacks.forEach((callback) => callback());
  }
}

/** A cancellation token the test cancels. */
function cancellation(): { token: vscode.CancellationToken; cancel(): void } {
  const listeners: (() => void)[] = [];
  const token = {
    isCancellationRequested: false,
    onCancellationRequested(listener: () => void) {
      listeners.push(listener);
      return { dispose: () => listeners.splice(listeners.indexOf(listener), 1) };
    },
  };
  return {
    token: token as unknown as vscode.CancellationToken,
    cancel() {
      token.isCancellationRequested = true;
      [...listeners].forEach((listener) => listener());
    },
  };
}

function hinted(): { hint: CompletionHint; timers: ManualTimers; item: () => FakeStatusBarItem } {
  mock.reset();
  const timers = new ManualTimers();
  const hint = new CompletionHint(150, timers);
  return { hint, timers, item: () => (hint as unknown as { item: FakeStatusBarItem }).item };
}

const document = (languageId: string) =>
  ({ uri: Uri.file(`/project/a.${languageId}`), languageId }) as unknown as vscode.TextDocument;
const position = { line: 3, character: 8 } as vscode.Position;
const context = { triggerKind: 1, selectedCompletionInfo: undefined } as vscode.InlineCompletionContext;
const suggestion = [{ insertText: "return radius ** 2" }] as unknown as vscode.InlineCompletionItem[];

/** A `next` that records its calls and answers when the test says so. */
function server(): { next: (...args: unknown[]) => Promise<vscode.InlineCompletionItem[]>; calls: unknown[][]; answer(): void; fail(): void } {
  const calls: unknown[][] = [];
  let settle: { resolve: (items: vscode.InlineCompletionItem[]) => void; reject: (error: Error) => void } | undefined;
  return {
    calls,
    next: (...args: unknown[]) => {
      calls.push(args);
      return new Promise((resolve, reject) => {
        settle = { resolve, reject };
      });
    },
    answer: () => settle?.resolve(suggestion),
    fail: () => settle?.reject(new Error("server gone")),
  };
}

describe("whether suggestions are asked for", () => {
  test("on unless turned off, or off for the document's language", () => {
    assert.equal(completionAllowed(undefined, undefined, "python"), true);
    assert.equal(completionAllowed(true, [], "python"), true);
    assert.equal(completionAllowed(false, [], "python"), false);
    assert.equal(completionAllowed(true, ["markdown", "python"], "python"), false);
    assert.equal(completionAllowed(true, ["markdown"], "python"), true);
    assert.equal(completionAllowed(true, "python", "python"), true);
  });

  test("read from freescode.completion.enabled and .disabled_languages", () => {
    mock.reset();
    assert.equal(completionAllowedIn(document("python")), true);
    mock.settings["completion.disabled_languages"] = { workspaceValue: ["go"] };
    assert.equal(completionAllowedIn(document("go")), false);
    assert.equal(completionAllowedIn(document("python")), true);
    mock.settings["completion.enabled"] = { globalValue: false };
    assert.equal(completionAllowedIn(document("python")), false);
  });
});

describe("the inline completion middleware", () => {
  test("turned off: no request reaches the server and no suggestion shows", async () => {
    const { hint, timers, item } = hinted();
    const fake = server();
    const middleware = inlineCompletionMiddleware(() => false, hint);
    const answer = await middleware.provideInlineCompletionItems?.(document("python"), position, context, cancellation().token, fake.next);
    assert.deepEqual(answer, []);
    assert.equal(fake.calls.length, 0);
    assert.equal(timers.pending.size, 0);
    assert.equal(item().visible, false);
  });

  test("on: the server's answer comes back, with the hint shown while it is slow", async () => {
    const { hint, timers, item } = hinted();
    const fake = server();
    const middleware = inlineCompletionMiddleware(() => true, hint);
    const { token } = cancellation();
    const answer = middleware.provideInlineCompletionItems?.(document("python"), position, context, token, fake.next);
    assert.equal(fake.calls.length, 1);
    assert.deepEqual(fake.calls[0], [document("python"), position, context, token]);
    assert.equal(item().visible, false, "no hint before the delay");
    timers.fire();
    assert.equal(item().visible, true);
    assert.match(item().text, /suggesting/);
    fake.answer();
    assert.equal(await answer, suggestion);
    assert.equal(item().visible, false);
  });

  test("a quick answer never shows the hint; a failed one hides it", async () => {
    const { hint, timers, item } = hinted();
    const middleware = inlineCompletionMiddleware(() => true, hint);
    const quick = server();
    const answer = middleware.provideInlineCompletionItems?.(document("python"), position, context, cancellation().token, quick.next);
    quick.answer();
    await answer;
    assert.equal(timers.pending.size, 0, "the hint's timer is cleared");
    assert.equal(item().visible, false);

    const failing = server();
    const failed = middleware.provideInlineCompletionItems?.(document("python"), position, context, cancellation().token, failing.next);
    timers.fire();
    assert.equal(item().visible, true);
    failing.fail();
    await assert.rejects(Promise.resolve(failed), /server gone/);
    assert.equal(item().visible, false);
  });

  test("the hint stays while any request is in flight and goes when the last is cancelled", async () => {
    const { hint, timers, item } = hinted();
    const middleware = inlineCompletionMiddleware(() => true, hint);
    const older = server();
    const newer = server();
    const olderToken = cancellation();
    const first = middleware.provideInlineCompletionItems?.(document("python"), position, context, olderToken.token, older.next);
    const second = middleware.provideInlineCompletionItems?.(document("python"), position, context, cancellation().token, newer.next);
    timers.fire();
    assert.equal(item().visible, true);
    olderToken.cancel();
    assert.equal(item().visible, true, "the newer request is still in flight");
    newer.answer();
    assert.equal(await second, suggestion);
    assert.equal(item().visible, false, "the cancelled request no longer counts though its answer is pending");
    older.answer();
    await first;
    assert.equal(item().visible, false);
  });

  test("a request already cancelled is not sent", async () => {
    const { hint } = hinted();
    const fake = server();
    const cancelled = cancellation();
    cancelled.cancel();
    const answer = await inlineCompletionMiddleware(() => true, hint).provideInlineCompletionItems?.(
      document("python"),
      position,
      context,
      cancelled.token,
      fake.next,
    );
    assert.deepEqual(answer, []);
    assert.equal(fake.calls.length, 0);
  });
});

describe("suggestions and the main status bar item", () => {
  test("a suggestion's status neither spins the item nor replaces the last task; its cost is counted", () => {
    const fixed = applyStatus(withServerState(initialStatus(), "running"), {
      state: "done",
      task: "fix",
      model: "code-llama-7b",
      engine: "local",
      costUsd: 0,
    });
    const before = renderStatus(fixed).text;
    let model = fixed;
    for (const state of ["running", "cancelled", "running", "done"]) {
      model = applyStatus(model, { state, task: COMPLETION_TASK, model: "starcoder2-3b", completionTokens: 3 });
    }
    assert.equal(model.busy, false);
    assert.equal(model.tasks, 1);
    assert.equal(renderStatus(model).text, before);
    model = applyStatus(model, { state: "done", task: COMPLETION_TASK, model: "starcoder2-3b", costUsd: 0.002 });
    assert.equal(model.spentUsd, 0.002);
    assert.equal(model.last?.task, "fix");
  });
});
