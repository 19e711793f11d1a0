"""Test processes that skip their imports: each is forked from one interpreter that imported their modules already.

A test run starts hundreds of `python -m freescode_lsp...` processes (a language server per LSP test, a
`freescode` per CLI test, registries, gateways, stub nodes), and most of each one's CPU went to imports:
lsprotocol alone builds some 650 attrs classes. `Preloader` is an interpreter that imports the package once;
`module_command()` is the command tests run instead of `python -m`: a launcher (preload_launch.py, built-in
modules only) that hands the preloader its stdin, stdout, stderr, environment and folder. The preloader forks;
the child runs the module as `python -m` does, on those pipes, and the launcher passes signals on and ends as
the child ended. A launcher that dies takes its child with it. Without a preloader in the environment
(FREESCODE_TEST_PRELOADER) the launcher becomes plain `python -m`, which is what `make test` runs: there every
process imports from scratch.
"""

from __future__ import annotations

import gc
import importlib
import os
import pkgutil
import random
import runpy
import select
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import NoReturn

import attrs

from freescode_lsp.testing.preload_launch import PRELOADER_ENV, encode_request

PRELOAD_ENV = "FREESCODE_TEST_PRELOAD"
LAUNCHER = Path(__file__).with_name("preload_launch.py")
# Imported besides every module of the package but the test helpers: what httpx imports only when a client
# first connects, and the one test helper run as a process.
LAZY_IMPORTS = ("httpcore", "h11", "anyio._backends._asyncio", "certifi", "httpx_sse", "freescode_lsp.testing.stub_node")
REQUEST_TIMEOUT_S = 10.0
READY_TIMEOUT_S = 60.0


def module_command(module: str, *args: str) -> list[str]:
    """The command that runs `python -m MODULE ARGS...`: forked from the preloader when one is up."""
    return [sys.executable, "-I", "-S", str(LAUNCHER), "-m", module, *args]


def served_pid(process: subprocess.Popen[str] | subprocess.Popen[bytes]) -> int:
    """The pid of the process that runs the module: the preloader's child for a launcher it forked for, else `process`."""
    path = os.environ.get(PRELOADER_ENV)
    if not path or str(LAUNCHER) not in [str(arg) for arg in process.args]:  # type: ignore[union-attr]
        return process.pid
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(path)
        question = encode_request("child_of", [str(process.pid)])
        connection.sendall(struct.pack("!I", len(question)))
        connection.sendall(question)
        answer = connection.makefile("rb").readline().split()
    child = int(answer[1]) if answer[:1] == [b"pid"] else 0
    return child or process.pid


class Preloader:
    """A running preloader process and the socket it listens on."""

    def __init__(self) -> None:
        self.folder = tempfile.TemporaryDirectory(prefix="freescode-preload-")
        self.path = str(Path(self.folder.name) / "socket")
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__, self.path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], READY_TIMEOUT_S)
        line = self.process.stdout.readline() if ready else ""
        if line.strip() != "READY":
            self.stop()
            raise RuntimeError(f"the preloader did not start (said {line!r})")

    def stop(self) -> None:
        """End the preloader (its children are killed) and remove its socket."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.folder.cleanup()


@attrs.frozen
class Request:
    """What a launcher asks to run: in which folder, which arguments (`-m MODULE ARGS...`), with which environment."""

    cwd: str
    argv: list[str]
    env: dict[str, str]

    @classmethod
    def parse(cls, fields: list[str]) -> Request:
        """The request in a launcher's fields (folder, argument count, arguments, NAME=value entries)."""
        count = int(fields[1])
        argv, entries = fields[2 : 2 + count], fields[2 + count :]
        if len(argv) != count or argv[:1] != ["-m"] or len(argv) < 2:
            raise ValueError("a launcher runs `-m MODULE ARGS...`")
        return cls(fields[0], argv, dict(entry.split("=", 1) for entry in entries))


