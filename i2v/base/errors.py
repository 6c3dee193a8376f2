"""The one family of errors the studio raises on purpose, each with a stable code.

Every failure a user can cause or meet is one of these: a class (what kind of failure, and the CLI's
exit code) and a code with parameters (which failure exactly).  The words live in :data:`MESSAGES`,
one entry per code in English and Chinese (a message and, where it helps, a hint), so an error is
shown in the user's language by looking up its code, never by rewriting English text.

The front ends turn errors into their own shape at the edge only: the CLI into an exit code and one
line on stderr, the web UI into one line in the page or ``gr.Error``.  An exception that is not one of
these is a bug: it becomes an :class:`InternalError` (logged with its traceback, shown as one line).
"""

from __future__ import annotations

import json
import string

# code -> {"en": message, "zh": message, "hint_en": hint, "hint_zh": hint} ({param} placeholders)
MESSAGES: dict[str, dict[str, str]] = {
    # -- invalid input: values --------------------------------------------------------------------
    "out_of_range": {"en": "{name} must be between {lo} and {hi} (got {got})",
                     "zh": "{name} 必须在 {lo} 到 {hi} 之间（当前为 {got}）"},
    "not_a_number": {"en": "{name} must be a number (got {got})", "zh": "{name} 必须是数字（当前为 {got}）",
                     "hint_en": "allowed: {lo} to {hi}", "hint_zh": "允许：{lo} 到 {hi}"},
    "not_whole": {"en": "{name} must be a whole number (got {got})", "zh": "{name} 必须是整数（当前为 {got}）",
                  "hint_en": "allowed: {lo} to {hi}", "hint_zh": "允许：{lo} 到 {hi}"},
    "not_multiple": {"en": "{name} must be a multiple of {multiple} (got {got})",
                     "zh": "{name} 必须是 {multiple} 的倍数（当前为 {got}）", "hint_en": "try {suggest}",
                     "hint_zh": "可试 {suggest}"},
    "frames_rule": {"en": "{model} makes {first}, {second}, {third}, … frames (every {step}th count), not {got}",
                    "zh": "{model} 的帧数须为 {first}、{second}、{third}……（每隔 {step} 帧），不能是 {got}",
                    "hint_en": "try {suggest}", "hint_zh": "可试 {suggest}"},
    "family_knob": {"en": "{name} is not available with {model}", "zh": "{model} 不支持 {name}",
                    "hint_en": "leave it at its default for this model", "hint_zh": "此模型请保持默认值"},
    "extend_family": {"en": "{name} was made by a {made} model, and this studio runs {model}",
                      "zh": "{name} 是用 {made} 模型生成的，而当前运行的是 {model}",
                      "hint_en": "extend it with --model {source}", "hint_zh": "请用 --model {source} 续写"},
    "family_sampler": {"en": "{model} samples with {choices} only, not {got}",
                       "zh": "{model} 只支持采样器 {choices}，不支持 {got}",
                       "hint_en": "leave {name} out: the model's own is used", "hint_zh": "不设 {name} 即用模型自己的"},
    "not_text": {"en": "{name} must be text", "zh": "{name} 必须是文本"},
    "prompt_empty": {"en": "{name} is empty", "zh": "{name}为空",
                     "hint_en": "describe the motion you want, e.g. 'a dog jumping over a fence'",
                     "hint_zh": "请描述想要的运动，例如“一只狗跳过栅栏”"},
    "text_too_long": {"en": "{name} is too long ({length} characters)", "zh": "{name}太长（{length} 个字符）",
                      "hint_en": "at most {limit}", "hint_zh": "最多 {limit} 个"},
    "size_pair": {"en": "give both width and height, or neither", "zh": "宽度和高度需同时给出或都不给"},
    "too_many_pixels": {"en": "{width}x{height} is too many pixels", "zh": "{width}x{height} 像素过多",
                        "hint_en": "at most {limit}", "hint_zh": "最多 {limit}"},
    "unknown_choice": {"en": "unknown {what} '{got}'", "zh": "未知{what_zh}“{got}”",
                       "hint_en": "choose one of: {choices}", "hint_zh": "可选：{choices}"},
    "unknown_settings": {"en": "unknown setting(s): {names}", "zh": "未知参数：{names}"},
    "sweep_values_nan": {"en": "guidance values must be numbers separated by commas (got {got})",
                         "zh": "引导系数列表必须是用逗号分隔的数字（当前为 {got}）"},
    "sweep_values_count": {"en": "a sweep needs 2 to 12 guidance values (got {count})",
                           "zh": "对比需要 2 到 12 个引导系数（当前为 {count} 个）"},
    "long_segments": {"en": "{name} must be between 1 and {hi} (got {got})",
                      "zh": "{name}必须在 1 到 {hi} 之间（当前为 {got}）"},
    "long_seconds": {"en": "{name} must be more than 0 and at most {hi} s ({segments} segments) (got {got})",
                     "zh": "{name}必须大于 0 且不超过 {hi} 秒（{segments} 个片段）（当前为 {got}）"},
    "bad_joins": {"en": "--joins takes frame numbers inside the video, separated by commas (got {got})",
                  "zh": "--joins 需要视频内的帧号，用逗号分隔（当前为 {got}）"},
    "target_motion": {"en": "{name} must be {choices} or a number from {lo} to {hi} (% of the frame's "
                            "diagonal per frame, as \"Measured motion\" shows it under a result) (got {got})",
                      "zh": "{name}必须是 {choices} 之一，或 {lo} 到 {hi} 之间的数（每帧移动画面对角线的百分比，"
                            "即结果下方“实测运动”括号中的值）（当前为 {got}）"},
    "storyboard_lines": {"en": "the storyboard has {lines} lines for {segments} segments (one line per segment)",
                         "zh": "分镜有 {lines} 行，但只有 {segments} 个片段（每个片段一行）"},
    "long_overlap": {"en": "{name} must be between 0 and {hi} frames for {frames}-frame segments (got {got})",
                     "zh": "{frames} 帧的片段，{name}必须在 0 到 {hi} 之间（当前为 {got}）"},
    "long_colour": {"en": "colour matching must be one of {choices} with a strength between 0 and 1 (got {got})",
                    "zh": "颜色匹配必须是 {choices} 之一，强度在 0 到 1 之间（当前为 {got}）"},
    "sweep_values_range": {"en": "guidance values must be between 1 and 20", "zh": "引导系数必须在 1 到 20 之间"},
    "smooth_factor": {"en": "factor must be 2 or 4 (got {got})", "zh": "倍数必须是 2 或 4（当前为 {got}）"},
    "cli_aspect": {"en": "--aspect must look like 16:9 (got {got})", "zh": "--aspect 的格式应如 16:9（当前为 {got}）"},
    "cli_parts": {"en": "--parts: unknown part {got} (choose from {choices})",
                  "zh": "--parts：未知部分 {got}（可选 {choices}）"},
    "cli_vram": {"en": "--vram-gb must be between 0 and 1024 (got {got})",
                 "zh": "--vram-gb 必须在 0 到 1024 之间（当前为 {got}）"},
    "bench_no_cuda": {"en": "{option} runs on {device}, and {why}", "zh": "{option} 需在 {device} 上运行，但此处不可用（{why}）",
                      "hint_en": "add --device cpu to run it on the CPU (a smoke run on the tiny model; --wan-tiers: "
                                 "random-full, about 40 minutes)",
                      "hint_zh": "加 --device cpu 可在 CPU 上运行（用演示模型做一次冒烟运行；--wan-tiers 为 random-full，"
                                 "约 40 分钟）"},
    "bench_device_name": {"en": "--device must be cuda, cuda:N or cpu (got {got})",
                          "zh": "--device 必须是 cuda、cuda:N 或 cpu（当前为 {got}）"},
    "bench_out": {"en": "cannot write the benchmark's rows to {name} ({detail})",
                  "zh": "无法把基准测试结果写入 {name}（{detail}）",
                  "hint_en": "give --out a folder or a file name you can write", "hint_zh": "请给 --out 一个可写的目录或文件名"},
    # -- invalid input: pictures and files --------------------------------------------------------
    "image_missing": {"en": "no input image", "zh": "没有输入图片", "hint_en": "upload a picture first",
                      "hint_zh": "请先上传图片"},
    "image_not_found": {"en": "image file not found: {path}", "zh": "找不到图片文件：{path}"},
    "image_empty": {"en": "image file is empty", "zh": "图片文件为空", "cli_en": "{name} is empty"},
    "image_not_a_file": {"en": "{path} is not a file (a folder, pipe or device?)", "zh": "{path} 不是文件（是目录、管道或设备？）"},
    "image_unreadable_file": {"en": "cannot read the image file {path}", "zh": "无法读取图片文件 {path}",
                              "hint_en": "check its permissions", "hint_zh": "请检查文件权限"},
    "image_too_big": {"en": "image file is too big: {size} bytes", "zh": "图片文件过大：{size} 字节",
                      "hint_en": "the limit is {limit} bytes", "hint_zh": "上限为 {limit} 字节"},
    "image_too_many_pixels": {"en": "image is too large: {width}x{height} = {pixels} pixels",
                              "zh": "图片像素过多：{width}x{height} = {pixels} 像素",
                              "hint_en": "the limit is {limit} pixels; resize it first",
                              "hint_zh": "上限为 {limit} 像素；请先缩小"},
    "image_bomb": {"en": "image is too large to open safely", "zh": "图片像素过多，无法安全打开",
                   "hint_en": "the limit is {limit} pixels", "hint_zh": "上限为 {limit} 像素"},
    "image_unreadable": {"en": "the file is not a readable image", "zh": "文件不是可读取的图片",
                         "cli_en": "{name} is not a readable image",
                         "hint_en": "use PNG, JPEG, WebP, BMP, TIFF or GIF",
                         "hint_zh": "请使用 PNG、JPEG、WebP、BMP、TIFF 或 GIF"},
    "image_damaged": {"en": "the image file is damaged or truncated", "zh": "图片文件已损坏或不完整",
                      "cli_en": "{name} is damaged or truncated"},
    "image_too_small": {"en": "image is too small: {width}x{height}", "zh": "图片太小：{width}x{height}",
                        "hint_en": "each side must be at least {limit} pixels", "hint_zh": "每边至少 {limit} 像素"},
    "input_gone": {"en": "the input picture of this job is gone; submit it again",
                   "zh": "该任务的输入图片已不存在，请重新提交"},
    "video_not_found": {"en": "video not found: {name}", "zh": "找不到视频：{name}"},
    "video_unreadable": {"en": "{name} is not a readable video", "zh": "{name} 不是可读取的视频"},
    "not_our_video": {"en": "{name} is not an MP4 of the outputs folder (only this studio's videos can be used here)",
                      "zh": "{name} 不是输出文件夹中的 MP4（这里只能使用本工作室生成的视频）"},
    "tune_long": {"en": "auto-tune makes one video: set Length to 1 and leave the storyboard empty, or turn "
                        "auto-tune off for a long video",
                  "zh": "自动调节只生成一个视频：请把长度设为 1 并清空分镜，或关闭自动调节以生成长视频",
                  "cli_en": "--target-motion makes one video: leave out --segments, --seconds and --storyboard, or "
                            "leave out --target-motion for a long video"},
    "tune_long_keys": {"en": "target_motion (auto-tune) makes one video: leave out {names}, or leave out "
                             "target_motion for a long video",
                       "zh": "target_motion（自动调节）只生成一个视频：请去掉 {names}，或去掉 target_motion 以生成长视频"},
    "storyboard_empty": {"en": "the storyboard has no prompt in it (one prompt per line)",
                         "zh": "分镜中没有提示词（每行一个提示词）"},
    "storyboard_unreadable": {"en": "cannot read the storyboard {path}: {detail}", "zh": "无法读取分镜 {path}：{detail}"},
    "storyboard_too_many": {"en": "the storyboard has {lines} lines: a long video has at most {hi} segments",
                            "zh": "分镜有 {lines} 行：长视频最多 {hi} 个片段"},
    "minterpolate_failed": {"en": "ffmpeg minterpolate failed: {detail}", "zh": "ffmpeg 插帧失败：{detail}"},
    "video_too_many_pixels": {"en": "video is too large: {width}x{height} = {pixels} pixels per frame",
                              "zh": "视频画面过大：{width}x{height} = 每帧 {pixels} 像素",
                              "hint_en": "the limit is {limit} pixels per frame", "hint_zh": "上限为每帧 {limit} 像素"},
    "video_too_long": {"en": "video is too long: {seconds} s", "zh": "视频太长：{seconds} 秒",
                       "hint_en": "the limit is {limit} s", "hint_zh": "上限为 {limit} 秒"},
    "smooth_too_many_frames": {"en": "smoothing {name} would make {frames} frames",
                               "zh": "平滑 {name} 将产生 {frames} 帧",
                               "hint_en": "the limit is {limit}; use a lower factor, no loop, or a shorter video",
                               "hint_zh": "上限为 {limit} 帧；请降低倍数、不循环或使用更短的视频"},
    "extend_too_many_frames": {"en": "{name} has {frames} frames: too long to extend",
                               "zh": "{name} 有 {frames} 帧，太长，无法续写",
                               "hint_en": "the limit is {limit} frames; extend a shorter video",
                               "hint_zh": "上限为 {limit} 帧；请续写更短的视频"},
    "analyze_too_many_frames": {"en": "{name} has {frames} frames: too long to analyze",
                                "zh": "{name} 有 {frames} 帧，太长，无法分析",
                                "hint_en": "the limit is {limit} frames", "hint_zh": "上限为 {limit} 帧"},
    "video_is_folder": {"en": "{name} is a folder, not a video", "zh": "{name} 是文件夹，不是视频",
                        "hint_en": "give the path of an MP4 file", "hint_zh": "请给出 MP4 文件的路径"},
    "video_still": {"en": "{name} is a still picture (one frame): there is no motion to measure",
                    "zh": "{name} 是静止图片（只有一帧）：没有可测量的运动",
                    "hint_en": "give a video of at least 2 frames", "hint_zh": "请给出至少 2 帧的视频"},
    "video_record_bad": {"en": "{name} carries a long-video record that is not valid ({field})",
                         "zh": "{name} 中的长视频记录无效（{field}）",
                         "hint_en": "use the video as the studio wrote it", "hint_zh": "请使用本工作室写出的原始视频"},
    "no_settings": {"en": "{name} carries no I2V Studio settings", "zh": "{name} 不含本工具的参数"},
    "not_settings_file": {"en": "{name} is not a settings file of this studio", "zh": "{name} 不是本工具的参数文件"},
    "restore_too_big": {"en": "{name} holds more than {limit} bytes of settings", "zh": "{name} 中的参数超过 {limit} 字节",
                        "hint_en": "drop the parameters JSON or the MP4 of one of this studio's results",
                        "hint_zh": "请拖入本工具某个结果的参数 JSON 或 MP4"},
    "job_file_unreadable": {"en": "cannot read job file {path}: {detail}", "zh": "无法读取任务文件 {path}：{detail}"},
    "job_file_empty": {"en": "job file {path} must hold a non-empty list of requests",
                       "zh": "任务文件 {path} 必须是非空的请求列表"},
    "job_entry_mapping": {"en": "job {n} must be a mapping with at least image and prompt",
                          "zh": "第 {n} 项必须是至少包含 image 和 prompt 的映射"},
    "job_entry_keys": {"en": "job {n} has unknown key(s): {names}", "zh": "第 {n} 项含未知键：{names}"},
    "job_entry_count": {"en": "job {n}: count must be a whole number from 1 to {limit} (got {got})",
                        "zh": "第 {n} 项：count 必须是 1 到 {limit} 之间的整数（当前为 {got}）"},
    "job_file_too_many": {"en": "the job file asks for {total} videos in all (at most {limit})",
                          "zh": "任务文件共要求 {total} 个视频（最多 {limit} 个）",
                          "hint_en": "split it, or raise limits.batch_max_videos in the config",
                          "hint_zh": "请拆分文件，或调高配置中的 limits.batch_max_videos"},
    "no_job": {"en": "no job '{id}'", "zh": "没有任务“{id}”"},
    "job_not_done": {"en": "job '{id}' has no video yet: it is {status}", "zh": "任务“{id}”还没有视频：当前状态为 {status}",
                     "hint_en": "wait for it (/job shows its progress), then ask again",
                     "hint_zh": "请等它完成（/job 显示进度）后再取"},
    "bad_workers": {"en": "--workers must be a whole number from 1 to 64 (got {value})",
                    "zh": "--workers 须为 1 到 64 的整数（收到 {value}）"},
    "ray_missing": {"en": "--ray needs the ray package (pip install ray==2.60.0): {detail}",
                    "zh": "--ray 需要 ray 软件包（pip install ray==2.60.0）：{detail}"},
    "ray_connect": {"en": "could not reach the Ray cluster at {address}: {detail}",
                    "zh": "无法连接位于 {address} 的 Ray 集群：{detail}"},
    "no_ray_workers": {"en": "the Ray cluster has no room for a worker ({detail})",
                       "zh": "Ray 集群没有可用于工作进程的资源（{detail}）"},
    "no_store": {"en": "no job store in {folder}", "zh": "{folder} 中没有任务库",
                 "hint_en": "give the --outputs folder of your studio", "hint_zh": "请用 --outputs 指定工作室的输出目录"},
    "not_requeueable": {"en": "job '{id}' cannot be re-queued ({status})", "zh": "任务“{id}”无法重新排队（{status}）"},
    "template_name": {"en": "template name '{name}' is not allowed", "zh": "模板名称“{name}”不可用",
                      "hint_en": "1-40 letters, digits, spaces, '-' or '_'",
                      "hint_zh": "1–40 个字母、数字、空格、“-”或“_”"},
    "no_template": {"en": "no template named '{name}'", "zh": "没有名为“{name}”的模板"},
    "template_count": {"en": "there are already {count} templates (at most {limit})",
                       "zh": "已有 {count} 个模板（最多 {limit} 个）", "hint_en": "delete one first",
                       "hint_zh": "请先删除一个"},
    "template_too_big": {"en": "template '{name}' would take {size} bytes (at most {limit})",
                         "zh": "模板“{name}”将占用 {size} 字节（最多 {limit}）"},
    # -- configuration (presets, config file) ----------------------------------------------------
    "preset_mapping": {"en": "preset {source} must be a mapping", "zh": "预设 {source} 必须是映射"},
    "preset_keys": {"en": "preset {source} has unknown key(s): {names}", "zh": "预设 {source} 含未知键：{names}",
                    "hint_en": "allowed: {allowed}", "hint_zh": "允许：{allowed}"},
    "preset_yaml": {"en": "preset file {name} is not valid YAML: {detail}", "zh": "预设文件 {name} 不是有效的 YAML：{detail}"},
    "config_key": {"en": "unknown config key '{key}'", "zh": "未知配置键“{key}”", "hint_en": "allowed: {allowed}",
                   "hint_zh": "允许：{allowed}"},
    "config_missing": {"en": "config file {path} not found", "zh": "找不到配置文件 {path}"},
    "config_mapping": {"en": "config key '{key}' must be a mapping", "zh": "配置键“{key}”必须是映射"},
    "config_yaml": {"en": "config file {path} is not valid YAML: {detail}", "zh": "配置文件 {path} 不是有效的 YAML：{detail}"},
    "config_not_mapping": {"en": "config file {path} must hold a mapping", "zh": "配置文件 {path} 必须是映射"},
    "config_value": {"en": "config file {path}: '{key}' {problem}", "zh": "配置文件 {path}：“{key}” {problem}"},
    "fp8_unsupported": {"en": "fp8 needs a CUDA card of compute capability 8.9 or more ({device}: {capability})",
                        "zh": "fp8 需要计算能力 8.9 及以上的 CUDA 显卡（{device}：{capability}）",
                        "hint_en": "set speed.fp8 to off (or leave out --fp8)",
                        "hint_zh": "请把 speed.fp8 设为 off（或去掉 --fp8）"},
    "fp8_no_torchao": {"en": "fp8 needs the torchao package, which is not installed",
                       "zh": "fp8 需要 torchao 包，但它没有安装",
                       "hint_en": "pip install torchao (or set speed.fp8 to off)",
                       "hint_zh": "请 pip install torchao（或把 speed.fp8 设为 off）"},
    # -- resources -------------------------------------------------------------------------------
    "queue_full": {"en": "the queue is full", "zh": "队列已满",
                   "hint_en": "at most {limit} jobs may wait; try again when one has finished",
                   "hint_zh": "最多 {limit} 个任务排队；请等一个完成后再试"},
    "disk_full": {"en": "not enough disk space to write {name}", "zh": "磁盘空间不足，无法写入 {name}",
                  "hint_en": "free space in {folder}", "hint_zh": "请清理 {folder} 的空间"},
    "write_incomplete": {"en": "the video could not be written completely ({detail})",
                         "zh": "视频未能完整写入（{detail}）", "hint_en": "is the disk full, or a file-size limit set?",
                         "hint_zh": "磁盘是否已满，或设置了文件大小限制？"},
    "write_failed": {"en": "could not write {name}", "zh": "无法写入 {name}", "hint_en": "is the disk full?",
                     "hint_zh": "磁盘是否已满？"},
    "gpu_too_small": {"en": "{width}x{height} with {frames} frames needs about {need:.1f} GB of GPU memory; "
                            "{free:.1f} GB is free",
                      "zh": "{width}x{height}、{frames} 帧约需 {need:.1f} GB 显存；当前可用 {free:.1f} GB",
                      "hint_en": "lower the resolution or the number of frames (python -m i2v plan helps)",
                      "hint_zh": "请降低分辨率或帧数（可用 python -m i2v plan 估算）"},
    "gpu_oom": {"en": "out of GPU memory, also after retrying with a leaner setting", "zh": "GPU 显存不足（降级重试后仍不足）",
                "hint_en": "lower the resolution or the number of frames, or close other GPU programs",
                "hint_zh": "请降低分辨率或帧数，或关闭其他占用 GPU 的程序"},
    "store_unwritable": {"en": "the job store could not be written ({detail})", "zh": "任务库无法写入（{detail}）",
                         "hint_en": "is the disk full?", "hint_zh": "磁盘是否已满？"},
    # a damaged job store (i2v/jobs/store.py, "a damaged store"): refused by the CLI, set aside by the studio
    "store_damaged": {"en": "the job store {path} is damaged ({detail})", "zh": "任务库 {path} 已损坏（{detail}）",
                      "hint_en": "start the studio on this folder (python app.py --outputs {folder}): it keeps the "
                                 "damaged store aside and rebuilds the results from the files on disk",
                      "hint_zh": "请在此目录上启动工作室（python app.py --outputs {folder}）：它会把损坏的任务库移到一旁保留，"
                                 "并根据磁盘上的文件重建结果"},
    "store_no_access": {"en": "cannot read and write the job store {path} ({detail})",
                        "zh": "无法读写任务库 {path}（{detail}）",
                        "hint_en": "let the user running the studio write it (chown, or chmod u+w), or use another "
                                   "--outputs folder",
                        "hint_zh": "请让运行工作室的用户可写（chown 或 chmod u+w），或换一个 --outputs 目录"},
    # notices, not raised: what the page's banner and `python -m i2v jobs` say while the copy is kept
    "store_set_aside": {"en": "On {when} the job store was found damaged ({detail}) and was set aside in {aside}; "
                              "{imported} results were rebuilt from the files on disk. Jobs that left no result "
                              "(queued, failed, cancelled) are only in that copy.",
                        "zh": "{when} 发现任务库已损坏（{detail}），已移至 {aside} 保留；已根据磁盘上的文件重建 {imported} "
                              "个结果。未留下结果的任务（排队、失败、已取消）只在该副本中。",
                        "hint_en": "delete that folder once you no longer need it, and this note goes with it",
                        "hint_zh": "不再需要时删除该目录，此提示随之消失"},
    "store_journal_lost": {"en": "On {when} the job store's journal was found missing ({detail}): the store went "
                                 "back to its last checkpoint, and jobs recorded after it are lost; {imported} results "
                                 "were rebuilt from the files on disk. What was left is in {aside}.",
                           "zh": "{when} 发现任务库的日志文件丢失（{detail}）：任务库回到了上次检查点，其后记录的任务已丢失；"
                                 "已根据磁盘上的文件重建 {imported} 个结果。剩余文件保存在 {aside}。",
                           "hint_en": "delete that folder once you no longer need it, and this note goes with it",
                           "hint_zh": "不再需要时删除该目录，此提示随之消失"},
    "outputs_unwritable": {"en": "cannot write to the outputs folder {path} ({detail})",
                           "zh": "无法写入输出目录 {path}（{detail}）",
                           "hint_en": "fix its permissions, or pick another folder with --outputs",
                           "hint_zh": "请修正权限，或用 --outputs 指定其他目录"},
    "disk_low": {"en": "only {free} MB free on the disk of {path}; at least {need} MB are needed",
                 "zh": "{path} 所在磁盘只剩 {free} MB；至少需要 {need} MB",
                 "hint_en": "free some space, or lower retention.min_free_mb in the config",
                 "hint_zh": "请清理空间，或调低配置中的 retention.min_free_mb"},
    "upload_disk_full": {"en": "the server's disk is full: the upload was not saved",
                         "zh": "服务器磁盘已满：上传未保存", "hint_en": "ask the studio's owner to free space",
                         "hint_zh": "请联系工作室管理员清理空间"},
    # -- starting the studio ---------------------------------------------------------------------
    "outputs_not_dir": {"en": "the outputs folder {path} is a file, not a folder",
                        "zh": "输出目录 {path} 是一个文件，不是目录",
                        "hint_en": "pick a folder with --outputs", "hint_zh": "请用 --outputs 指定一个目录"},
    "outputs_in_use": {"en": "another studio (pid {pid}, port {port}) is using the outputs folder {path}",
                       "zh": "另一个工作室（进程 {pid}，端口 {port}）正在使用输出目录 {path}",
                       "hint_en": "stop it, or start this one with --outputs OTHER_FOLDER",
                       "hint_zh": "请先停止它，或用 --outputs 为本实例指定其他目录"},
    "port_in_use": {"en": "port {port} on {host} is already in use", "zh": "{host} 的端口 {port} 已被占用",
                    "hint_en": "pick another with --port, or stop the program using it",
                    "hint_zh": "请用 --port 换一个端口，或停止占用它的程序"},
    "bad_host": {"en": "cannot serve on --host {host}: not an address of this machine",
                 "zh": "无法在 --host {host} 上提供服务：不是本机地址",
                 "hint_en": "leave it out (127.0.0.1), or use --listen for every interface",
                 "hint_zh": "省略它（127.0.0.1），或用 --listen 监听所有网卡"},
    "auth_file": {"en": "cannot read the --auth-file {path} ({detail})", "zh": "无法读取 --auth-file {path}（{detail}）"},
    "auth_format": {"en": "--auth must be user:password (non-empty both)", "zh": "--auth 的格式必须是 用户名:密码（都不能为空）"},
    # -- refused at the door (HTTP) ----------------------------------------------------------------
    "body_too_big": {"en": "the request is too large ({size} bytes)", "zh": "请求过大（{size} 字节）",
                     "hint_en": "at most {limit} bytes; upload pictures as files", "hint_zh": "最多 {limit} 字节；请以文件方式上传图片"},
    "file_by_url": {"en": "files given by URL are not accepted", "zh": "不接受以网址提供的文件",
                    "hint_en": "upload the file itself", "hint_zh": "请直接上传文件"},
    "file_not_uploaded": {"en": "that file was not uploaded to this studio", "zh": "该文件不是上传到本工作室的文件",
                          "hint_en": "upload it first (gradio_client: handle_file with a local path)",
                          "hint_zh": "请先上传（gradio_client：对本地路径使用 handle_file）"},
    "api_values": {"en": "{endpoint} takes {count} values in this order: {names} (got {got})",
                   "zh": "{endpoint} 需要按此顺序提供 {count} 个值：{names}（收到 {got} 个）"},
    "api_file_value": {"en": "{name} must be an uploaded file: {{\"path\": <the path /gradio_api/upload returned>, "
                               "\"meta\": {{\"_type\": \"gradio.FileData\"}}}}",
                       "zh": "{name} 必须是已上传的文件：{{\"path\": <上传接口返回的路径>, "
                             "\"meta\": {{\"_type\": \"gradio.FileData\"}}}}"},
    "cross_origin": {"en": "cross-origin request refused (Origin {origin})", "zh": "拒绝跨站请求（来源 {origin}）"},
    "not_signed_in": {"en": "sign in first", "zh": "请先登录"},
    "login_throttled": {"en": "too many failed sign-ins from this address", "zh": "此地址登录失败次数过多",
                        "hint_en": "try again in {seconds} s", "hint_zh": "请 {seconds} 秒后再试"},
    # -- the model ------------------------------------------------------------------------------
    "model_unknown": {"en": "unknown model '{source}'", "zh": "未知模型“{source}”",
                      "hint_en": "give a hub id like ali-vilab/i2vgen-xl, a local model folder, or one of: {names}",
                      "hint_zh": "请给出 hub 模型名（如 ali-vilab/i2vgen-xl）、本地模型目录，或以下之一：{names}"},
    "model_folder_missing": {"en": "there is no model folder {path}", "zh": "模型目录 {path} 不存在",
                             "hint_en": "a local model is a folder in diffusers layout (with model_index.json); a hub "
                                        "id is owner/name, like ali-vilab/i2vgen-xl",
                             "hint_zh": "本地模型是 diffusers 格式的目录（含 model_index.json）；hub 模型名形如 "
                                        "owner/name，例如 ali-vilab/i2vgen-xl"},
    "model_folder_no_index": {"en": "the model folder {path} has no model_index.json: it is not a model in diffusers layout",
                              "zh": "模型目录 {path} 中没有 model_index.json：它不是 diffusers 格式的模型",
                              "hint_en": "give the folder that holds model_index.json, or --fallback tiny to run the demo model instead",
                              "hint_zh": "请给出包含 model_index.json 的目录，或加 --fallback tiny 改用演示模型"},
    "model_pipeline": {"en": "the model folder {path} holds a {got}, which this studio does not serve (it serves: {served})",
                       "zh": "模型目录 {path} 中是 {got}，本工作室不支持（支持：{served}）",
                       "hint_en": "give a folder of a served pipeline, or --fallback tiny to run the demo model instead",
                       "hint_zh": "请给出受支持的模型目录，或加 --fallback tiny 改用演示模型"},
    "model_no_index": {"en": "model folder {path} has no model_index.json", "zh": "模型目录 {path} 中没有 model_index.json",
                       "hint_en": "give a folder in diffusers layout (as saved by save_pretrained)",
                       "hint_zh": "请提供 diffusers 格式的目录（save_pretrained 保存的）"},
    "model_folder": {"en": "could not load the model folder {path}: {detail}", "zh": "无法加载模型目录 {path}：{detail}",
                     "hint_en": "it needs .safetensors weights for every component",
                     "hint_zh": "每个组件都需要 .safetensors 权重"},
    "model_mismatch": {"en": "this job was made for the model {want}, and this worker runs {have}",
                       "zh": "此任务是为模型 {want} 创建的，而此 worker 运行的是 {have}",
                       "hint_en": "start a worker with --model {want} (python -m i2v worker --model {want}), "
                                  "or submit it again with --model {have}",
                       "hint_zh": "请用 --model {want} 启动 worker（python -m i2v worker --model {want}），"
                                  "或用 --model {have} 重新提交"},
    "model_switched": {"en": "this page shows the model {shown}, and the studio now runs {now} (switched on another "
                             "page)",
                       "zh": "本页显示的模型是 {shown}，而工作室现在运行的是 {now}（已在另一页面切换）",
                       "hint_en": "choose the model again under Model, or reload the page",
                       "hint_zh": "请在“模型”中重新选择，或刷新页面"},
    "model_offline": {"en": "{source} is not in the local cache and HF_HUB_OFFLINE is set",
                      "zh": "{source} 不在本地缓存中，且设置了 HF_HUB_OFFLINE",
                      "hint_en": "unset HF_HUB_OFFLINE and run once with internet to download it (about 5 GB in fp16)",
                      "hint_zh": "取消 HF_HUB_OFFLINE 并联网运行一次以下载（fp16 约 5 GB）"},
    "model_unreachable": {"en": "{source} is not downloaded and the hub is unreachable: {detail}",
                          "zh": "{source} 尚未下载，且无法连接模型仓库：{detail}",
                          "hint_en": "connect to the internet once (set HF_ENDPOINT for a mirror), or pass --model "
                                     "with a local folder",
                          "hint_zh": "请联网一次（可用 HF_ENDPOINT 设置镜像），或用 --model 指定本地目录"},
    "model_download": {"en": "downloading {source} failed: {detail}", "zh": "下载 {source} 失败：{detail}",
                       "hint_en": "check the repo id, revision and disk space, then retry",
                       "hint_zh": "请检查仓库名、版本和磁盘空间后重试"},
    # -- generation ------------------------------------------------------------------------------
    "frames_shape": {"en": "the model returned frames of an unexpected shape {shape}",
                     "zh": "模型输出的帧形状异常：{shape}"},
    "frames_nan": {"en": "the model produced invalid values (NaN/Inf) in frame(s) {frames}",
                   "zh": "模型在第 {frames} 帧输出了无效数值（NaN/Inf）",
                   "hint_en": "usually fp16 overflow: try fewer steps, lower guidance, or float32",
                   "hint_zh": "通常是 fp16 溢出：可减少步数、降低引导系数或使用 float32"},
    "frames_constant": {"en": "the model produced a constant image (every pixel the same)",
                        "zh": "模型输出了纯色画面（所有像素相同）",
                        "hint_en": "try another seed or a lower guidance scale", "hint_zh": "换一个种子或降低引导系数"},
    "tune_none_allowed": {"en": "auto-tune found no guidance within the limits: the drafts from guidance {lowest} "
                                "up had jitter or flicker over the limits, which leaves none of the safe zone "
                                "{lo}–{hi}",
                          "zh": "自动调节找不到未超限的引导系数：引导系数 {lowest} 及以上的草稿抖动或闪烁超限，"
                                "安全范围 {lo}–{hi} 内已无可用值",
                          "hint_en": "turn auto-tune off and set the guidance yourself, or try another seed",
                          "hint_zh": "请关闭自动调节并自行设置引导系数，或换一个种子"},
    # how a stopped job ended, said the same on every surface (page, Queue, /job, CLI): one message per outcome
    "cancelled": {"en": "Stopped. Nothing was written.", "zh": "已停止，未写入任何文件。"},
    "cancelled_segments": {"en": "Stopped. The {n} finished segment(s) are kept: Re-queue goes on from segment "
                                 "{next}.",
                           "zh": "已停止。已完成的 {n} 个片段已保留：重新排队将从第 {next} 个片段继续。"},
    "cancelled_drafts": {"en": "Stopped. The {n} finished draft(s) are kept: Re-queue goes on from them.",
                         "zh": "已停止。已完成的 {n} 个草稿已保留：重新排队将在此基础上继续。"},
    "interrupted": {"en": "the studio stopped while this job ran", "zh": "任务运行时工作室停止了",
                    "hint_en": "re-queue it to run it again", "hint_zh": "重新排队即可再次运行"},
    "internal": {"en": "internal error: {detail}", "zh": "内部错误：{detail}",
                 "hint_en": "the log has the details; please report it", "hint_zh": "详情见日志；请报告此问题"},
}

