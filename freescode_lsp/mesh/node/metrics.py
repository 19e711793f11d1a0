"""A node gateway's counters, its time-to-first-token histogram, and its recent speed."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping

TTFT_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PREFIX = "freescode_node"
ENDPOINTS = frozenset({"models", "chat/completions", "completions", "embeddings"})
ERROR_KINDS = ("engine_unreachable", "engine_stream_broken", "engine_answer_refused", "client_disconnected")
CLOSE_REASONS = ("refused", "evicted", "idle", "headers_timeout", "body_timeout", "slow_body", "bad_request")


def endpoint_label(path: str) -> str:
    """The endpoint a /v1 path names, or "other", so that clients cannot make labels up."""
    return path if path in ENDPOINTS else "other"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**values: str) -> str:
    inner = ",".join(f'{name}="{_escape(value)}"' for name, value in values.items())
    return "{" + inner + "}"


def _number(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Metrics:
    """Everything `/metrics` shows and the heartbeat reports."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.requests: Counter[tuple[str, int]] = Counter()
        self.tokens: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.ttft_buckets = [0] * len(TTFT_BUCKETS_S)
        self.ttft_count = 0
        self.ttft_sum = 0.0
        self._recent_ttft: deque[float] = deque(maxlen=20)
        self._recent_speed: deque[tuple[int, float]] = deque(maxlen=20)

    def request(self, path: str, status: int) -> None:
        """Count one answered request to a /v1 path."""
        self.requests[(endpoint_label(path), status)] += 1

    def error(self, kind: str) -> None:
        """Count one failure, one of ERROR_KINDS."""
        self.errors[kind] += 1

    def served(self, prompt_tokens: int, completion_tokens: int) -> None:
        """Count tokens served."""
        self.tokens["prompt"] += prompt_tokens
        self.tokens["completion"] += completion_tokens

    def first_token(self, seconds: float) -> None:
        """Observe one time to first token."""
        self.ttft_count += 1
        self.ttft_sum += seconds
        for index, bound in enumerate(TTFT_BUCKETS_S):
            if seconds <= bound:
                self.ttft_buckets[index] += 1
        self._recent_ttft.append(seconds)

    def generation(self, completion_tokens: int, seconds: float) -> None:
        """Observe how long the tokens after the first took."""
        if completion_tokens > 1 and seconds > 0:
            self._recent_speed.append((completion_tokens - 1, seconds))

    def recent_ttft_ms(self) -> float | None:
        """Mean time to first token of the recent requests, in milliseconds."""
        if not self._recent_ttft:
            return None
        return 1000 * sum(self._recent_ttft) / len(self._recent_ttft)

    def recent_tokens_per_s(self) -> float | None:
        """Tokens per second after the first token, over the recent requests."""
        seconds = sum(s for _, s in self._recent_speed)
        return sum(n for n, _ in self._recent_speed) / seconds if seconds > 0 else None

    def prometheus(self, in_flight: int, queued: int, connections: int = 0, closed: Mapping[str, int] | None = None) -> str:
        """The Prometheus text exposition format; `closed` counts connections the server closed, by reason."""
        model = self.model
        lines = [
            f"# HELP {PREFIX}_requests_total Requests answered, by endpoint and HTTP status.",
            f"# TYPE {PREFIX}_requests_total counter",
        ]
        for (endpoint, status), count in sorted(self.requests.items()):
            lines.append(f"{PREFIX}_requests_total{_labels(endpoint=endpoint, status=str(status))} {count}")
        lines += [
            f"# HELP {PREFIX}_tokens_total Tokens served, by kind.",
            f"# TYPE {PREFIX}_tokens_total counter",
        ]
        for kind in ("prompt", "completion"):
            lines.append(f"{PREFIX}_tokens_total{_labels(model=model, kind=kind)} {self.tokens[kind]}")
        lines += [
            f"# HELP {PREFIX}_errors_total Failures, by kind.",
            f"# TYPE {PREFIX}_errors_total counter",
        ]
        for kind in ERROR_KINDS:
            lines.append(f"{PREFIX}_errors_total{_labels(kind=kind)} {self.errors[kind]}")
        lines += [
            f"# HELP {PREFIX}_time_to_first_token_seconds Time from forwarding a request to the first token.",
            f"# TYPE {PREFIX}_time_to_first_token_seconds histogram",
        ]
        for bound, count in zip(TTFT_BUCKETS_S, self.ttft_buckets, strict=True):
            lines.append(f"{PREFIX}_time_to_first_token_seconds_bucket{_labels(le=_number(bound))} {count}")
        lines.append(f'{PREFIX}_time_to_first_token_seconds_bucket{{le="+Inf"}} {self.ttft_count}')
        lines.append(f"{PREFIX}_time_to_first_token_seconds_sum {_number(self.ttft_sum)}")
        lines.append(f"{PREFIX}_time_to_first_token_seconds_count {self.ttft_count}")
        lines += [
            f"# HELP {PREFIX}_connections_closed_total Connections the gateway closed itself, by reason.",
            f"# TYPE {PREFIX}_connections_closed_total counter",
        ]
        for reason in CLOSE_REASONS:
            lines.append(f"{PREFIX}_connections_closed_total{_labels(reason=reason)} {(closed or {}).get(reason, 0)}")
        for name, value, text in (
            ("in_flight", in_flight, "Requests being served now."),
            ("queued", queued, "Requests waiting for a slot."),
            ("connections", connections, "Client connections open now."),
        ):
            lines += [f"# HELP {PREFIX}_{name} {text}", f"# TYPE {PREFIX}_{name} gauge", f"{PREFIX}_{name} {value}"]
        return "\n".join(lines) + "\n"
