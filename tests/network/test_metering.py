"""The usage ledger, the remote budget and `freescode usage`."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from freescode_lsp import cli
from freescode_lsp.routing.metering import (
    Attempt,
    Budget,
    Ledger,
    LedgerError,
    budget_status,
    default_path,
    format_usd,
)
from freescode_lsp.system import paths

NODE = "node:http://127.0.0.1:9001"
WRITER = """
import sys
from freescode_lsp.routing.metering import Attempt, Ledger
ledger = Ledger(sys.argv[1])
for i in range(200):
    ledger.record(Attempt(model="starcoder-15b", host=sys.argv[2], prompt_tokens=10, completion_tokens=i,
                          price_per_1k=0.002))
ledger.close()
"""


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    """A ledger at the default place, inside the test's own state directory."""
    with Ledger() as opened:
        yield opened


def paid(prompt: int = 1000, completion: int = 500, **extra: object) -> Attempt:
    """An attempt on a priced node at $0.002 / 1K tokens."""
    return Attempt(
        model="starcoder-15b", host=NODE, prompt_tokens=prompt, completion_tokens=completion, price_per_1k=0.002, **extra
    )


def local(prompt: int = 200, completion: int = 100, **extra: object) -> Attempt:
    """A free attempt on the local engine."""
    return Attempt(model="code-llama-7b", host="local", prompt_tokens=prompt, completion_tokens=completion, **extra)


def test_cost_is_tokens_over_1000_times_price() -> None:
    assert paid().cost_usd == pytest.approx(0.003, abs=1e-15)
    assert local().cost_usd == 0.0
    assert Attempt(model="m", host="h", prompt_tokens=1, price_per_1k=0.0008).cost_usd == pytest.approx(8e-7)


def test_attempt_rejects_bad_values() -> None:
    with pytest.raises(ValueError):
        Attempt(model="m", host="h", outcome="exploded")
    with pytest.raises(ValueError):
        Attempt(model="m", host="h", prompt_tokens=-1)
    with pytest.raises(ValueError):
        Attempt(model="m", host="h", price_per_1k=-0.5)


def test_ledger_lives_in_the_state_dir_in_wal_mode(ledger: Ledger, isolated_user: Path) -> None:
    assert ledger.path == default_path() == paths.state_dir() / "usage.sqlite3"
    assert ledger.path.is_relative_to(isolated_user)
    assert ledger.path.exists()
    with sqlite3.connect(ledger.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_record_totals_and_spent_exact(ledger: Ledger) -> None:
    ledger.record(paid(task="fix"))
    ledger.record(paid(300, 0, outcome="failed", error="connection refused"))
    ledger.record(local())
    assert ledger.spent_usd() == pytest.approx(0.0036, abs=1e-12)
    assert ledger.totals() == [
        {
            "model": "starcoder-15b",
            "host": NODE,
            "requests": 2,
            "prompt_tokens": 1300,
            "completion_tokens": 500,
            "cost_usd": pytest.approx(0.0036, abs=1e-12),
            "failed": 1,
        },
        {
            "model": "code-llama-7b",
            "host": "local",
            "requests": 1,
            "prompt_tokens": 200,
            "completion_tokens": 100,
            "cost_usd": 0.0,
            "failed": 0,
        },
    ]
    assert ledger.totals(()) == [
        {
            "requests": 3,
            "prompt_tokens": 1500,
            "completion_tokens": 600,
            "cost_usd": pytest.approx(0.0036, abs=1e-12),
            "failed": 1,
        }
    ]
    assert [row["task"] for row in ledger.totals(("task",))] == ["fix", None]


def test_since_filters_by_time(ledger: Ledger) -> None:
    now = time.time()
    ledger.record(paid(time=now - 10 * 86400))
    ledger.record(paid(500, 500, time=now))
    assert ledger.spent_usd() == pytest.approx(0.005, abs=1e-12)
    assert ledger.spent_usd(since=now - 86400) == pytest.approx(0.002, abs=1e-12)
    assert ledger.totals(("host",), since=now - 86400)[0]["requests"] == 1
    assert ledger.totals(since=now + 1) == []


def test_partial_and_cancelled_attempts_are_recorded_and_charged(ledger: Ledger) -> None:
    ledger.record(paid(1000, 250, outcome="partial", error="node died mid-stream"))
    ledger.record(paid(1000, 0, outcome="cancelled"))
    latest = ledger.attempts()
    assert [a.outcome for a in latest] == ["cancelled", "partial"]
    assert latest[1].error == "node died mid-stream"
    assert latest[1].completion_tokens == 250
    assert ledger.spent_usd() == pytest.approx(0.0045, abs=1e-12)
    assert ledger.totals()[0]["failed"] == 0


def test_attempts_round_trip_newest_first(ledger: Ledger) -> None:
    first = paid(task="debug", time=1000.0)
    second = local(task="analyze", time=2000.0)
    ledger.record(first)
    ledger.record(second)
    assert ledger.attempts() == [second, first]
    assert ledger.attempts(limit=1) == [second]


def test_group_by_is_checked(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="cannot group by price"):
        ledger.totals(("price",))


def test_two_processes_write_at_once(tmp_path: Path) -> None:
    path = tmp_path / "shared" / "usage.sqlite3"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"node:{n}"], stderr=subprocess.PIPE, text=True)
        for n in range(2)
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
    with Ledger(path) as ledger:
        rows = {row["host"]: row["requests"] for row in ledger.totals(("host",))}
        assert rows == {"node:0": 200, "node:1": 200}
        assert ledger.totals(())[0]["requests"] == 400


