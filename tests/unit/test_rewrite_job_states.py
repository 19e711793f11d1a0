"""A rewrite job moves pending -> streaming -> one final state, and nowhere else."""

from __future__ import annotations

import pytest

from freescode_lsp.lsp.features.rewrite_job import NEXT_STATES, JobState, WrongTransition, moved

FINAL = (JobState.APPLIED, JobState.CANCELLED, JobState.FAILED, JobState.STALE)


def test_a_job_streams_before_it_ends_in_any_final_state() -> None:
    for final in FINAL:
        state = moved(JobState.PENDING, JobState.STREAMING)
        assert moved(state, final) is final


def test_a_job_cancelled_before_it_streams_is_cancelled() -> None:
    assert moved(JobState.PENDING, JobState.CANCELLED) is JobState.CANCELLED


@pytest.mark.parametrize("final", [JobState.APPLIED, JobState.FAILED, JobState.STALE, JobState.PENDING])
def test_a_pending_job_cannot_skip_streaming(final: JobState) -> None:
    with pytest.raises(WrongTransition, match="pending"):
        moved(JobState.PENDING, final)


@pytest.mark.parametrize("final", FINAL)
def test_a_final_state_is_final(final: JobState) -> None:
    for to in JobState:
        with pytest.raises(WrongTransition):
            moved(final, to)


def test_a_streaming_job_cannot_go_back() -> None:
    for to in (JobState.PENDING, JobState.STREAMING):
        with pytest.raises(WrongTransition):
            moved(JobState.STREAMING, to)


def test_every_state_has_its_transitions_written_down() -> None:
    assert set(NEXT_STATES) == set(JobState)
