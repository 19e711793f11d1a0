"""`python -m MODULE ARGS...` for tests, run by a preloaded interpreter when one is up; run as `python -I -S`.

The launcher hands its stdin, stdout and stderr, its environment and its folder to the preloader named by
FREESCODE_TEST_PRELOADER, which forks a child that runs the module; signals sent to the launcher reach the
child, and the launcher ends as the child ended (its exit code, or killed by its signal). With no preloader
named or answering, it becomes plain `python -m MODULE ARGS...`.

It starts hundreds of times a run, so it imports only built-in modules (`json`, `socket` or `typing` would
triple its start-up). A request is one message: its length (4 bytes, big-endian) with the three descriptors,
then NUL-separated fields: the kind ("run"), the folder, the number of arguments, the arguments, and
`NAME=value` for each environment variable. The preloader answers `pid N` once forked and `exit STATUS` (a
wait status) once the child ended.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # `signal` would import enum
import _socket
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType
    from typing import NoReturn

PRELOADER_ENV = "FREESCODE_TEST_PRELOADER"
FORWARDED = (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP, _signal.SIGQUIT, _signal.SIGUSR1, _signal.SIGUSR2)


def encode_request(kind: str, fields: list[str]) -> bytes:
    """A request's body: its kind and fields, NUL-separated."""
    return b"\0".join(os.fsencode(field) for field in [kind, *fields])


def run_plain(argv: list[str]) -> NoReturn:
    """Become `python ARGV...` in this process."""
    os.execv(sys.executable, [sys.executable, *argv])


def connect(path: str) -> _socket.socket | None:
    """A connection to the preloader, or None when it does not answer."""
    connection = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        connection.connect(path)
    except OSError:
        connection.close()
        return None
    return connection


def read_line(connection: _socket.socket) -> list[bytes]:
    """One answer line from the preloader, split into words (empty when it closed)."""
    line = b""
    while not line.endswith(b"\n"):
        part = connection.recv(1)
        if not part:
            break
        line += part
    return line.split()


def main() -> NoReturn:
    """Run the module in a child of the preloader, or plainly, and end as it ended."""
    argv = sys.argv[1:]
    path = os.environ.get(PRELOADER_ENV)
    connection = connect(path) if path and argv[:1] == ["-m"] else None
    if connection is None:
        run_plain(argv)
    environment = [f"{name}={value}" for name, value in os.environ.items()]
    request = encode_request("run", [os.getcwd(), str(len(argv)), *argv, *environment])
    child: list[int] = []
    early: list[int] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        if child:
            try:
                os.kill(child[0], signum)
            except ProcessLookupError:
                pass
        else:
            early.append(signum)

    for forwarded in FORWARDED:
        _signal.signal(forwarded, forward)
    descriptors = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))
    connection.sendmsg([len(request).to_bytes(4, "big")], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, descriptors)])
    connection.sendall(request)
    started = read_line(connection)
    if started[:1] != [b"pid"]:
        sys.stderr.write("the preloaded interpreter did not start the module\n")
        os._exit(1)
    child.append(int(started[1]))
    for pending in early:
        forward(pending, None)
    ended = read_line(connection)
    if ended[:1] != [b"exit"]:
        sys.stderr.write("the preloaded interpreter went away before the module ended\n")
        os._exit(1)
    status = int(ended[1])
    if os.WIFSIGNALED(status):
        killed_by = os.WTERMSIG(status)
        _signal.signal(killed_by, _signal.SIG_DFL)
        os.kill(os.getpid(), killed_by)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


if __name__ == "__main__":
    main()
