"""The VS Code extension in a real VS Code: code-server, driven by headless Chromium through Playwright.

editors/vscode/e2e/setup.sh installs what this needs (Debian's chromium and libkrb5-dev, Node 24 and
code-server from npm, playwright from PyPI) into the repository's .cache/ and is quick once done. The
packaged editors/vscode/freescode.vsix (built by editors/vscode/test.sh, or here when it is missing or
older than its sources) is installed into a fresh code-server, which opens a workspace whose
freescode.toml names a scripted stub node. The browser then does what a user does: the Quick Fix menu,
Source Action…, hovering, the status bar, cancelling from the progress notification. Other windows show
that a repository cannot name the server program, and run the same Fix on the embedded gemma-3-270m model.

A failing scenario leaves a screenshot; the failure message says where. With FREESCODE_E2E_SCREENSHOTS
set to a folder, the fix scenario also saves the README's pictures there (quick-fix-menu.png,
streaming-fix.png).
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from freescode_lsp.testing.answers import fenced
from freescode_lsp.testing.node_options import ROUTED_MODELS
from freescode_lsp.testing.ports import free_port
from freescode_lsp.testing.real_editors import REPO
from freescode_lsp.testing.samples import FIXED, FIXED_SOURCE, SOURCE

EXTENSION = REPO / "editors" / "vscode"
SETUP = EXTENSION / "e2e" / "setup.sh"
CACHE = Path(os.environ.get("FREESCODE_E2E_CACHE", REPO / ".cache" / "vscode-e2e"))
SHOTS = CACHE / "screenshots"
VSIX = EXTENSION / "freescode.vsix"
SERVER = Path(sys.executable).parent / "freescode-lsp"
PRICE_PER_1K = 0.5
EXPLANATION = "Computes the area of a circle from its radius."
BUG_MESSAGE = "radius is not squared"
VIEWPORT = {"width": 1100, "height": 640}
UI_TIMEOUT_MS = 30_000

pytestmark = pytest.mark.timeout(1500)


def by_line(text: str) -> list[str]:
    """Stub chunks: one per line, so the rewrite visibly streams."""
    return text.splitlines(keepends=True)


LONG_FIX = FIXED.replace(
    "    return result\n", "".join(f"    # step {i}: check the radius\n" for i in range(40)) + "    return result\n"
)


# --- setup -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tools() -> dict[str, str]:
    """Node 24, code-server and chromium paths, after installing what is missing."""
    if shutil.which("bash") is None:
        pytest.skip("bash is needed to run editors/vscode/e2e/setup.sh")
    started = time.monotonic()
    process = subprocess.run(
        ["bash", str(SETUP)],
        env={**os.environ, "FREESCODE_E2E_CACHE": str(CACHE), "FREESCODE_E2E_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=1200,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if process.returncode == 3:
        pytest.skip(f"the VS Code end-to-end test cannot be set up here: {process.stderr.strip()}")
    assert process.returncode == 0, f"setup.sh failed ({process.returncode}):\n{process.stderr[-4000:]}"
    sys.stderr.write(f"\nvscode e2e setup: {time.monotonic() - started:.1f} s\n")
    return json.loads((CACHE / "env.json").read_text())


def _stale(vsix: Path) -> bool:
    if not vsix.exists():
        return True
    inputs = [EXTENSION / "package.json", EXTENSION / "README.md", *(EXTENSION / "src").glob("*.ts")]
    return any(path.stat().st_mtime > vsix.stat().st_mtime for path in inputs)


@pytest.fixture(scope="module")
def vsix(tools: dict[str, str]) -> Path:
    """The packaged extension; packaged here when it is missing or older than its sources."""
    if _stale(VSIX):
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is needed to package the extension (editors/vscode/test.sh)")
        if not (EXTENSION / "node_modules" / ".bin" / "vsce").exists():
            subprocess.run(
                [npm, "ci", "--prefer-offline", "--no-audit", "--no-fund"], cwd=EXTENSION, check=True, capture_output=True
            )
        subprocess.run([npm, "run", "package"], cwd=EXTENSION, check=True, capture_output=True)
    return VSIX


@pytest.fixture(scope="module")
def node() -> Iterator[Any]:
    from freescode_lsp.testing.stub_node import start_stub_node

    stub = start_stub_node()
    yield stub
    stub.stop()


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2))


def node_toml(url: str) -> str:
    models = ", ".join(f'"{m}"' for m in ROUTED_MODELS)
    return (
        f'[[nodes]]\nurl = "{url}"\nmodels = [{models}]\nprice_per_1k = {PRICE_PER_1K}\n\n'
        '[network]\nmode = "remote-only"\n\n'
        "[server]\ndiagnostics_on_save = false\ndiagnostics_idle_s = 0\nhover_timeout_s = 10\n"
    )


GEMMA_TOML = (
    '[network]\nmode = "local-only"\n\n[local]\nthreads = 2\nmax_context = 2048\n\n'
    "[server]\nmax_tokens = 160\ndiagnostics_enabled = false\nhover_enabled = false\n"
)


class CodeServer:
    """A code-server process with its own user data, extensions and home folders."""

    def __init__(self, tools: dict[str, str], root: Path, vsix: Path, models_dir: Path, cache_home: Path) -> None:
        self.root = root
        home = root / "home"
        self.user_data = root / "user-data"
        self.extensions = root / "extensions"
        for folder in (home, self.user_data, self.extensions):
            folder.mkdir(parents=True, exist_ok=True)
        node_bin = str(Path(tools["node"]).parent)
        self.env = {
            "PATH": f"{node_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
            "XDG_CACHE_HOME": str(cache_home),
            "FREESCODE_MODELS_DIR": str(models_dir),
            "FREESCODE_NO_MIRROR": "1",
            "LANG": "C.UTF-8",
            # Nothing leaves the machine: the extension gallery is a closed loopback port.
            "EXTENSIONS_GALLERY": json.dumps({"serviceUrl": "http://127.0.0.1:9/gallery", "itemUrl": "http://127.0.0.1:9/item"}),
        }
        self.base = [
            tools["node"],
            tools["code_server"],
            "--user-data-dir",
            str(self.user_data),
            "--extensions-dir",
            str(self.extensions),
        ]
        write_json(
            self.user_data / "User" / "settings.json",
            {
                "workbench.startupEditor": "none",
                "workbench.tips.enabled": False,
                "workbench.welcomePage.walkthroughs.openOnInstall": False,
                "workbench.enableExperiments": False,
                "telemetry.telemetryLevel": "off",
                "update.mode": "none",
                "extensions.autoCheckUpdates": False,
                "extensions.autoUpdate": False,
                "extensions.ignoreRecommendations": True,
                "security.workspace.trust.enabled": False,
                "editor.hover.delay": 200,
                "editor.minimap.enabled": False,
                "editor.lightbulb.enabled": "on",
                "files.autoSave": "off",
                "chat.disableAIFeatures": True,
                "window.commandCenter": False,
                "workbench.secondarySideBar.defaultVisibility": "hidden",
                # Suggestions as you type only in the window about them: elsewhere they would add node requests.
                "freescode.completion.enabled": False,
            },
        )
        # freescode.server.command is machine-overridable: in this (remote) window it is read from the
        # Remote (machine) settings or the workspace, not from the User settings.
        write_json(self.user_data / "Machine" / "settings.json", {"freescode.server.command": str(SERVER)})
        started = time.monotonic()
        installed = subprocess.run(
            [*self.base, "--install-extension", str(vsix), "--force"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert installed.returncode == 0, installed.stdout + installed.stderr
        self.install_s = time.monotonic() - started
        self.log = (root / "code-server.log").open("w")
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                *self.base,
                "--bind-addr",
                f"127.0.0.1:{self.port}",
                "--auth",
                "none",
                "--disable-telemetry",
                "--disable-update-check",
                "--disable-workspace-trust",
                "--disable-getting-started-override",
                "--disable-proxy",
                "--ignore-last-opened",
            ],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert self.process.poll() is None, (root / "code-server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "code-server did not answer /healthz"
            time.sleep(0.2)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def folder_url(self, folder: Path) -> str:
        return f"{self.url}/?folder={folder}"

    def trust(self, folder: Path) -> None:
        """`freescode trust FOLDER` as this code-server's user: the server asks before taking a freescode.toml's nodes."""
        command = [sys.executable, "-m", "freescode_lsp.cli", "trust", str(folder)]
        env = {**os.environ, "XDG_STATE_HOME": self.env["XDG_STATE_HOME"]}
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=60)

    def stop(self) -> None:
        """Stop code-server and everything it started (its server, extension hosts, freescode-lsp)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.log.close()


