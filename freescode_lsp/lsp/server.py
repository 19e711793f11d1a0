"""The Free-S_Code language server: a typed pygls LanguageServer that registers each feature, which owns its state."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TypeVar

from attrs import define
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.workspace import Workspace

from freescode_lsp import __version__
from freescode_lsp.completion.editor.inline_completion import InlineCompletion
from freescode_lsp.config import LoadedSettings, Settings, load_settings, trust
from freescode_lsp.lsp.features.code_actions import CodeActions
from freescode_lsp.lsp.features.diagnostics import Diagnostics
from freescode_lsp.lsp.features.document_sync import DocumentSync
from freescode_lsp.lsp.features.fallback import Fallbacks
from freescode_lsp.lsp.features.hover import Hover
from freescode_lsp.lsp.features.lifecycle import Lifecycle
from freescode_lsp.lsp.features.line_history import LineHistory
from freescode_lsp.lsp.features.progress import ProgressTokens
from freescode_lsp.lsp.features.run_task import RunTask
from freescode_lsp.lsp.features.verified_fix import VerifiedFix
from freescode_lsp.lsp.protocol.text_documents import adopt
from freescode_lsp.lsp.protocol.unreadable import diagnose
from freescode_lsp.routing.router import Router

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 4000
MAX_SHOWN_PROBLEMS = 8
TRUST_ACTION = "Trust"


class Feature(Protocol):
    """A part of the server that owns its state and wires its own handlers."""

    def register(self) -> None:
        """Wire the feature's handlers on its server."""


FeatureT = TypeVar("FeatureT", bound=Feature)


@define
class UnreadableRequest:
    """A request whose params could not be read: it still gets an answer, an InvalidParams error."""

    id: int | str
    method: str
    error: JsonRpcException


class FreescodeProtocol(LanguageServerProtocol):
    """pygls' protocol, except that unreadable requests are answered and documents count lines as LSP does."""

    @property
    def _workspace(self) -> Workspace | None:
        return self.__dict__.get("_lsp_workspace")

    @_workspace.setter
    def _workspace(self, workspace: Workspace | None) -> None:
        self.__dict__["_lsp_workspace"] = adopt(workspace)

    def structure_message(self, data: dict[str, Any]) -> Any:
        """pygls raises while decoding such a request, before it reads the id; keep the id to answer it."""
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if isinstance(data.get("id"), (int, str)) and isinstance(data.get("method"), str):
                message = f"invalid params for {data['method']}: {exc.__cause__ or exc}"
                return UnreadableRequest(data["id"], data["method"], JsonRpcInvalidParams(message))
            raise

    def handle_message(self, message: Any) -> None:
        """Answer an unreadable request with its error; hand everything else to pygls."""
        if isinstance(message, UnreadableRequest):
            self._send_response(message.id, None, message.error.to_response_error())
            return
        super().handle_message(message)


class Features:
    """The server's features, each owning its state; handlers are wired in the order they are added here.

    A new feature is one line: `self.name = self._add(Name(server))`. Plain state others read has no `_add`.
    """

    def __init__(self, server: FreescodeServer) -> None:
        self._registered: list[Feature] = []
        self.documents = self._add(DocumentSync(server))
        self.line_history = self.documents.subscribe(LineHistory())
        self.fallbacks = Fallbacks(server)
        self.progress = self._add(ProgressTokens(server))
        self.lifecycle = self._add(Lifecycle(server))
        self.code_actions = self._add(CodeActions(server))
        self.run_task = self._add(RunTask(server))
        self.verified_fix = self._add(VerifiedFix(server))
        self.diagnostics = self._add(Diagnostics(server))
        self.hover = self._add(Hover(server))
        self.inline_completion = self._add(InlineCompletion(server))

    def _add(self, feature: FeatureT) -> FeatureT:
        self._registered.append(feature)
        return feature

    def register(self) -> None:
        """Wire every feature's handlers on the server."""
        for feature in self._registered:
            feature.register()


