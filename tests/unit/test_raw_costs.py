"""The completion bench's physical limit: raw costs interpolated to a suggestion's own depth and batch size."""

from __future__ import annotations

import math

from bench.raw_costs import BATCH, Costs, DepthCost

COSTS = Costs((DepthCost(0, 0.030, 0.400), DepthCost(1000, 0.040, 0.500), DepthCost(3000, 0.050, 0.700)))


def test_a_batch_costs_one_token_alone_plus_a_share_of_the_measured_batch_for_each_more() -> None:
    cost = COSTS.at[0]
    assert cost.batch_of(0) == 0.0
    assert cost.batch_of(1) == 0.030
    assert math.isclose(cost.batch_of(BATCH), 0.400)
    assert math.isclose(cost.batch_of(17), 0.030 + 16 * (0.400 - 0.030) / (BATCH - 1))


def test_costs_between_measured_depths_are_interpolated_and_held_beyond_them() -> None:
    middle = COSTS.cost_at(2000)
    assert math.isclose(middle.single_s, 0.045) and math.isclose(middle.batch_s, 0.600)
    assert COSTS.cost_at(5000) == COSTS.at[-1]
    assert COSTS.cost_at(-5) == COSTS.at[0]


def test_a_suggestions_limit_is_its_batch_at_its_depth_and_its_tokens_one_by_one_after_it() -> None:
    seconds = COSTS.seconds(1000, BATCH, 10)
    after = COSTS.cost_at(1000 + BATCH)
    assert math.isclose(seconds, 0.500 + 10 * after.single_s)
    assert after.single_s > 0.040
    assert COSTS.seconds(0, 0, 0) == 0.0