# --- the browser ---------------------------------------------------------------------------------------

BUFFER_JS = """() => {
  const root = document.querySelector('.part.editor .editor-group-container.active .editor-instance .monaco-editor .view-lines');
  if (!root) return null;
  const lines = [...root.children].filter(e => e.classList.contains('view-line'))
    .map(e => [parseFloat(e.style.top), e.textContent.replace(/\\u00a0/g, ' ')]);
  lines.sort((a, b) => a[0] - b[0]);
  return lines.map(l => l[1]).join('\\n');
}"""


class Workbench:
    """The VS Code page and what a user does in it."""

    def __init__(self, page: Any, shots: Path, server: CodeServer) -> None:
        self.page = page
        self.shots = shots
        self.server = server

    def open_folder(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for_selector(".monaco-workbench .part.statusbar", timeout=60_000)
        self.page.wait_for_selector(".part.sidebar .explorer-folders-view, .part.sidebar", timeout=60_000)

    def server_ready(self) -> bool:
        """The status bar item shows the server running (the sparkle icon, not the spinner)."""
        ready = self.page.locator(".part.statusbar .statusbar-item", has=self.page.locator(".codicon-sparkle"))
        return ready.count() > 0

    def status_text(self) -> str:
        """The text of the extension's status bar item (its id names the extension), icons left out."""
        items = self.page.locator(".part.statusbar .statusbar-item")
        for i in range(items.count()):
            item = items.nth(i)
            name = (item.get_attribute("id") or "").lower()
            if "freescode" in name and "completion" not in name:
                return (item.text_content() or "").strip()
        return ""

    def wait_until(self, check: Callable[[], Any], what: str, timeout_s: float = 30) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            self.page.wait_for_timeout(100)

    def command(self, title: str) -> None:
        """Run a command from the Command Palette by its title."""
        self.page.keyboard.press("F1")
        box = self.page.locator(".quick-input-widget input")
        box.wait_for(state="visible")
        box.fill(f">{title}")
        row = self.page.locator(".quick-input-list .monaco-list-row", has_text=title).first
        row.wait_for()
        row.click()

    def open_file(self, name: str) -> None:
        self.page.keyboard.press("Control+p")
        box = self.page.locator(".quick-input-widget input")
        box.wait_for(state="visible")
        box.fill(name)
        self.page.locator(".quick-input-list .monaco-list-row", has_text=name).first.wait_for()
        self.page.keyboard.press("Enter")
        self.page.locator(".tabs-container .tab.active", has_text=name).wait_for()
        self.wait_until(lambda: self.buffer(), f"{name} in the editor")
        self.page.locator(".part.editor .editor-group-container.active .monaco-editor textarea").first.focus()

    def goto(self, line: int, column: int = 1) -> None:
        self.page.keyboard.press("Control+g")
        box = self.page.locator(".quick-input-widget input")
        box.wait_for(state="visible")
        box.fill(f":{line}:{column}")
        self.page.keyboard.press("Enter")
        self.wait_until(
            lambda: self.page.locator(".part.statusbar", has_text=f"Ln {line}, Col {column}").count(),
            f"the cursor at {line}:{column}",
            10,
        )

    def buffer(self) -> str | None:
        return self.page.evaluate(BUFFER_JS)

    def menu_rows(self) -> Any:
        return self.page.locator(".action-widget .monaco-list-row.action")

    def open_action_menu(self, open_menu: Callable[[], None], expected: str) -> list[str]:
        """Open a code action menu; returns its titles once one of them starts with `expected`."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        for attempt in range(3):
            open_menu()
            try:
                self.page.locator(".action-widget .monaco-list-row.action", has_text=expected).first.wait_for(timeout=10_000)
                break
            except PlaywrightTimeout:  # the menu may open before the server's answer: ask again
                if attempt == 2:
                    raise
                self.page.keyboard.press("Escape")
        rows = self.menu_rows()
        return [(rows.nth(i).text_content() or "").strip() for i in range(rows.count())]

    def open_quick_fix(self) -> list[str]:
        """Ctrl+. at the cursor: the Quick Fix menu."""
        return self.open_action_menu(lambda: self.page.keyboard.press("Control+Period"), "Fix with")

    def pick(self, title: str) -> None:
        self.page.locator(".action-widget .monaco-list-row.action", has_text=title).first.click()

    def save(self) -> None:
        self.page.keyboard.press("Control+s")

    def notification(self, text: str) -> Any:
        return self.page.locator(".notifications-toasts .notification-toast", has_text=text)

    def screenshot(self, name: str, editor_only: bool = False) -> Path:
        """The page, or only the editor area and the status bar below it (for the README)."""
        path = self.shots / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        clip = None
        box = self.page.locator(".part.editor").bounding_box() if editor_only else None
        if box is not None:
            clip = {"x": box["x"], "y": 0, "width": box["width"], "height": VIEWPORT["height"]}
        self.page.screenshot(path=str(path), clip=clip)
        return path

    @contextlib.contextmanager
    def scenario(self, name: str) -> Iterator[None]:
        """Run a scenario; on failure save a screenshot and say where."""
        try:
            yield
        except BaseException as error:
            try:
                path = self.screenshot(f"failed-{name}")
                note = f"screenshot: {path}"
            except Exception as shot_error:  # noqa: BLE001 - any failure to take it is only reported
                note = f"no screenshot ({shot_error})"
            raise AssertionError(f"{name}: {error}\n{note}") from error


CHROMIUM_ARGS = [
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # Every host name but the loopback ones resolves to nothing.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
]


@pytest.fixture(scope="module")
def browser(tools: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    args = list(CHROMIUM_ARGS)
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=tools["chromium"],
            headless=True,
            args=args,
            viewport={"width": VIEWPORT["width"], "height": VIEWPORT["height"]},
            device_scale_factor=1,
        )
        context.set_default_timeout(UI_TIMEOUT_MS)
        yield context
        context.close()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, node: Any) -> Path:
    folder = tmp_path_factory.mktemp("vscode-e2e") / "project"
    folder.mkdir()
    (folder / "freescode.toml").write_text(node_toml(node.url))
    for name in ("fix_me.py", "find_bugs.py", "explain_me.py", "cancel_me.py"):
        (folder / name).write_text(SOURCE)
    return folder


@pytest.fixture(scope="module")
def vscode(
    tools: dict[str, str],
    vsix: Path,
    browser: Any,
    project: Path,
    models_dir: Path,
    cache_home: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Workbench]:
    """The workbench on the stub node's project, with the extension active and its server running."""
    server = CodeServer(tools, tmp_path_factory.mktemp("code-server"), vsix, models_dir, cache_home)
    server.trust(project)
    try:
        page = browser.pages[0] if browser.pages else browser.new_page()
        bench = Workbench(page, SHOTS, server)
        with bench.scenario("startup"):
            bench.open_folder(server.folder_url(project))
            bench.open_file("fix_me.py")
            bench.wait_until(bench.server_ready, "the language server to start", 60)
            bench.page.wait_for_timeout(1000)
        yield bench
    finally:
        server.stop()


# --- scenarios ------------------------------------------------------------------------------------------


def test_quick_fix_streams_the_fix_into_the_buffer_and_the_saved_file(vscode: Workbench, node: Any, project: Path) -> None:
    """Ctrl+. on the bug lists the server's actions; Fix streams the node's answer in; Ctrl+S saves it."""
    bench = vscode
    pictures = os.environ.get("FREESCODE_E2E_SCREENSHOTS")
    node.set_script({"by_model": {"code-llama-7b": {"chunks": by_line(fenced(FIXED)), "delay_s": 0.6 if pictures else 0.15}}})
    node.clear()
    with bench.scenario("quick-fix"):
        bench.open_file("fix_me.py")
        bench.goto(6, 14)
        titles = bench.open_quick_fix()
        assert "Fix with code-llama-7b" in titles, titles
        assert any(t.startswith("Clean up with") for t in titles), titles
        if pictures:
            shutil.copy(bench.screenshot("quick-fix-menu", editor_only=True), Path(pictures) / "quick-fix-menu.png")
        bench.pick("Fix with code-llama-7b")
        if pictures:
            bench.wait_until(lambda: bench.buffer() != SOURCE, "the first streamed line")
            bench.notification("Fix with").first.wait_for()
            bench.page.wait_for_timeout(700)
            shutil.copy(bench.screenshot("streaming-fix", editor_only=True), Path(pictures) / "streaming-fix.png")
        bench.wait_until(lambda: bench.buffer() == FIXED_SOURCE, "the fixed buffer", 40)
        bench.save()
        bench.wait_until(lambda: (project / "fix_me.py").read_text() == FIXED_SOURCE, "the saved file")
        assert [r["body"]["model"] for r in node.records()] == ["code-llama-7b"]


def test_status_bar_shows_model_speed_and_cost_after_a_task(vscode: Workbench, node: Any) -> None:
    """After the fix, the status bar item names the model, the node, tokens/s and the money spent."""
    bench = vscode
    with bench.scenario("status-bar"):
        text = bench.wait_until(
            lambda: re.search(r"code-llama-7b · \S+ · [\d.]+ tok/s · \$\S+", bench.status_text()) and bench.status_text(),
            "the task in the status bar",
        )
        host = node.url.replace("http://", "")
        assert text.startswith(f"code-llama-7b · {host} · "), text
        spent = float(text.rsplit("$", 1)[1])
        assert spent > 0, text


def test_find_bugs_puts_the_findings_in_the_problems_panel(vscode: Workbench, node: Any) -> None:
    """Source Action… > Find bugs: the debug model's finding appears in the Problems panel."""
    bench = vscode
    finding = {"bugs": [{"line": 6, "end_line": 6, "severity": "error", "message": BUG_MESSAGE}]}
    node.set_script({"by_model": {"starcoder2-15b": {"chunks": [json.dumps(finding)]}}})
    node.clear()
    with bench.scenario("find-bugs"):
        bench.open_file("find_bugs.py")
        bench.goto(5, 1)
        titles = bench.open_action_menu(lambda: bench.command("Source Action..."), "Find bugs with")
        assert "Find bugs with starcoder2-15b" in titles, titles
        bench.pick("Find bugs with starcoder2-15b")
        bench.page.keyboard.press("Control+Shift+m")
        markers = bench.page.locator(".markers-panel .monaco-list-row", has_text=BUG_MESSAGE)
        markers.first.wait_for()
        assert "find_bugs.py" in (bench.page.locator(".markers-panel").text_content() or "")
        assert [r["body"]["model"] for r in node.records()] == ["starcoder2-15b"]
        bench.page.keyboard.press("Control+Shift+m")


def test_hover_shows_the_explanation(vscode: Workbench, node: Any) -> None:
    """Hovering over the function name shows the analyze model's explanation."""
    bench = vscode
    node.set_script({"by_model": {"deepseek-coder-6.7b": {"chunks": [EXPLANATION[:20], EXPLANATION[20:]]}}})
    node.clear()
    with bench.scenario("hover"):
        bench.open_file("explain_me.py")
        word = bench.page.locator(".editor-group-container.active .view-line span span", has_text=re.compile(r"^area$"))
        word.first.wait_for()
        box = word.first.bounding_box()
        assert box is not None
        bench.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        bench.page.mouse.move(box["x"] + box["width"] / 2 + 1, box["y"] + box["height"] / 2)
        hover = bench.page.locator(".monaco-hover", has_text=EXPLANATION)
        hover.first.wait_for()
        assert "deepseek-coder-6.7b" in (hover.first.text_content() or "")
        bench.page.mouse.move(5, VIEWPORT["height"] - 5)


def test_cancelling_a_long_rewrite_from_the_notification_stops_it(vscode: Workbench, node: Any) -> None:
    """Cancel on the progress notification: the stream stops, nothing more lands, the node sees the client go."""
    bench = vscode
    node.set_script({"by_model": {"code-llama-7b": {"chunks": by_line(fenced(LONG_FIX)), "delay_s": 0.5}}})
    node.clear()
    with bench.scenario("cancel"):
        bench.open_file("cancel_me.py")
        bench.goto(6, 14)
        bench.open_quick_fix()
        bench.pick("Fix with code-llama-7b")
        toast = bench.notification("Fix with code-llama-7b").first
        toast.wait_for()
        bench.wait_until(lambda: "# step 1:" in (bench.buffer() or ""), "the first streamed lines")
        toast.get_by_role("button", name="Cancel").click()
        toast.wait_for(state="hidden")
        stopped = bench.buffer() or ""
        bench.page.wait_for_timeout(2500)
        assert bench.buffer() == stopped, "the buffer changed after cancelling"
        assert "# step 39:" not in stopped, stopped
        assert stopped.endswith("    return result\n\n\ndef untouched():\n    return 42\n"), stopped
        outcomes = bench.wait_until(
            lambda: [r["outcome"] for r in node.records() if r["outcome"] is not None], "the node to see the request end"
        )
        assert outcomes == ["disconnected"], node.records()
        bench.page.keyboard.press("Control+z")


def test_a_repository_cannot_name_the_server_program(vscode: Workbench, tmp_path: Path) -> None:
    """A repository's .vscode/settings.json naming a server program is not obeyed (freescode.server.command is
    machine-scoped): the server from the Remote settings starts, and nothing says the repository's was not found.
    The message for a missing server and its Open Remote Settings button are checked by the extension's unit tests."""
    bench = vscode
    folder = tmp_path / "names-a-server"
    write_json(folder / ".vscode" / "settings.json", {"freescode.server.command": "/nonexistent/freescode-lsp"})
    (folder / "main.py").write_text(SOURCE)
    with bench.scenario("repository-server-command"):
        bench.open_folder(bench.server.folder_url(folder))
        bench.open_file("main.py")
        bench.wait_until(bench.server_ready, "the language server from the Remote settings to start", 60)
        assert bench.notification("was not found").count() == 0


GHOST = " ** 2"
# The ghost text in the active editor: VS Code splits it into spans, one per syntax token.
GHOST_JS = """() => [...document.querySelectorAll(
  '.part.editor .editor-group-container.active .monaco-editor .view-line [class*=ghost-text]')]
  .map(e => e.textContent).join('').replace(/\\u00a0/g, ' ')"""


def test_ghost_text_appears_and_tab_accepts_it(vscode: Workbench, node: Any, tmp_path: Path) -> None:
    """A window with suggestions on: typing at the end of a line shows the node's suggestion as ghost text, the
    status bar hints while it is being written, and Tab puts it in the file."""
    bench = vscode
    folder = tmp_path / "ghost-project"
    write_json(
        folder / ".vscode" / "settings.json",
        {
            "freescode.completion.enabled": True,
            # No suggest widget: it would take Tab from the ghost text.
            "editor.quickSuggestions": {"other": "off", "comments": "off", "strings": "off"},
            "editor.suggestOnTriggerCharacters": False,
            "editor.wordBasedSuggestions": "off",
        },
    )
    # The `complete` task routed to a model the node serves; the node serves the embedded model too, where the
    # task falls back to.
    fallback = f'[[nodes]]\nurl = "{node.url}"\nmodels = ["gemma-3-270m"]\n\n'
    (folder / "freescode.toml").write_text(fallback + node_toml(node.url) + '\n[routing]\ncomplete = "code-llama-7b"\n')
    bench.server.trust(folder)
    typed_line = "    result = math.pi * radiu"
    path = folder / "ghost.py"
    path.write_text(SOURCE.replace("    result = math.pi * radius\n", typed_line + "\n"))
    node.set_script({"default": {"chunks": [GHOST[:3], GHOST[3:]], "hold": True}})
    with bench.scenario("ghost-text"):
        bench.open_folder(bench.server.folder_url(folder))
        bench.open_file("ghost.py")
        bench.wait_until(bench.server_ready, "the language server to start", 60)
        node.clear()
        bench.goto(6, len(typed_line) + 1)
        bench.page.keyboard.type("s")
        hint = bench.page.locator(".part.statusbar .statusbar-item", has_text="suggesting")
        hint.first.wait_for()
        node.release()
        bench.wait_until(lambda: bench.page.evaluate(GHOST_JS) == GHOST, "the ghost text")
        hint.first.wait_for(state="hidden")
        bench.page.keyboard.press("Tab")
        bench.wait_until(lambda: bench.page.evaluate(GHOST_JS) == "", "the ghost text taken into the buffer")
        bench.save()
        bench.wait_until(lambda: path.read_text() == FIXED_SOURCE, "the accepted suggestion in the saved file")
        requests = [r for r in node.records() if r["path"].endswith("/v1/completions")]
        assert requests and typed_line + "s" in requests[-1]["body"]["prompt"], node.records()


@pytest.mark.slow
def test_fix_on_the_embedded_model(vscode: Workbench, gemma_path: Path, tmp_path: Path) -> None:
    """The same Quick Fix in a window whose freescode.toml keeps everything local: gemma-3-270m answers."""
    bench = vscode
    folder = tmp_path / "local-project"
    folder.mkdir()
    (folder / "freescode.toml").write_text(GEMMA_TOML)
    source = "import os\n\n\ndef add(a, b):\n    return a - b\n\n\nTOTAL = add(1, 2)\n"
    path = folder / "adder.py"
    path.write_text(source)
    with bench.scenario("embedded-model"):
        bench.open_folder(bench.server.folder_url(folder))
        bench.open_file("adder.py")
        bench.goto(5, 5)
        titles = bench.open_quick_fix()
        fix = next(t for t in titles if t.startswith("Fix with"))
        bench.pick(fix)
        bench.wait_until(lambda: re.search(r"gemma-3-270m · local", bench.status_text()), "gemma's answer", 150)
        edited = bench.buffer() or ""
        assert edited != source, "no edit landed"
        bench.save()
        bench.wait_until(lambda: path.read_text() == edited, "the saved file")
        ast.parse(path.read_text())
