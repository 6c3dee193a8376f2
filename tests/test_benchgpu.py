"""``bench --gpu --profile`` and ``--gpu --speed`` on the CPU with the tiny model (issue 20): the same code
paths as on a card, smoke-sized."""

from __future__ import annotations

import json

import pytest

from i2v.speedplan import card_slug


@pytest.mark.parametrize("name,slug", [("NVIDIA H100 80GB HBM3", "h100"), ("NVIDIA H200", "h200"),
                                       ("NVIDIA GeForce RTX 4090", "rtx-4090"), ("NVIDIA A100-SXM4-80GB", "a100"),
                                       ("NVIDIA H100 PCIe", "h100"), ("NVIDIA L40S", "l40s"), ("cpu", "cpu")])
def test_card_slug(name, slug):
    assert card_slug(name) == slug


def test_profile_groups_cover_the_time_and_name_each_attention_kind(tmp_path):
    from i2v.benchgpu import run_profile

    res = run_profile("cpu", out=str(tmp_path), log=lambda m: None)
    written = json.loads((tmp_path / "profile-cpu.json").read_text())
    assert written["groups"] == res["groups"] and res["written"] == str(tmp_path / "profile-cpu.json")
    groups = {g["group"]: g for g in res["groups"]}
    total = res["total_ms"]
    assert total > 0 and abs(sum(g["ms"] for g in groups.values()) - total) < 0.05 * total
    assert 1 - groups["other"]["ms"] / total >= 0.90  # the named kinds hold at least 90% of the time
    for kind in ("attention_spatial", "attention_temporal", "attention_cross", "conv2d", "conv3d", "linear_geglu",
                 "norm", "vae_decode"):
        assert groups[kind]["ms"] > 0, kind
    assert groups["vae_decode"]["per_step_ms"] == 0  # the decode is profiled apart from the steps
    assert 0 < len(res["top_kernels"]) <= 15 and all(not k["name"].startswith("i2v::") for k in res["top_kernels"])
    assert res["steps_wall_s"] > 0 and res["decode_wall_s"] > 0
