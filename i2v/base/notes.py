"""Notes about a run (what was adjusted and why), by code, in English and Chinese.  Pure.

A note is a code and parameters, like an error: the sidecar keeps both the English line (``guard``) and
the coded form (``notes``), and the page shows the coded form in the user's language.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

NOTES: dict[str, dict[str, str]] = {
    "tiny_cap": {"en": "tiny demo model: {tier} ({width}x{height}) reduced to {w}x{h}",
                 "zh": "tiny 演示模型：{tier}（{width}x{height}）缩小为 {w}x{h}"},
    "memory_plan": {"en": "memory plan: {width}x{height}, {frames} frames: {how_en}{chunk_en}{tiling_en}{split_en}; "
                          "predicted peak {peak:.1f} GB of {budget:.1f} GB usable",
                    "zh": "显存方案：{width}x{height}，{frames} 帧：{how_zh}{chunk_zh}{tiling_zh}{split_zh}；"
                          "预计峰值 {peak:.1f} GB（可用 {budget:.1f} GB）"},
    "offload_slow": {"en": "{how_en}: fits in {gb:g} GB but runs slower", "zh": "{how_zh}：可在 {gb:g} GB 内运行，但较慢"},
    "does_not_fit": {"en": "does not fit in {gb:g} GB even with the leanest offload{degrade_en}",
                     "zh": "即使用最省显存的卸载方式也无法放入 {gb:g} GB{degrade_zh}"},
    "frames_reduced": {"en": "frames reduced from {old} to {new} to fit", "zh": "为放入显存，帧数从 {old} 降为 {new}"},
    "tier_lowered": {"en": "resolution lowered from {old} to {new} ({w}x{h}) to fit",
                     "zh": "为放入显存，分辨率从 {old} 降为 {new}（{w}x{h}）"},
    "oom_retry": {"en": "out of memory during {stage}: retried with offload={offload}{retry_chunk_en}{tiling_en}"
                        "{split_en}",
                  "zh": "{stage_zh}时显存不足：已改用 offload={offload}{retry_chunk_zh}{tiling_zh}{split_zh}重试"},
    "offload_not_needed": {"en": "running on the CPU: '{offload}' offload not needed",
                           "zh": "在 CPU 上运行：无需“{offload}”卸载"},
    "fast_mode": {"en": "fast mode (approximate): the deep layers ran on {full} of {steps} steps (every {interval})",
                  "zh": "快速模式（近似）：深层特征在 {steps} 步中计算了 {full} 步（每 {interval} 步一次）"},
    "step_skip": {"en": "step skipping (approximate, threshold {threshold}): {skipped} of {steps} steps reused the "
                        "last full step's result",
                  "zh": "跳步（近似，阈值 {threshold}）：{steps} 步中有 {skipped} 步复用了上一完整步的结果"},
    "late_guidance": {"en": "late guidance skipping (approximate): from step {from_step} of {steps} on, only the "
                            "conditional pass ran",
                      "zh": "后期跳过引导（近似）：从第 {from_step}/{steps} 步起只计算条件分支"},
    "fp16_redecode": {"en": "fp16 VAE decode overflowed: decoded again in float32",
                      "zh": "fp16 VAE 解码溢出：已用 float32 重新解码"},
    # restoring settings from a file (the History tab)
    "clamped": {"en": "{name} {got} is outside {lo} to {hi}: set to {new}",
                "zh": "{name} {got} 超出 {lo} 到 {hi} 的范围：已设为 {new}"},
    "not_here": {"en": "{name} '{got}' is not available here: the current one is kept",
                 "zh": "此处没有{name}“{got}”：保留当前值"},
    "size_as_tier": {"en": "it was made at {width}×{height}, a size of its own: Resolution is set to the nearest "
                           "tier, {tier} (its size follows your picture)",
                     "zh": "它以自定尺寸 {width}×{height} 生成：分辨率已设为最接近的档位 {tier}（尺寸随图片比例）"},
    "extended_length": {"en": "it extends {source}: Length {segments} is the part it added, from that video's last "
                              "frame (use Extend on it to continue it again)",
                        "zh": "它是对 {source} 的延长：长度 {segments} 是延长时新增的部分，从该视频的最后一帧开始"
                              "（要再次延长，请对它使用“延长”）"},
}
HOW = {"none": ("everything on the GPU", "全部在 GPU 上"), "model": ("model CPU offload", "模型 CPU 卸载"),
       "sequential": ("sequential CPU offload (slow)", "逐层 CPU 卸载（慢）"),
       "group": ("group offload, block by block (slower)", "分组卸载，逐块加载（较慢）")}
STAGE_ZH = {"denoising": "去噪", "decoding": "解码"}


def _derived(params: dict) -> dict:
    """Words that depend on a parameter, in both languages."""
    out = dict(params)
    if "offload" in params:
        out["how_en"], out["how_zh"] = HOW.get(params["offload"], (params["offload"],) * 2)
    if "chunk" in params:  # (a family whose VAE decodes frame by frame on its own plans no chunk: 0)
        c = params["chunk"]
        out["chunk_en"], out["chunk_zh"] = (f", decode {c} frame(s) at a time", f"，每次解码 {c} 帧") if c else ("", "")
        out["retry_chunk_en"], out["retry_chunk_zh"] = (f", decode chunk {c}", f"、每次解码 {c} 帧") if c else ("", "")
    if "tiling" in params:
        out["tiling_en"], out["tiling_zh"] = (", VAE tiling", "，VAE 分块") if params["tiling"] else ("", "")
    out["split_en"], out["split_zh"] = (", guidance in two passes", "，引导分两次计算") if params.get("split") \
        else ("", "")
    if params.get("sliced"):
        out["split_en"] += ", feed-forward sliced"
        out["split_zh"] += "，前馈层分片计算"
    if "stage" in params:
        out["stage_zh"] = STAGE_ZH.get(params["stage"], params["stage"])
    if "degrade" in params:
        out["degrade_en"], out["degrade_zh"] = ("", "") if params["degrade"] else (
            "; allow fewer frames or a lower resolution", "；可允许减少帧数或降低分辨率")
    return out


@dataclass
class Note:
    code: str
    params: dict = field(default_factory=dict)

    def text(self, lang: str = "en") -> str:
        template = NOTES[self.code]["zh" if lang == "zh" else "en"]
        return string.Formatter().vformat(template, (), _derived(self.params))

    def to_json(self) -> dict:
        return {"code": self.code, "params": self.params}


def note(code: str, **params) -> Note:
    if code not in NOTES:
        raise KeyError(f"unknown note code {code!r}")
    return Note(code, params)


def render(notes: list[dict], lang: str) -> list[str]:
    """Coded notes from a sidecar, as lines in ``lang`` (unknown codes skipped)."""
    return [Note(n["code"], n.get("params") or {}).text(lang) for n in notes or [] if n.get("code") in NOTES]