class Launches:
    """The preloader's side: accepts launchers, forks their children, reports how each ended."""

    def __init__(self, path: str) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(64)
        self.wakeup_read, self.wakeup_write = os.pipe()
        os.set_blocking(self.wakeup_write, False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.wakeup_read, selectors.EVENT_READ, "reap")
        self.selector.register(sys.stdin, selectors.EVENT_READ, "stdin")
        self.children: dict[int, socket.socket] = {}
        self.by_launcher: dict[int, int] = {}

    def run(self) -> None:
        """Serve launchers until stdin closes, then kill the children left."""
        signal.set_wakeup_fd(self.wakeup_write)
        signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)
        print("READY", flush=True)
        while True:
            for key, _ in self.selector.select():
                if key.data == "accept":
                    self.accept()
                elif key.data == "reap":
                    os.read(self.wakeup_read, 4096)
                    self.reap()
                elif key.data == "stdin":
                    if not sys.stdin.readline():
                        self.kill_all()
                        return
                else:
                    self.launcher_spoke(key.fileobj, key.data)  # type: ignore[arg-type]

    def accept(self) -> None:
        """Read one launcher's request and fork its child."""
        connection, _ = self.listener.accept()
        fds: list[int] = []
        try:
            connection.settimeout(REQUEST_TIMEOUT_S)
            header, fds, _, _ = socket.recv_fds(connection, 4, 3)
            (length,) = struct.unpack("!I", header)
            body = b""
            while len(body) < length:
                part = connection.recv(length - len(body))
                if not part:
                    raise ConnectionError("the launcher went away")
                body += part
            kind, *fields = [os.fsdecode(field) for field in body.split(b"\0")]
            if kind == "child_of":
                child = self.by_launcher.get(int(fields[0]), 0)
                connection.sendall(f"pid {child}\n".encode())
                raise ConnectionError("a question, answered")
            request = Request.parse(fields)
            if len(fds) != 3:
                raise ConnectionError("the launcher sent no stdio")
        except (OSError, ValueError, IndexError, struct.error):
            for fd in fds:
                os.close(fd)
            connection.close()
            return
        connection.settimeout(None)
        launcher, _, _ = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            self.become_child(connection, fds, request)
        for fd in fds:
            os.close(fd)
        self.children[pid] = connection
        self.by_launcher[launcher] = pid
        self.selector.register(connection, selectors.EVENT_READ, pid)
        connection.sendall(f"pid {pid}\n".encode())

    def launcher_spoke(self, connection: socket.socket, pid: int) -> None:
        """A launcher sends nothing after its request: readable means it is gone, so its child goes too."""
        try:
            gone = not connection.recv(1)
        except OSError:
            gone = True
        if gone:
            self.selector.unregister(connection)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def reap(self) -> None:
        """Tell each ended child's launcher how it ended."""
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            connection = self.children.pop(pid, None)
            self.by_launcher = {launcher: child for launcher, child in self.by_launcher.items() if child != pid}
            if connection is None:
                continue
            try:
                self.selector.unregister(connection)
            except KeyError:
                pass
            try:
                connection.sendall(f"exit {status}\n".encode())
            except OSError:
                pass
            connection.close()

    def kill_all(self) -> None:
        """Kill every child still running, and wait for them."""
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass

    def become_child(self, connection: socket.socket, fds: list[int], request: Request) -> NoReturn:
        """In the forked child: take the launcher's stdio, environment and folder, run the module, exit."""
        code: object = 1
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            self.selector.close()
            self.listener.close()
            os.close(self.wakeup_read)
            os.close(self.wakeup_write)
            for other in self.children.values():
                other.close()
            connection.close()
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
                os.close(fd)
            os.chdir(request.cwd)
            os.environ.clear()
            os.environ.update(request.env)
            python_path = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
            sys.path[0:1] = [os.getcwd(), *(entry for entry in python_path if entry not in sys.path)]  # as `-m` sets it
            random.seed()
            argv = request.argv
            module = argv[1]
            if not hasattr(sys.modules.get(module), "__path__"):
                sys.modules.pop(module, None)  # run afresh as __main__, as `python -m` runs it
            sys.argv = [module, *argv[2:]]
            runpy.run_module(module, run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as stopped:
            code = stopped.code
            if code is not None and not isinstance(code, int):
                print(code, file=sys.stderr)  # as the interpreter does with sys.exit("message")
        except BaseException:  # noqa: BLE001 - the child reports what ended it, as `python -m` would
            traceback.print_exc()
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:  # noqa: BLE001 - the child is ending whatever its streams say
                    pass
        os._exit(code if isinstance(code, int) else 0 if code is None else 1)


def preload() -> None:
    """Import every module of the package but the test helpers and what they import lazily, build the TLS context;
    one thread stays."""
    import freescode_lsp

    names = [info.name for info in pkgutil.walk_packages(freescode_lsp.__path__, "freescode_lsp.")]
    for name in [*(name for name in names if not name.startswith("freescode_lsp.testing.")), *LAZY_IMPORTS]:
        if not name.endswith(".__main__"):
            importlib.import_module(name)
    from freescode_lsp.wire.http_client import tls_context

    tls_context()  # built here once, inherited by every child
    threads = os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else ["main"]
    if len(threads) != 1:
        raise RuntimeError(f"an import started {len(threads) - 1} thread(s): a forked child would lack them")


def serve(path: str) -> None:
    """Import the package, then fork a child per launcher until stdin closes."""
    preload()
    gc.collect()
    gc.freeze()
    Launches(path).run()


if __name__ == "__main__":
    serve(sys.argv[1])
