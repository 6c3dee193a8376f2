"""Issue 21's fast tier: FLOPs counted on the full architecture, step skipping, late guidance skipping."""

from __future__ import annotations

import pytest

from i2v.engine import flops


@pytest.mark.parametrize("size,tflop", [((1280, 704), 176.2), ((512, 512), 41.9)])
def test_an_exact_step_counts_the_published_flops_attention_included(size, tflop):
    """Batch 2, 16 frames, the full UNet on fake tensors: 176.2 TFLOP at native, 41.9 at 512x512 (the
    attention cores are in it: without the math backend the CPU counter would miss about a quarter)."""
    counted = flops.step_flops(*size, 16, 2, "full") / 1e12
    assert counted == pytest.approx(tflop, rel=0.01)
    assert flops.step_flops(*size, 16, 1, "full") == pytest.approx(counted * 1e12 / 2, rel=0.01)


def test_a_deepcache_step_counts_the_shallow_branch_only():
    """Counted through the project's DeepCache: at native the shallow branch is close to half a step, so
    no interval passes 2.1x (issue 21's table: N=3 saves 1.54x over 50 steps)."""
    full = flops.step_flops(1280, 704, 16, 2, "full")
    reused = flops.step_flops(1280, 704, 16, 2, "reused")
    assert 0.40 < reused / full < 0.55
    exact = flops.exact_video_flops(1280, 704, 16, 50)
    n3 = flops.video_flops(1280, 704, 16, 50, fast=3)
    assert n3["steps"] == {"full/b2": 17, "reused/b2": 33}
    assert exact / n3["flops"] == pytest.approx(1.54, abs=0.02)


def test_the_step_plan_follows_the_interval_and_the_guidance_stop():
    assert flops.step_plan(7, fast=3) == [("full", 2), ("reused", 2), ("reused", 2)] * 2 + [("full", 2)]
    assert flops.guidance_stop_index(50, 0.8) == 40 and flops.guidance_stop_index(25, 1.0) == 25
    plan = flops.step_plan(10, guidance_stop=0.75)  # ceil(7.5) = 8: steps 8 and 9 at batch 1
    assert [b for _, b in plan] == [2] * 8 + [1] * 2
    assert all(b == 1 for _, b in flops.step_plan(4, cfg=False))
    late = flops.video_flops(512, 512, 16, 10, guidance_stop=0.75)
    assert late["steps"] == {"full/b2": 8, "full/b1": 2}
    assert late["flops"] == 8 * flops.step_flops(512, 512, 16, 2) + 2 * flops.step_flops(512, 512, 16, 1)
    with pytest.raises(ValueError):
        flops.video_flops(512, 512, 16, 10, scheduler="euler")


def test_indicator_candidates_are_counted_up_to_their_module():
    full = flops.step_flops(1280, 704, 16, 2, "full")
    conv_in = flops.front_flops(1280, 704, 16, "conv_in")
    t_in = flops.front_flops(1280, 704, 16, "transformer_in")
    first = flops.front_flops(1280, 704, 16, "down_blocks.0")
    assert 0 < conv_in < t_in < first < full
    assert t_in / full <= 0.10 < first / full
