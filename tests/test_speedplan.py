"""The planned speed levers (configs/speed-gpu.yaml, i2v/planning/speedplan.py): the picker by card and size, the
memory it keeps free, and the studio applying it only where the user left speed: alone on a CUDA card."""

from __future__ import annotations

import pytest

from i2v.base.errors import InvalidInput
from i2v.planning.speedplan import (SpeedEntry, default_speed, load_speed_table, normalized, pick, plan_vs_measured,
                                    planned_speed)

TABLE = [
    SpeedEntry("hopper small", "H100|H200", 9.0, 512 * 512, {"compile": "regional"}, True, reserve_gib=2.0),
    SpeedEntry("hopper", "H100|H200", 9.0, None, {"memory_format": "channels_last"}, True),
    SpeedEntry("ada", ".*", 8.9, None, {"attention": {"spatial": "efficient"}}, True),
    SpeedEntry("any", ".*", 0, None, {}, False),
]


def test_pick_by_card_capability_and_size():
    assert pick("NVIDIA H100 80GB HBM3", 9.0, 512, 512, table=TABLE).name == "hopper small"
    assert pick("NVIDIA H100 80GB HBM3", 9.0, 1280, 704, table=TABLE).name == "hopper"
    assert pick("NVIDIA GeForce RTX 4090", 8.9, 512, 512, table=TABLE).name == "ada"
    assert pick("NVIDIA GeForce RTX 3090", 8.6, 512, 512, table=TABLE).name == "any"
    assert pick("NVIDIA A100", 8.0, 512, 512, table=TABLE[:3]) is None


def test_an_entry_whose_memory_does_not_fit_is_passed_over():
    """compile's reserve beside the memory plan's predicted peak must fit the free memory."""
    assert pick("NVIDIA H100", 9.0, 512, 512, free_gib=12.0, needed_gib=9.0, table=TABLE).name == "hopper small"
    assert pick("NVIDIA H100", 9.0, 512, 512, free_gib=10.0, needed_gib=9.0, table=TABLE).name == "hopper"


def test_planned_speed_only_when_the_user_left_speed_at_its_defaults():
    base = default_speed()
    speed, e = planned_speed(base, base, "NVIDIA H100", 9.0, 1280, 704, table=TABLE)
    assert e.name == "hopper" and speed == normalized({"memory_format": "channels_last"})
    mine = {**base, "fuse_qkv": True}
    assert planned_speed(mine, base, "NVIDIA H100", 9.0, 1280, 704, table=TABLE) == (mine, None)
    assert planned_speed(base, base, None, 0, 1280, 704, table=TABLE) == (base, None)  # no card


def test_the_shipped_table_is_unmeasured_and_plans_no_lever():
    """Nothing measured on a card yet: every entry says so and holds no lever (never an estimated speed)."""
    table = load_speed_table()
    assert table and all(not e.measured and e.speed == {} and e.measured_on is None for e in table)
    for card, cap in (("NVIDIA H100 80GB HBM3", 9.0), ("NVIDIA GeForce RTX 4060", 8.9), ("Tesla T4", 7.5)):
        e = pick(card, cap, 1280, 704, table=table)
        assert e is not None and normalized(e.speed) == default_speed()
    assert pick("NVIDIA H200", 9.0, 512, 512, table=table).name.startswith("Hopper")


def test_a_bad_lever_in_the_table_is_refused(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("entries:\n- {name: x, card: '.*', speed: {memory_format: nhwc}}\n")
    with pytest.raises(InvalidInput, match="memory_format"):
        load_speed_table(p)
    p.write_text("entries:\n- {name: x, card: '.*', speed: {turbo: true}}\n")
    with pytest.raises(InvalidInput, match="not a speed lever"):
        load_speed_table(p)


def test_plan_vs_measured_names_the_planned_and_the_fastest_exact_rows():
    rows = [{"size": "512x512", "config": "diffusers stock", "speed": {}, "steps": 10, "s_per_video": 1.0,
             "max_abs_diff": 0.1},
            {"size": "512x512", "config": "ours exact", "speed": {}, "steps": 10, "s_per_video": 0.9,
             "max_abs_diff": 0},
            {"size": "512x512", "config": "fp8", "speed": {"fp8": "on"}, "steps": 10, "s_per_video": 0.5,
             "max_abs_diff": 0.2},
            {"size": "512x512", "config": "channels_last", "speed": {"memory_format": "channels_last"}, "steps": 10,
             "s_per_video": 0.8, "max_abs_diff": 0.001},
            {"size": "512x512", "config": "spatial=cudnn", "speed": {}, "steps": 10, "skipped": "no"}]
    (p,) = plan_vs_measured(rows, "NVIDIA H100", 9.0, 2e-2)
    assert p["entry"].startswith("Hopper") and p["measured"] is False
    assert p["planned_row"] == "ours exact" and p["planned_s"] == 0.9
    assert p["fastest_exact_row"] == "channels_last" and p["fastest_s"] == 0.8


@pytest.mark.parametrize("user", [{}, {"fuse_qkv": True}], ids=["defaults", "user-set"])
def test_the_studio_applies_the_plan_on_a_card_when_speed_is_left_alone(tmp_path, monkeypatch, user):
    """A stand-in card (the card's name and capability) and a table whose entry turns temporal_conv to
    matmul: the engine's UNet has the matmul form when speed: is at its defaults, not when the user set a
    lever (asserted on the modules)."""
    import i2v.engine.speed as speed_mod
    import i2v.planning.speedplan as plan_mod
    from i2v.base.config import load_config
    from i2v.engine.speed import FrameMatmul
    from i2v.studio import Studio

    table = tmp_path / "speed.yaml"
    table.write_text("entries:\n- {name: test card, card: 'H100', min_capability: 9.0, measured: true,"
                     " speed: {temporal_conv: matmul}}\n")
    monkeypatch.setattr(plan_mod, "SPEED_GPU_FILE", table)
    monkeypatch.setattr(speed_mod, "card_of", lambda device: ("NVIDIA H100 80GB HBM3", 9.0))
    studio = Studio(load_config(model="tiny", speed=user), outputs=tmp_path / "o", log=lambda m: None,
                    vram_probe=lambda: 70.0)
    engine = studio.engine()
    swapped = sum(isinstance(m, FrameMatmul) for m in engine.pipe.unet.modules())
    if user:
        assert swapped == 0 and "planned" not in engine.speed and engine.speed["levers"]["fuse_qkv"] is True
    else:
        assert swapped == engine.speed["temporal_convs"] > 0
        assert engine.speed["planned"] == {"entry": "test card", "measured": True}
