"""The in-process llama.cpp engine: one thread per loaded model, bridged to an async token stream."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from freescode_lsp import modelfiles
from freescode_lsp.config import LocalSettings
from freescode_lsp.engines import footprint
from freescode_lsp.engines.base import (
    Chunk,
    GenerationRequest,
    GenerationTimeout,
    Message,
    ModelLoadError,
    ModelUnavailable,
    Usage,
)
from freescode_lsp.engines.fitting import fit_text
from freescode_lsp.engines.llama_log import route_llama_cpp_logs
from freescode_lsp.engines.pool import LoadedModel, ModelPool
from freescode_lsp.mesh.catalog import Catalog, ModelSpec

_END = object()
log = logging.getLogger(__name__)
BATCH = footprint.DEFAULT_BATCH
TOKENS_BEYOND_BYTES = 2  # every token stands for at least one byte; BOS (and EOS) may add one each


def plain_chat_prompt(messages: list[Message]) -> str:
    """Messages as plain text, for models without a chat template."""
    parts = [f"{message.role.capitalize()}: {message.content}" for message in messages]
    return "\n\n".join(parts) + "\n\nAssistant:"


class LocalEngine:
    """Runs catalog models in this process through llama-cpp-python."""

    name = "local"

    def __init__(self, catalog: Catalog, settings: LocalSettings) -> None:
        self.catalog = catalog
        self.settings = settings
        self.models_dir = Path(settings.models_dir).expanduser() if settings.models_dir else None
        self.last_run: dict[str, Any] = {}
        self.pool = ModelPool(
            self._load, self._predict_footprint, int(settings.memory_budget_gb * 1024**3), settings.idle_unload_s
        )
        self.pool.on_over_budget = self._over_budget
        self.warn: Callable[[str], None] = log.warning

    def _over_budget(self, model_id: str, needed: int, budget: int) -> None:
        """Tell the user that a model alone is larger than the memory budget, and what to change."""
        self.warn(
            f"{model_id} needs about {footprint.human_bytes(needed)} with a {self.context_size(model_id)}-token "
            f"window, more than [local] memory_budget_gb = {self.settings.memory_budget_gb:g}; it runs alone, "
            "with every other local model unloaded. Raise the budget or lower [local] max_context."
        )

    def can_serve(self, model_id: str) -> bool:
        """Whether the model's file is on disk (or the embedded package can assemble it)."""
        spec = self.catalog.get(model_id)
        if spec is None:
            return False
        where = modelfiles.availability(spec, self.models_dir)
        return where == "local" or (where == "pullable" and self.settings.auto_pull)

    def context_size(self, model_id: str) -> int:
        """The window this engine opens for a model."""
        spec = self.catalog[model_id]
        return min(spec.context, self.settings.max_context)

    def _model_file(self, spec: ModelSpec) -> Path:
        """The model's file, downloading it first when `[local] auto_pull` allows."""
        if self.settings.auto_pull and modelfiles.local_path(spec, self.models_dir) is None and not spec.embedded:
            return modelfiles.pull(spec, self.models_dir, progress=False)
        return modelfiles.require(spec, self.models_dir)

    def _predict_footprint(self, model_id: str, path: Path) -> footprint.Footprint:
        """The model's expected memory at the window this engine opens for it."""
        return footprint.predict(path, self.context_size(model_id), BATCH)

    def _load(self, model_id: str, path: Path) -> Any:
        from llama_cpp import Llama

        route_llama_cpp_logs()

        spec = self.catalog[model_id]
        if not path.is_file():
            raise ModelLoadError(f"{model_id}: file {path} does not exist")
        return Llama(
            model_path=str(path),
            n_ctx=self.context_size(model_id),
            n_threads=spec.threads or self.settings.threads,
            n_batch=BATCH,
            verbose=False,
        )

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        """Stream the model's answer; cancelling the consumer stops generation within a token."""
        spec = self.catalog.get(request.model)
        if spec is None:
            raise ModelUnavailable(f"{request.model}: not in the catalog")
        path = self.pool.path_of(request.model)
        own = modelfiles.user_gguf(spec)
        if path is None or (own is not None and own != path) or not path.is_file():
            try:
                path = await asyncio.to_thread(self._model_file, spec)
            except modelfiles.ModelFileError as exc:
                raise ModelUnavailable(f"{request.model}: {exc}") from exc
        model = await self.pool.acquire(request.model, path)
        try:
            async for chunk in self._generate(model, spec, request):
                yield chunk
        finally:
            self.pool.release(model)

    async def _generate(
        self, model: LoadedModel, spec: ModelSpec, request: GenerationRequest
    ) -> AsyncIterator[Chunk]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancel = threading.Event()

        def emit(item: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        stats: dict[str, Any] = {"tokens": 0, "tokens_after_cancel": 0, "prompt": ""}
        self.last_run = stats
        job = loop.run_in_executor(
            model.executor,
            _run_generation, model.llama, spec, request, self.context_size(spec.id), cancel, emit, stats,
        )
        try:
            while True:
                remaining = request.remaining()
                if remaining is not None and remaining <= 0:
                    raise GenerationTimeout(f"{request.model}: deadline passed while generating")
                try:
                    item = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError as exc:
                    raise GenerationTimeout(f"{request.model}: deadline passed while generating") from exc
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield Chunk(**item, model=request.model, engine=self.name)
        finally:
            cancel.set()
            if not job.done():
                try:
                    await asyncio.shield(job)
                except (asyncio.CancelledError, Exception):  # noqa: BLE001 - already reporting the first error
                    pass

    async def aclose(self) -> None:
        """Unload every model."""
        await self.pool.close()


def _run_generation(
    llama: Any,
    spec: ModelSpec,
    request: GenerationRequest,
    context_size: int,
    cancel: threading.Event,
    emit: Callable[[Any], None],
    stats: dict[str, Any],
) -> None:
    """Worker-thread body: build the prompt, stream tokens into `emit`, finish with usage."""
    try:
        prompt, stop = render_prompt(llama, spec, request, context_size)
        stats["prompt"] = prompt
        kwargs: dict[str, Any] = {
            "prompt": prompt,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stop": stop or None,
            "stream": True,
        }
        if request.json_schema is not None:
            kwargs["grammar"] = _grammar(json.dumps(request.json_schema, sort_keys=True))
        pieces: list[str] = []
        finish_reason = "stop"
        stream = llama.create_completion(**kwargs)
        try:
            for part in stream:
                stats["tokens"] += 1
                if cancel.is_set():
                    stats["tokens_after_cancel"] += 1
                    finish_reason = "cancelled"
                    break
                choice = part["choices"][0]
                text = choice.get("text") or ""
                if choice.get("finish_reason"):
                    finish_reason = choice["finish_reason"]
                if text:
                    pieces.append(text)
                    emit({"text": text})
        finally:
            stream.close()
        completion = "".join(pieces)
        prompt_tokens = len(_tokenize(llama, prompt))
        completion_tokens = len(_tokenize(llama, completion, add_bos=False)) if completion else 0
        emit({"usage": Usage(prompt_tokens, completion_tokens), "finish_reason": finish_reason})
    except BaseException as exc:  # noqa: BLE001 - every failure crosses to the async side
        emit(exc)
    finally:
        emit(_END)


def render_prompt(
    llama: Any, spec: ModelSpec, request: GenerationRequest, context_size: int
) -> tuple[str, list[str]]:
    """The prompt text for this model's style, cut to fit its window minus max tokens, and its stops."""
    limit = max(16, context_size - request.max_tokens)
    stop = list(request.stop)
    if request.messages and (spec.prompt_style == "chat" or request.prompt is None):
        template = _chat_template(llama) if spec.prompt_style == "chat" else None
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        raw = template(messages) if template else plain_chat_prompt(list(request.messages))
    else:
        raw = request.prompt or ""
        stop += request.prompt_stop

    def count(text: str) -> int:
        bound = len(text.encode("utf-8")) + TOKENS_BEYOND_BYTES
        return bound if bound <= limit else len(_tokenize(llama, text))

    def keep_tail(text: str, budget: int) -> str:
        tokens = _tokenize(llama, text, add_bos=False)
        return llama.detokenize(tokens[-budget:]).decode("utf-8", errors="ignore")

    return fit_text(raw, request.surrounding, count, limit, keep_tail) + request.continuation, stop


def _tokenize(llama: Any, text: str, add_bos: bool = True) -> list[int]:
    return llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)


def _chat_template(llama: Any) -> Callable[[list[dict[str, str]]], str] | None:
    source = (getattr(llama, "metadata", None) or {}).get("tokenizer.chat_template")
    if not source:
        return None
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def token_text(token: int) -> str:
        return llama.detokenize([token], special=True).decode("utf-8", errors="ignore")

    formatter = Jinja2ChatFormatter(
        template=source, eos_token=token_text(llama.token_eos()), bos_token=token_text(llama.token_bos())
    )

    def render(messages: list[dict[str, str]]) -> str:
        text = formatter(messages=messages).prompt
        bos = token_text(llama.token_bos())
        return text[len(bos) :] if bos and text.startswith(bos) else text

    return render


@lru_cache(maxsize=16)
def _grammar(schema_json: str) -> Any:
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_json_schema(schema_json, verbose=False)