class FreescodeServer(LanguageServer):
    """Holds the settings, the router and the features."""

    def __init__(self) -> None:
        super().__init__("freescode-lsp", __version__, protocol_cls=FreescodeProtocol)
        self.loaded = LoadedSettings(Settings())
        self.router: Router | None = None
        self.editor_settings: types.LSPAny = None
        self.initial_settings: types.LSPAny = None
        self.shown_problems: set[str] = set()
        self.asked_trust: set[tuple[Path, str]] = set()
        self.background: set[asyncio.Task[None]] = set()
        self.client_name: str | None = None
        self.features = Features(self)

    @property
    def settings(self) -> Settings:
        """The settings in force now."""
        return self.loaded.settings

    def report_server_error(self, error: Exception, source: Any) -> None:
        """A body that is not JSON-RPC gets the spec's error answer, not an 'Error in server' popup."""
        unreadable = diagnose(error) if source is JsonRpcException else None
        if unreadable is None:
            super().report_server_error(error, source)
            return
        self.protocol._send_data(unreadable.answer())
        if unreadable.changes_a_document() and unreadable.uri is not None:
            reason = f"a change from the editor could not be read ({unreadable.reason})"
            self.features.documents.lose_sync(unreadable.uri, reason)

    def workspace_root(self) -> Path | None:
        """The first workspace folder as a path, if the client named one."""
        try:
            root = self.workspace.root_path
        except RuntimeError:
            return None
        return Path(root) if root else None

    def reload_settings(self, editor_settings: types.LSPAny = None, *, initial: bool = False) -> LoadedSettings:
        """Read every settings layer again, show new problems, and rebuild the router.

        Settings the editor answers or pushes later replace `initializationOptions`, so a removed key goes away.
        """
        if editor_settings is not None:
            if initial:
                self.initial_settings = editor_settings
            else:
                self.editor_settings = editor_settings
        loaded = load_settings(self.workspace_root(), self._editor_layer())
        waiting = loaded.waiting
        fresh = [problem for problem in loaded.problems if problem not in self.shown_problems]
        if waiting is not None:
            fresh = [problem for problem in fresh if problem != waiting.notice]
            if (waiting.workspace, waiting.digest) not in self.asked_trust:
                self.asked_trust.add((waiting.workspace, waiting.digest))
                self._spawn(self._ask_trust(waiting))
        if fresh:
            self.shown_problems.update(fresh)
            self.window_show_message(types.ShowMessageParams(types.MessageType.Warning, settings_message(fresh)))
            if len(fresh) > MAX_SHOWN_PROBLEMS:
                for problem in fresh:
                    self.log_info(f"Free-S_Code settings: {capped(problem)}")
        unchanged = loaded.settings == self.loaded.settings
        self.loaded = loaded
        if self.router is None:
            self.router = Router.from_settings(
                loaded.settings, on_fallback=self.features.fallbacks.note_failure, on_warning=self.tell_user
            )
        elif not unchanged:
            self.router.apply_settings(loaded.settings)
        return loaded

    async def _ask_trust(self, waiting: trust.Untrusted) -> None:
        """Ask once per content whether to trust the workspace's freescode.toml; "Trust" trusts exactly what was shown.

        The file may change while the question is open: the reload then finds other content, which is not
        trusted, and asks about it in turn.
        """
        params = types.ShowMessageRequestParams(
            types.MessageType.Warning,
            f"Free-S_Code: {capped(waiting.notice)}",
            actions=[types.MessageActionItem(TRUST_ACTION), types.MessageActionItem("Not now")],
        )
        try:
            choice = await asyncio.shield(self.window_show_message_request_async(params))
        except Exception:  # noqa: BLE001 - a client that cannot ask still gets told
            self.window_show_message(types.ShowMessageParams(types.MessageType.Warning, params.message))
            return
        if choice is not None and choice.title == TRUST_ACTION and trust.trust(waiting.workspace, waiting.digest):
            config = waiting.workspace / trust.WORKSPACE_FILE
            self.log_info(f"Free-S_Code: trusted {config} with the content shown (sha256 {waiting.digest[:12]})")
            self.reload_settings()

    def _editor_layer(self) -> types.LSPAny:
        """The editor's settings: what it answered or pushed last (its whole view), else initializationOptions."""
        later = self.editor_settings
        if later is not None and later != {}:
            return later
        return self.initial_settings

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            coroutine.close()
            return
        task = loop.create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def get_router(self) -> Router:
        """The router, built from the current settings on first use."""
        if self.router is None:
            self.reload_settings()
        assert self.router is not None
        return self.router

    def log_info(self, message: str) -> None:
        """A line in the editor's output panel."""
        self.window_log_message(types.LogMessageParams(types.MessageType.Info, message))

    def tell_user(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        """A message the user sees now."""
        self.window_show_message(types.ShowMessageParams(kind, f"Free-S_Code: {capped(message)}"))


def capped(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Text cut to what a message box can show, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 40]}... ({len(text) - limit + 40:,} more characters)"


def settings_message(problems: list[str]) -> str:
    """One message for new settings problems: the first few in full, a count of the rest."""
    shown = [capped(problem, MAX_MESSAGE_CHARS // 4) for problem in problems[:MAX_SHOWN_PROBLEMS]]
    rest = len(problems) - len(shown)
    more = f" (and {rest} more, listed in the log)" if rest > 0 else ""
    text = "Free-S_Code settings: " + "; ".join(shown) + more + ". The server goes on with defaults for these."
    return capped(text)


def create_server() -> FreescodeServer:
    """A server with every feature registered."""
    server = FreescodeServer()
    server.features.register()
    return server


def protocol_channel() -> BinaryIO:
    """The protocol's own copy of stdout; fd 1 then points at stderr, so native code that prints to stdout or
    silences it while loading a model (llama-cpp-python does, process-wide) can neither corrupt nor drop a message."""
    sys.stdout.flush()
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return channel


def main(argv: Sequence[str] | None = None) -> int:
    """Start the server over stdio (default) or TCP."""
    parser = argparse.ArgumentParser(prog="freescode-lsp", description="The Free-S_Code language server.")
    parser.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (the default)")
    parser.add_argument("--tcp", metavar="HOST:PORT", help="listen on a TCP address instead")
    parser.add_argument("--log-level", default="WARNING", help="logging level on stderr")
    parser.add_argument("--version", action="version", version=f"freescode-lsp {__version__}")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper())
    server = create_server()
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        if not host or not port.isdigit():
            parser.error("--tcp takes HOST:PORT, for example 127.0.0.1:2087")
        server.start_tcp(host, int(port))
    else:
        server.start_io(stdout=protocol_channel())
    return 0


if __name__ == "__main__":
    sys.exit(main())
