"""The in-process llama.cpp engine: one thread per loaded model, bridged to an async token stream."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freescode_lsp.config import LocalSettings
from freescode_lsp.engines.base import (
    Chunk,
    EngineError,
    GenerationFailed,
    GenerationRequest,
    GenerationTimeout,
    ModelLoadError,
    ModelUnavailable,
    PromptRenderError,
    Usage,
)
from freescode_lsp.engines.fitting import fit_text
from freescode_lsp.engines.local.fast_tests import refuse_in_fast_tests
from freescode_lsp.engines.local.llama_log import route_llama_cpp_logs
from freescode_lsp.engines.local.pool import LoadedModel, ModelPool
from freescode_lsp.engines.local.templates import chat_template, plain_chat_prompt
from freescode_lsp.engines.local.trial import ModelProbe, Verdict
from freescode_lsp.models import footprint, weights
from freescode_lsp.models.catalog import Catalog, ModelSpec

if TYPE_CHECKING:
    from llama_cpp import Llama
    from llama_cpp.llama_grammar import LlamaGrammar

_END = object()
_STARTED = object()
_RENDERED = object()
log = logging.getLogger(__name__)
BATCH = footprint.DEFAULT_BATCH
TOKENS_BEYOND_BYTES = 2  # every token stands for at least one byte; BOS (and EOS) may add one each
RENDER_TIMEOUT_S = 10.0
_LOADING = threading.Lock()  # llama.cpp loading two models at once in one process can end the process or hang


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
        self.probe = ModelProbe(threads=settings.threads)
        self.warn: Callable[[str], None] = log.warning
        self.lane: LocalEngine | None = None

    def _over_budget(self, model_id: str, needed: int, budget: int) -> None:
        """Tell the user that a model alone is larger than the memory budget, and what to change."""
        self.warn(
            f"{model_id} needs about {footprint.human_bytes(needed)} with a {self.context_size(model_id)}-token "
            f"window, more than [local] memory_budget_gb = {self.settings.memory_budget_gb:g}; it runs alone, "
            "with every other local model unloaded. Raise the budget or lower [local] max_context."
        )

    def can_serve(self, model_id: str) -> bool:
        """Whether the model's file is on disk (or can be assembled or pulled) and not known to fail."""
        spec = self.catalog.get(model_id)
        if spec is None:
            return False
        where = weights.availability(spec, self.models_dir)
        if where == "local":
            return self.known_failure(spec) is None
        return where == "pullable" and self.settings.auto_pull

    def known_failure(self, spec: ModelSpec) -> str | None:
        """Why the model's file on disk cannot run, if a trial run showed it."""
        path = weights.local_path(spec, self.models_dir)
        verdict = self.probe.known(path) if path is not None else None
        return verdict.message(spec.id, path) if verdict is not None and path is not None and not verdict.ok else None

    async def _checked(self, model_id: str, path: Path) -> None:
        """Refuse a file that crashed, failed or hung in its trial run in a child process."""
        if self.pool.path_of(model_id) == path:
            return
        verdict = await self.probe.check(path)
        if not verdict.ok:
            raise ModelLoadError(verdict.message(model_id, path))

    def context_size(self, model_id: str) -> int:
        """The window this engine opens for a model."""
        spec = self.catalog[model_id]
        return min(spec.context, self.settings.max_context)

    def _model_file(self, spec: ModelSpec) -> Path:
        """The model's file, downloading it first when `[local] auto_pull` allows and it cannot be assembled here."""
        assemblable = spec.embedded or weights.mirror_installed(spec)
        if self.settings.auto_pull and weights.local_path(spec, self.models_dir) is None and not assemblable:
            return weights.pull(spec, self.models_dir, progress=False)
        return weights.require(spec, self.models_dir)

    def _predict_footprint(self, model_id: str, path: Path) -> footprint.Footprint:
        """The model's expected memory at the window this engine opens for it."""
        return footprint.predict(path, self.context_size(model_id), BATCH)

    def _load(self, model_id: str, path: Path) -> Any:
        from llama_cpp import Llama

        route_llama_cpp_logs()

        spec = self.catalog[model_id]
        if not path.is_file():
            raise ModelLoadError(f"{model_id}: file {path} does not exist")
        with _LOADING:
            return Llama(
                model_path=str(path),
                n_ctx=self.context_size(model_id),
                n_threads=spec.threads or self.settings.threads,
                n_batch=BATCH,
                verbose=False,
            )

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        """Stream the model's answer; cancelling the consumer stops generation within a token."""
        if request.infill is not None:
            from freescode_lsp.engines.local.completion import lane_for

            lane = lane_for(self)
            if lane is not self:
                async for chunk in lane.stream(request):
                    yield chunk
                return
        spec = self.catalog.get(request.model)
        if spec is None:
            raise ModelUnavailable(f"{request.model}: not in the catalog")
        path = self.pool.path_of(request.model)
        own = weights.user_gguf(spec)
        if path is None or (own is not None and own != path) or not path.is_file():
            try:
                path = await asyncio.to_thread(self._model_file, spec)
            except weights.ModelFileError as exc:
                raise ModelUnavailable(f"{request.model}: {exc}") from exc
        refuse_in_fast_tests(request.model)
        await self._checked(request.model, path)
        model = await self.pool.acquire(request.model, path)
        try:
            async for chunk in self._generate(model, spec, request):
                yield chunk
        finally:
            self.pool.release(model)

    async def _generate(self, model: LoadedModel, spec: ModelSpec, request: GenerationRequest) -> AsyncIterator[Chunk]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancel = threading.Event()

        def emit(item: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        stats: dict[str, Any] = {"tokens": 0, "tokens_after_cancel": 0, "prompt": ""}
        self.last_run = stats
        work = model.executor.submit(_run_generation, model.llama, spec, request, self.context_size(spec.id), cancel, emit, stats)
        stage, wedged = _END, False
        try:
            while True:
                try:
                    item = await self._next(queue, request, stage)
                except PromptRenderError as exc:
                    wedged = True
                    self._wedged(model, str(exc))
                    raise
                if item is _STARTED or item is _RENDERED:
                    stage = item
                    continue
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise _as_engine_error(item, request.model, model.path)
                yield Chunk(**item, model=request.model, engine=self.name)
        finally:
            cancel.set()
            work.cancel()
            if not work.done() and not wedged:
                await self._finish(work, model, request, RENDER_TIMEOUT_S if stage is _STARTED else None)

    async def _finish(self, work: Future[Any], model: LoadedModel, request: GenerationRequest, limit: float | None) -> None:
        """Wait for the worker to stop (within a token); one still rendering after `limit` is stuck."""
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(work)), limit)
        except TimeoutError:
            self._wedged(model, f"{request.model}: its chat template did not finish in {RENDER_TIMEOUT_S:g} s")
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - already reporting the first error
            pass

    async def _next(self, queue: asyncio.Queue[Any], request: GenerationRequest, stage: object) -> Any:
        """The worker's next item, within the request's deadline and, while it renders, the template's."""
        remaining = request.remaining()
        if remaining is not None and remaining <= 0:
            raise GenerationTimeout(f"{request.model}: deadline passed while generating")
        rendering = stage is _STARTED and (remaining is None or remaining > RENDER_TIMEOUT_S)
        try:
            return await asyncio.wait_for(queue.get(), RENDER_TIMEOUT_S if rendering else remaining)
        except TimeoutError as exc:
            if rendering:
                raise PromptRenderError(f"{request.model}: its chat template did not finish in {RENDER_TIMEOUT_S:g} s") from exc
            raise GenerationTimeout(f"{request.model}: deadline passed while generating") from exc

    def _wedged(self, model: LoadedModel, why: str) -> None:
        """Give up a model whose thread is stuck: drop it from the pool and refuse its file from now on."""
        self.pool.discard(model)
        verdict = Verdict(False, why.split(": ", 1)[-1], "Use another GGUF of this model; the task falls back along the chain.")
        self.probe.record(model.path, verdict)
        log.warning("%s", verdict.message(model.model_id, model.path))

    async def aclose(self) -> None:
        """Unload every model."""
        await self.pool.close()
        if self.lane is not None and self.lane is not self:
            await self.lane.aclose()


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
        emit(_STARTED)
        try:
            prompt, stop = render_prompt(llama, spec, request, context_size)
        except Exception as exc:
            raise PromptRenderError(f"{spec.id}: its chat template failed: {type(exc).__name__}: {exc}") from exc
        emit(_RENDERED)
        stats["prompt"] = prompt
        run_prompt: str | list[int] = prompt
        pieces: list[str] = []
        started = time.perf_counter()  # the model's first token comes after the prompt and any healed tokens
        if request.infill is not None:
            from freescode_lsp.engines.local.completion import healed_prompt

            run_prompt, overshoot = healed_prompt(llama, prompt, stats)
            if overshoot:
                pieces.append(overshoot)
                emit({"text": overshoot})
        kwargs: dict[str, Any] = {
            "prompt": run_prompt,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stop": stop or None,
            "stream": True,
        }
        if request.json_schema is not None:
            kwargs["grammar"] = _grammar(json.dumps(request.json_schema, sort_keys=True))
        finish_reason = "stop"
        stream = llama.create_completion(**kwargs)
        try:
            for part in stream:
                stats["tokens"] += 1
                stats.setdefault("first_token_s", time.perf_counter() - started)
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
        if request.infill is not None:
            from freescode_lsp.engines.local.completion import observe_run

            observe_run(llama, stats)
        prompt_tokens = len(_tokenize(llama, prompt))
        completion_tokens = len(_tokenize(llama, completion, add_bos=False)) if completion else 0
        emit({"usage": Usage(prompt_tokens, completion_tokens), "finish_reason": finish_reason})
    except BaseException as exc:  # noqa: BLE001 - every failure crosses to the async side
        emit(exc)
    finally:
        emit(_END)


