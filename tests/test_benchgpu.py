"""``bench --gpu --profile`` and ``--gpu --speed`` on the CPU with the tiny model (issue 20): the same code
paths as on a card, smoke-sized."""

from __future__ import annotations

import json

import pytest

from i2v.planning.speedplan import card_slug


@pytest.mark.parametrize("name,slug", [("NVIDIA H100 80GB HBM3", "h100"), ("NVIDIA H200", "h200"),
                                       ("NVIDIA GeForce RTX 4090", "rtx-4090"), ("NVIDIA A100-SXM4-80GB", "a100"),
                                       ("NVIDIA H100 PCIe", "h100"), ("NVIDIA L40S", "l40s"), ("cpu", "cpu")])
def test_card_slug(name, slug):
    assert card_slug(name) == slug


@pytest.mark.heavy
def test_profile_groups_cover_the_time_and_name_each_attention_kind(tmp_path):
    from i2v.bench.gpu import run_profile

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


def test_combine_takes_the_levers_that_helped_within_the_exact_tier():
    from i2v.bench.gpu import combine

    def row(name, speed, vs, diff=0.0, skipped=None):
        r = {"config": name, "speed": speed, "lever": True, "vs_exact": vs, "max_abs_diff": diff,
             "s_per_video": vs}
        return {**r, "skipped": skipped} if skipped else r

    rows = [row("cl", {"memory_format": "channels_last"}, 0.9), row("fq", {"fuse_qkv": True}, 1.01),
            row("sf", {"attention": {"spatial": "flash"}}, 0.8),
            row("se", {"attention": {"spatial": "efficient"}}, 0.7),
            row("tf", {"attention": {"temporal": "flash"}}, 0.95, diff=0.5),  # faster but not exact
            row("c", {"compile": "regional"}, 0.5, skipped="no")]
    assert combine(rows) == {"memory_format": "channels_last", "attention": {"spatial": "efficient"}}
    assert combine(rows[:2]) is None  # one lever alone is its own row


@pytest.mark.heavy
def test_bench_gpu_speed_through_the_cli_on_the_cpu(tmp_path):
    """Every row is a measurement or a skip with its reason, written to the JSON lines as it comes."""
    import subprocess
    import sys

    from .conftest import ROOT

    r = subprocess.run([sys.executable, "-m", "i2v", "bench", "--gpu", "--speed", "--json", "--device", "cpu",
                        "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout)["speed"]
    lines = [json.loads(x) for x in (tmp_path / "bench-gpu-cpu.jsonl").read_text().splitlines()]
    assert lines[0]["info"]["card"] == "cpu"
    assert [(x["config"], x.get("s_per_video")) for x in lines[1:]] == [(x["config"], x.get("s_per_video"))
                                                                        for x in res["rows"]]
    assert json.loads((tmp_path / "bench-gpu-cpu.json").read_text())["levers"]["rows"] == res["rows"]
    rows = {x["config"]: x for x in res["rows"]}
    assert rows["ours exact"]["max_abs_diff"] == 0 and rows["ours exact"]["ratio_vs_diffusers"] > 0
    assert rows["diffusers stock"]["ratio_vs_diffusers"] == 1.0
    assert "CUDA only" in rows["spatial=cudnn"]["skipped"] and "CUDA only" in rows["temporal=efficient"]["skipped"]
    assert "8.9" in rows["fp8"]["skipped"]
    for name in ("channels_last", "fuse_qkv", "spatial=flash", "temporal=flash", "temporal_conv=matmul"):
        x = rows[name]
        assert x["max_abs_diff"] < 1e-4 and x["s_per_video"] > 0 and x["peak_gib"] > 0 and "ratio_vs_diffusers" in x
    assert all("skipped" in x or "s_per_video" in x for x in res["rows"])
    final = [x for x in res["rows"] if x["config"].startswith("best exact")]
    assert len(final) == 1 and final[0]["steps"] == 50 and final[0]["best_of"] == res["best_exact"]
    assert "ratio_vs_diffusers" not in final[0] and final[0]["max_abs_diff"] is None  # no 50-step reference here
    (plan,) = res["planner"]
    assert plan["planned_row"] == "ours exact" and plan["measured"] is False and plan["fastest_exact_row"]