# Names of the text settings as Chinese messages say them (numeric settings keep their API names).
NAME_ZH = {"prompt": "提示词", "negative prompt": "反向提示词", "segments": "片段数", "seconds": "时长",
           "overlap": "重叠帧数", "target motion": "目标运动"}
# The setting a code is about, when its raise sites do not name it: the message says ``{name}``, and each front end
# names it its way (the CLI as the option typed, ``--segments``; the page and the API by these words).
NAMED = {"long_segments": "segments", "long_seconds": "seconds", "long_overlap": "overlap",
         "target_motion": "target motion"}
# Words used inside messages (what kind of choice was unknown).
CHOICE_ZH = {"resolution": "分辨率", "scheduler": "调度器", "preset": "预设", "guidance schedule": "引导系数调度",
             "loop mode": "循环模式", "interpolation method": "插帧方法"}


ECHO_CHARS = 60  # how much of a value the user sent a message quotes back


def echo(value: object, limit: int = ECHO_CHARS) -> str:
    """A value the user sent, as a message quotes it: at most ``limit`` characters, then '…' (a 10,000-character
    name or a 100,000-character job id is not sent back whole)."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _fmt(template: str, params: dict) -> str:
    return string.Formatter().vformat(template, (), params)


class I2VError(Exception):
    """Base class: a code with parameters (the words come from :data:`MESSAGES`) and a CLI exit code."""

    exit_code = 1
    kind = "error"

    def __init__(self, code: str, **params):
        if code not in MESSAGES:
            raise KeyError(f"unknown error code {code!r}")
        self.code, self.params = code, params
        if code == "unknown_choice":
            params.setdefault("what_zh", CHOICE_ZH.get(params.get("what", ""), params.get("what", "")))
        if code in NAMED:
            params.setdefault("name", NAMED[code])
        super().__init__(self.text("en"))

    # Where the error is shown: None (the page and the API), or "cli", whose words a message may have of its own
    # (``cli_en``: options instead of the page's controls, a file's name); the CLI sets it at its edge.
    surface: str | None = None

    def message_in(self, lang: str) -> str:
        if lang != "zh":
            own = MESSAGES[self.code].get(f"{self.surface}_en") if self.surface else None
            if own:
                try:
                    return _fmt(own, self.params)
                except KeyError:  # raised where that word is not known (a picture from bytes): the usual words
                    pass
            return _fmt(MESSAGES[self.code]["en"], self.params)
        params = {**self.params, "name": NAME_ZH.get(self.params.get("name"), self.params.get("name"))}
        return _fmt(MESSAGES[self.code]["zh"], params)

    def hint_in(self, lang: str) -> str | None:
        entry = MESSAGES[self.code]
        template = entry.get("hint_zh" if lang == "zh" else "hint_en")
        return _fmt(template, self.params) if template else None

    @property
    def message(self) -> str:
        return self.message_in("en")

    @property
    def hint(self) -> str | None:
        return self.hint_in("en")

    def text(self, lang: str = "en") -> str:
        """One line in ``lang``: the message, and the hint in brackets."""
        msg, hint = self.message_in(lang), self.hint_in(lang)
        if not hint:
            return msg
        return f"{msg}（{hint}）" if lang == "zh" else f"{msg} ({hint})"

    def __str__(self) -> str:
        return self.text("en")

    def to_json(self) -> dict:
        """The error as JSON-safe data (it crosses the job store and worker heartbeats): a parameter that is
        not plain data (a path, say) travels as its text.  A Path here once stopped a studio's worker."""
        params = {k: v for k, v in self.params.items() if k != "what_zh"}
        return {"kind": self.kind, "code": self.code, "params": json.loads(json.dumps(params, default=str)),
                "message": self.text("en")}


