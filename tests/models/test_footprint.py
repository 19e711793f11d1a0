"""Memory accounting for loaded models: the GGUF header, the forecast, and the real process's growth."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from freescode_lsp.models import footprint
from freescode_lsp.models.gguf_header import GGUFHeaderError, read_metadata


def test_header_scalars_match_what_llama_cpp_reads(gemma_path: Path) -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    ours = read_metadata(gemma_path)
    model = llama_cpp.Llama(model_path=str(gemma_path), vocab_only=True, verbose=False)
    try:
        theirs = model.metadata
    finally:
        model.close()
    assert ours["general.architecture"] == "gemma3"
    shared = [key for key in theirs if key in ours and not isinstance(ours[key], float)]
    assert len(shared) >= 20
    for key in shared:
        expected = theirs[key]
        value = ours[key]
        assert (str(value).lower() if isinstance(value, bool) else str(value)) == expected, key


def test_shape_of_the_embedded_model(gemma_path: Path) -> None:
    shape = footprint.read_shape(gemma_path)
    assert shape == footprint.ModelShape(layers=18, heads=4, kv_heads=1, key_length=256, value_length=256, feed_forward=2048)
    assert footprint.kv_cache_bytes(shape, 2048) == 2048 * 18 * 1 * 512 * 2


@pytest.mark.parametrize(
    "content",
    [b"", b"GGML" + b"\0" * 60, b"GGUF\x01\0\0\0" + b"\0" * 16, b"GGUF\x03\0\0\0" + struct.pack("<QQ", 0, 5)],
    ids=["empty", "other-magic", "version-1", "cut-short"],
)
def test_bad_headers_are_refused_and_the_forecast_falls_back_to_the_size(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    with pytest.raises(GGUFHeaderError):
        read_metadata(path)
    assert footprint.read_shape(path) is None
    forecast = footprint.predict(path, 4096, 512)
    assert forecast.weights == len(content)
    assert forecast.total > len(content) + footprint.CONTEXT_OVERHEAD


def test_forecast_grows_with_the_window(gemma_path: Path) -> None:
    small, large = footprint.predict(gemma_path, 512, 512), footprint.predict(gemma_path, 8192, 512)
    assert small.weights == large.weights == gemma_path.stat().st_size
    assert large.context - small.context == footprint.kv_cache_bytes(footprint.read_shape(gemma_path), 8192 - 512)
    assert large.workspace > small.workspace


MEASURE_IN_A_FRESH_PROCESS = """
import asyncio, gc, json, sys
from pathlib import Path

import llama_cpp  # the library's own pages are the process's, not any model's: load them before measuring
from freescode_lsp.config import settings_from_dict
from freescode_lsp.engines.base import GenerationRequest
from freescode_lsp.engines.local.engine import LocalEngine
from freescode_lsp.models.catalog import build_catalog


def resident_bytes():
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) * 1024


async def main(model, window):
    settings = settings_from_dict({
        "local": {"max_context": window, "threads": 2},
        "models": {"m": {"gguf": model, "prompt_style": "completion", "context": window}},
    }).settings
    engine = LocalEngine(build_catalog(settings), settings.local)
    gc.collect()
    before = resident_bytes()
    prompt = "".join(f"value_{i} = {i} * {i}\\n" for i in range(window))
    chunks = [c async for c in engine.stream(GenerationRequest("m", prompt=prompt, max_tokens=8, temperature=0))]
    grown = resident_bytes() - before
    print(json.dumps({"grown": grown, "counted": engine.pool.used_bytes(), "prompt": chunks[-1].usage.prompt_tokens}))
    await engine.aclose()


asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="resident memory is read from /proc")
@pytest.mark.parametrize("window", [512, 4096])
def test_counted_bytes_cover_what_a_full_window_really_uses(gemma_path: Path, tmp_path: Path, window: int) -> None:
    """In a fresh process, as in the language server: load, fill the window, compare with the memory it took."""
    pytest.importorskip("llama_cpp")
    private_copy = tmp_path / "model.gguf"
    shutil.copyfile(gemma_path, private_copy)
    done = subprocess.run(
        [sys.executable, "-c", MEASURE_IN_A_FRESH_PROCESS, str(private_copy), str(window)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    counted, grown = found["counted"], found["grown"]
    assert found["prompt"] > window - 32
    assert counted >= grown, f"counted {counted >> 20} MiB but the process grew {grown >> 20} MiB"
    assert counted <= grown * 1.3, f"counted {counted >> 20} MiB for {grown >> 20} MiB of real growth"