def test_threads_share_one_ledger(ledger: Ledger) -> None:
    def write(host: str) -> None:
        for _ in range(200):
            ledger.record(Attempt(model="m", host=host, prompt_tokens=1))

    threads = [threading.Thread(target=write, args=(f"h{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ledger.totals(())[0]["requests"] == 400
    assert len(ledger.attempts(limit=1000)) == 400


def test_budget_allows_until_spent_then_denies_with_reason(ledger: Ledger) -> None:
    budget = Budget(ledger, 5.0)
    assert budget.allows_remote(0.002)
    assert budget.remaining() == 5.0
    assert budget.reason() == "$0.00 of the remote budget of $5.00 used; $5.00 left"
    ledger.record(Attempt(model="m", host=NODE, prompt_tokens=1_000_000, price_per_1k=0.002))
    assert budget.remaining() == pytest.approx(3.0)
    assert budget.reason() == "$2.00 of the remote budget of $5.00 used; $3.00 left"
    ledger.record(Attempt(model="m", host=NODE, prompt_tokens=1_510_000, price_per_1k=0.002))
    assert not budget.allows_remote(0.002)
    assert budget.remaining() == 0.0
    assert budget.reason() == "the remote budget of $5.00 is spent ($5.02 used); local models still work"


def test_budget_exactly_at_limit_is_spent(ledger: Ledger) -> None:
    ledger.record(Attempt(model="m", host=NODE, prompt_tokens=1000, price_per_1k=1.0))
    assert not Budget(ledger, 1.0).allows_remote(0.5)
    assert Budget(ledger, 1.01).allows_remote(0.5)


def test_free_hosts_are_always_allowed(ledger: Ledger) -> None:
    ledger.record(Attempt(model="m", host=NODE, prompt_tokens=10_000, price_per_1k=1.0))
    spent = Budget(ledger, 1.0)
    assert not spent.allows_remote(0.001)
    assert spent.allows_remote(0.0)
    assert Budget(ledger, 0.0).allows_remote(0)
    assert not Budget(ledger, 0.0).allows_remote(0.0008)
    assert Budget(None, 1.0).allows_remote(0.0)


def test_no_limit_allows_everything(ledger: Ledger) -> None:
    ledger.record(paid())
    budget = Budget(ledger, None)
    assert budget.allows_remote(100.0)
    assert budget.remaining() is None
    assert budget.reason() == "no remote budget is set; $0.003 used"


def test_unreadable_ledger_refuses_priced_hosts_only() -> None:
    budget = Budget(None, 5.0)
    assert not budget.allows_remote(0.002)
    assert budget.allows_remote(0.0)
    assert budget.reason() == (
        "the remote budget of $5.00 cannot be checked (the usage ledger is not available); "
        "priced nodes are not used, local models still work"
    )


def test_money_in_words() -> None:
    assert format_usd(5) == "$5.00"
    assert format_usd(1234.5) == "$1,234.50"
    assert format_usd(0.003) == "$0.003"
    assert format_usd(0.0) == "$0.00"
    assert budget_status(5.0, 0.0036) == "$0.0036 of the remote budget of $5.00 used; $4.99 left"


def test_corrupt_ledger_file_is_a_clear_error() -> None:
    path = default_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database\n" * 200)
    with pytest.raises(LedgerError) as caught:
        Ledger()
    message = str(caught.value)
    assert str(path) in message
    assert "not a database" in message
    assert "move the file aside" in message


def test_foreign_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE attempts (id INTEGER PRIMARY KEY, what TEXT)")
    db.close()
    with pytest.raises(LedgerError, match="lacks"):
        Ledger(path)


def test_unopenable_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(LedgerError, match="cannot be opened"):
        Ledger(blocker / "usage.sqlite3")


def test_closed_ledger_says_so(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "usage.sqlite3")
    ledger.close()
    with pytest.raises(LedgerError, match="closed"):
        ledger.record(local())


def write_config(text: str) -> None:
    """Write the user's config.toml."""
    path = paths.user_config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cli_table(ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    write_config("[network]\nbudget_usd = 5.0\n")
    ledger.record(paid(task="fix"))
    ledger.record(paid(300, 0, outcome="failed"))
    ledger.record(local())
    assert cli.main(["usage"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines() == [
        "model          host                        requests  failed  prompt  completion     cost",
        "starcoder-15b  node:http://127.0.0.1:9001         2       1   1,300         500  $0.0036",
        "code-llama-7b  local                              1       0     200         100    $0.00",
        "total                                             3       1   1,500         600  $0.0036",
        "budget: $0.0036 of the remote budget of $5.00 used; $4.99 left",
    ]


def test_cli_by_model(ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    ledger.record(paid())
    ledger.record(Attempt(model="starcoder-15b", host="node:b", prompt_tokens=500, price_per_1k=0.002))
    assert cli.main(["usage", "--by", "model"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [
        "model          requests  failed  prompt  completion    cost",
        "starcoder-15b         2       0   1,500         500  $0.004",
        "total                 2       0   1,500         500  $0.004",
    ]
    assert out[3] == "budget: no remote budget is set; $0.004 used"


def test_cli_json(ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    write_config("[network]\nbudget_usd = 0.003\n")
    ledger.record(paid(time=time.time() - 3 * 86400))
    ledger.record(local())
    assert cli.main(["usage", "--json", "--by", "host", "--since", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["by"] == ["host"]
    assert report["rows"] == [
        {"host": "local", "requests": 1, "prompt_tokens": 200, "completion_tokens": 100, "cost_usd": 0.0, "failed": 0}
    ]
    assert report["total"]["requests"] == 1
    assert report["since"] == pytest.approx(time.time() - 86400, abs=60)
    assert report["budget"] == {
        "limit_usd": 0.003,
        "spent_usd": 0.003,
        "remaining_usd": 0.0,
        "exhausted": True,
        "status": "the remote budget of $0.003 is spent ($0.003 used); local models still work",
    }
    assert report["ledger"] == str(default_path())


def test_cli_empty_ledger_is_friendly(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["usage"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("No model requests recorded yet")
    assert "budget: no remote budget is set; $0.00 used" in out
    assert not default_path().exists()
    assert cli.main(["usage", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == [] and report["total"]["requests"] == 0


def test_cli_empty_window(ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    ledger.record(paid(time=time.time() - 30 * 86400))
    assert cli.main(["usage", "--since", "7"]) == 0
    assert capsys.readouterr().out.startswith("No model requests recorded in the last 7 days")


def test_cli_config_problems_go_to_stderr(ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    write_config("[network]\nbudget_usd = -1\n")
    ledger.record(paid())
    assert cli.main(["usage"]) == 0
    out, err = capsys.readouterr()
    assert "freescode: config:" in err and "budget_usd" in err
    assert "config" not in out
    assert out.splitlines()[-1] == "budget: no remote budget is set; $0.003 used"


def test_cli_bad_since_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["usage", "--since", "-2"])
    assert caught.value.code == 2
    assert "positive number of days" in capsys.readouterr().err


def test_cli_corrupt_ledger_exits_1_with_message(capsys: pytest.CaptureFixture[str]) -> None:
    path = default_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00garbage" * 512)
    assert cli.main(["usage"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"freescode: the usage ledger {path} cannot be opened: file is not a database")