class InvalidInput(I2VError):
    """The request itself is wrong: bad image, empty prompt, out-of-range value, bad config."""

    exit_code = 2
    kind = "invalid_input"


class OutOfResources(I2VError):
    """GPU/CPU memory or disk ran out and could not be worked around."""

    exit_code = 3
    kind = "out_of_resources"


class ModelUnavailable(I2VError):
    """The configured model cannot be loaded (offline, not cached, bad folder)."""

    exit_code = 4
    kind = "model_unavailable"


class GenerationFailed(I2VError):
    """The model ran but produced unusable output (NaN, constant frames)."""

    exit_code = 5
    kind = "generation_failed"


class Interrupted(I2VError):
    """The process running the job died (it can be re-queued)."""

    exit_code = 75  # EX_TEMPFAIL: try again
    kind = "interrupted"

    def __init__(self, code: str = "interrupted", **params):
        super().__init__(code, **params)


class Refused(I2VError):
    """Turned away at the web studio's door: not signed in, too many failed sign-ins, a cross-origin or
    oversized request.  ``status`` is the HTTP status the answer carries."""

    exit_code = 2
    kind = "refused"
    STATUS = {"body_too_big": 413, "file_by_url": 400, "file_not_uploaded": 400, "cross_origin": 403,
              "api_values": 400, "api_file_value": 400,
              "not_signed_in": 401, "login_throttled": 429, "upload_disk_full": 507}

    @property
    def status(self) -> int:
        return self.STATUS.get(self.code, 400)


class InternalError(I2VError):
    """A bug: an exception that is not one of ours.  Logged with its traceback, shown as one line."""

    exit_code = 70  # EX_SOFTWARE
    kind = "internal"

    @classmethod
    def wrap(cls, exc: BaseException) -> InternalError:
        return cls("internal", detail=f"{type(exc).__name__}: {exc}"[:300])


class Cancelled(I2VError):
    """The user stopped the job; nothing was written."""

    exit_code = 130
    kind = "cancelled"

    def __init__(self, code: str = "cancelled", **params):
        super().__init__(code, **params)


CLASSES: dict[str, type[I2VError]] = {c.kind: c for c in (InvalidInput, OutOfResources, ModelUnavailable,
                                                          GenerationFailed, Interrupted, InternalError, Cancelled,
                                                          Refused)}


def rebuild(kind: str | None, code: str | None, params: dict | None) -> I2VError:
    """An error recorded as (kind, code, params) — in the job store, say — as its typed exception again."""
    cls = CLASSES.get(kind or "", InternalError)
    if code not in MESSAGES:
        return InternalError("internal", detail=f"{kind}: {code}")
    return cls(code, **(params or {}))