def _as_engine_error(exc: BaseException, model_id: str, path: Path) -> BaseException:
    """A worker's failure as an engine error that routing falls back on (interrupts pass through)."""
    if isinstance(exc, EngineError) or not isinstance(exc, Exception):
        return exc
    failed = GenerationFailed(f"{model_id} ({path.name}): generation failed: {type(exc).__name__}: {exc}")
    failed.__cause__ = exc
    return failed


def render_prompt(llama: Llama, spec: ModelSpec, request: GenerationRequest, context_size: int) -> tuple[str, list[str]]:
    """The prompt text for this model's style, cut to fit its window minus max tokens, and its stops."""
    if request.infill is not None:
        from freescode_lsp.engines.local.completion import render_infill

        return render_infill(llama, spec, request, context_size)
    limit = max(16, context_size - request.max_tokens)
    stop = list(request.stop)
    if request.messages and (spec.prompt_style == "chat" or request.prompt is None):
        template = chat_template(llama) if spec.prompt_style == "chat" else None
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


def _tokenize(llama: Llama, text: str, add_bos: bool = True) -> list[int]:
    return llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)


@lru_cache(maxsize=16)
def _grammar(schema_json: str) -> LlamaGrammar:
    from llama_cpp.llama_grammar import LlamaGrammar

    return LlamaGrammar.from_json_schema(schema_json, verbose=False)
