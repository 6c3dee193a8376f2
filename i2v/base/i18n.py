"""Chinese and English text for the studio.  Pure (no torch, no gradio).

``TEXT`` holds every UI label and hint by key; the errors' texts are in
:data:`i2v.base.errors.MESSAGES`, by error code.
"""

from __future__ import annotations

LANGS = ("en", "zh")

TEXT: dict[str, dict[str, str]] = {
    "title_md": {"en": "## I2V Studio — image to video with motion control\nUpload a picture, describe what "
                       "should move, pick a preset, generate.",
                 "zh": "## I2V 工作室 — 可控运动的图生视频\n上传图片，描述要动起来的内容，选择预设，点击生成。"},
    "image": {"en": "Input image", "zh": "输入图片"},
    "prompt": {"en": "Prompt: what should move", "zh": "提示词：描述运动"},
    "prompt_ph": {"en": "a dog jumping over a fence", "zh": "一只狗跳过栅栏 / 镜头缓慢推进"},
    "negative": {"en": "Negative prompt: what to avoid", "zh": "反向提示词：要避免的内容"},
    "preset": {"en": "Preset or template", "zh": "预设或模板"},
    "guidance": {"en": "Guidance scale (motion strength)", "zh": "引导系数（运动强度）"},
    "guidance_info": {"en": "<6 weak motion · 7–9 balanced · 10–13 strong · >15 artifacts, flicker",
                      "zh": "<6 动作微弱 · 7–9 平衡 · 10–13 动作强烈 · >15 伪影、闪烁"},
    "guidance_info_family": {"en": "the zones are not published for this model: the studio assumes {lo}–{hi} around "
                                   "the authors' {default}",
                             "zh": "此模型未公布引导区间：工作室假定为作者默认值 {default} 附近的 {lo}–{hi}"},
    "negative_info_family": {"en": "this model's text encoder (UMT5) reads Chinese and English; the default is the "
                                   "authors' own negative prompt",
                             "zh": "此模型的文本编码器（UMT5）可读中文和英文；默认值是作者自己的反向提示词"},
    "speed_tier_info_family": {"en": "fast and fastest are approximate: diffusers' cache predicts the transformer's "
                                     "blocks between full steps, so frames differ slightly from exact",
                               "zh": "“快”和“最快”是近似的：diffusers 的缓存在完整步之间预测 Transformer 各层的输出，"
                                     "画面与“精确”略有不同"},
    "steps": {"en": "Steps", "zh": "推理步数"},
    "steps_info": {"en": "50 is the usual sweet spot; below ~30 quality drops",
                   "zh": "通常 50 步最佳；低于约 30 步质量下降"},
    "fast": {"en": "Fast (approximate)", "zh": "快速模式（近似）"},
    "fast_info": {"en": "1 = exact. N > 1 computes the deep layers on one step in N and reuses them in between: "
                        "faster, slightly different frames",
                  "zh": "1 = 精确。N > 1 时深层特征每 N 步计算一次、其间复用：更快，画面略有差异"},
    "speed_tier": {"en": "Speed", "zh": "速度"},
    "speed_tier_info": {"en": "fast and fastest are approximate: fewer sampler steps and reused UNet work give "
                              "slightly different frames from exact",
                        "zh": "“快”和“最快”是近似的：更少的采样步数并复用去噪网络的计算，画面与“精确”略有不同"},
    "speed_exact": {"en": "exact", "zh": "精确"}, "speed_fast": {"en": "fast (approximate)", "zh": "快（近似）"},
    "speed_fastest": {"en": "fastest (approximate)", "zh": "最快（近似）"},
    "skip_threshold": {"en": "Step skipping (approximate)", "zh": "跳步（近似）"},
    "skip_threshold_info": {"en": "0 = off. A step whose input changed less than this since the last full step "
                                  "reuses that step's result",
                            "zh": "0 = 关闭。输入相对上一完整步变化小于该值时，本步复用上一步的结果"},
    "guidance_stop": {"en": "Guidance until (fraction of steps)", "zh": "引导持续到（步数比例）"},
    "guidance_stop_info": {"en": "1 = every step (exact). Below 1, the last steps run the conditional pass only "
                                 "and reuse the last guidance difference: faster, approximate",
                           "zh": "1 = 每一步（精确）。小于 1 时，最后的若干步只计算条件分支并复用上次的引导差：更快，近似"},
    "frames": {"en": "Frames", "zh": "帧数"},
    "fps": {"en": "Output fps", "zh": "输出帧率"},
    "target_fps": {"en": "Motion-speed conditioning (target fps)", "zh": "运动速度条件（目标帧率）"},
    "resolution": {"en": "Resolution", "zh": "分辨率"},
    "seed": {"en": "Seed", "zh": "随机种子"},
    "random_seed": {"en": "Random seed", "zh": "随机种子（每次不同）"},
    "generate": {"en": "Generate", "zh": "生成"},
    "stop": {"en": "Stop", "zh": "停止"},
    "advanced": {"en": "More settings", "zh": "更多设置"},
    "video": {"en": "Result", "zh": "生成结果"},
    "preview_box": {"en": "Forming (approximate preview)", "zh": "生成中（近似预览）"},
    "used_seed": {"en": "Seed used", "zh": "实际种子"},
    "params": {"en": "Parameters used", "zh": "实际参数"},
    "too_many_tabs": {"en": "⚠️ Five or more studio tabs are open in this browser. A browser keeps at most 6 connections "
                            "to one address and each tab holds one or two, so another tab may not load and progress "
                            "may stop updating. Close the tabs you don't need: their jobs keep running (see Queue).",
                      "zh": "⚠️ 此浏览器中已打开五个或更多工作室标签页。浏览器对同一地址最多保持 6 个连接，每个标签页占用一到两个，"
                            "因此新标签页可能无法加载、进度可能停止更新。请关闭不需要的标签页：其中的任务会继续运行（见“队列”）。"},
    "params_file": {"en": "Parameters file (JSON, named after the video)", "zh": "参数文件（JSON，与视频同名）"},
    "tab_create": {"en": "Create", "zh": "创作"},
    "tab_history": {"en": "History", "zh": "历史"},
    "history": {"en": "Past results", "zh": "历史结果"},
    "refresh": {"en": "Refresh", "zh": "刷新"},
    "reuse": {"en": "Reuse these settings", "zh": "复用这些参数"},
    "restore_file": {"en": "Drop a parameters JSON or one of our MP4s to restore its settings",
                     "zh": "拖入参数 JSON 或本工具生成的 MP4 以恢复参数"},
    "templates": {"en": "Templates", "zh": "模板"},
    "template_name": {"en": "Template name", "zh": "模板名称"},
    "save_template": {"en": "Save current settings", "zh": "保存当前参数"},
    "delete_template": {"en": "Delete selected template", "zh": "删除所选模板"},
    "loading_model": {"en": "Loading the model… you can prepare your request meanwhile.",
                      "zh": "正在加载模型…… 可以先准备输入。"},
    "loading_named": {"en": "Loading the model {model}… you can prepare your request meanwhile.",
                      "zh": "正在加载模型 {model}…… 可以先准备输入。"},
    "model_selected_line": {"en": "Chosen: {model}. It loads when the job running now ends.",
                            "zh": "已选择：{model}。当前任务结束后即加载。"},
    "model": {"en": "Model", "zh": "模型"},
    "model_choice_info": {"en": "Switching loads the model in the background, no restart; the controls follow it",
                          "zh": "切换后在后台加载模型，无需重启；下方控件随模型变化"},
    "model_downloaded": {"en": "downloaded", "zh": "已下载"},
    "model_not_downloaded": {"en": "not downloaded", "zh": "未下载"},
    "model_row_hub": {"en": "{name} · {variant} · {gb} GB on disk, {state} · card: {card} GB",
                      "zh": "{name} · {variant} · 磁盘 {gb} GB，{state} · 显卡：{card} GB"},
    "model_row_synthetic": {"en": "{name} · {variant}, demo weights (output is noise) · no download",
                            "zh": "{name} · {variant}，演示权重（输出为噪声）· 无需下载"},
    "model_info": {"en": "{title}: {frames} frames at {fps} fps, {steps} steps, guidance {guidance} by default.",
                   "zh": "{title}：默认 {frames} 帧、{fps} fps、{steps} 步、引导强度 {guidance}。"},
    "model_ready": {"en": "Model ready: {model} on {device} ({dtype}).", "zh": "模型已就绪：{model}，运行于 {device}（{dtype}）。"},
    "gpu_line": {"en": "GPU: {gb:.1f} GB usable; largest tier without offloading ({frames} frames): {tier}.",
                 "zh": "GPU：可用 {gb:.1f} GB；无需卸载的最大分辨率档（{frames} 帧）：{tier}。"},
    "model_tiny": {"en": "{name} (random weights at toy widths)", "zh": "{name}（随机权重，玩具尺寸）"},
    "model_random-full": {"en": "{name} (random weights, the real architecture)",
                          "zh": "{name}（随机权重，真实结构）"},
    "model_failed": {"en": "⚠️ {cause}: no model to run.", "zh": "⚠️ {cause}：没有可运行的模型。"},
    "model_fallback": {"en": "⚠️ {cause}: using the demo model (output is noise).",
                       "zh": "⚠️ {cause}：正在使用演示模型（输出是噪声）。"},
    "cause_no_internet": {"en": "No internet", "zh": "无法联网"},
    "cause_offline": {"en": "Offline mode, and the model is not downloaded", "zh": "离线模式，且模型尚未下载"},
    "cause_folder": {"en": "The model folder is broken", "zh": "模型目录有问题"},
    "cause_other": {"en": "Loading the model failed", "zh": "模型加载失败"},
    "details": {"en": "Details", "zh": "详情"},
    "dl_fix": {"en": "To fix: {hint}", "zh": "解决办法：{hint}"},
    "dl_head": {"en": "Downloading the model", "zh": "正在下载模型"},
    "dl_files": {"en": "{done}/{total} files", "zh": "{done}/{total} 个文件"},
    "dl_bytes": {"en": "{done} of {total}", "zh": "{done} / {total}"},
    "dl_speed": {"en": "{speed}/s", "zh": "{speed}/秒"},
    "dl_eta": {"en": "about {eta} left", "zh": "约剩 {eta}"},
    "dl_seconds": {"en": "{n} s", "zh": "{n} 秒"}, "dl_minutes": {"en": "{n} min", "zh": "{n} 分钟"},
    "dl_hours": {"en": "{h} h {m:02d} min", "zh": "{h} 小时 {m:02d} 分钟"},
    "dl_complete": {"en": "Downloaded {files} files ({total}); reading them into memory…",
                    "zh": "已下载 {files} 个文件（{total}）；正在读入内存……"},
    "demo_banner": {"en": "⚠️ Demo model: output is noise. The demo models have random weights; to use a real "
                          "model, choose one under Model while online (it downloads once: I2VGen-XL is about 5 GB) "
                          "or start with --model pointing at a downloaded copy.",
                    "zh": "⚠️ 演示模型：输出是噪声。演示模型是随机权重；要使用真正的模型，请在联网时在“模型”中选择"
                          "（只下载一次：I2VGen-XL 约 5 GB），或用 --model 指向已下载的模型目录。"},
    "step_progress": {"en": "Step {step}/{total} · {elapsed:.1f}s elapsed · about {eta:.0f}s left · guidance {g:.2f}",
                      "zh": "第 {step}/{total} 步 · 已用 {elapsed:.1f} 秒 · 约剩 {eta:.0f} 秒 · 引导系数 {g:.2f}"},
    "queued": {"en": "Queued: {ahead} job(s) ahead, waiting for the model…",
               "zh": "已排队：前面还有 {ahead} 个任务，等待模型……"},
    "starting": {"en": "Starting…", "zh": "正在开始……"},
    "job_failed": {"en": "⚠️ {error}", "zh": "⚠️ {error}"},
    "job_interrupted": {"en": "⚠️ Interrupted: the studio stopped while this job ran. Re-queue it from the Queue tab.",
                        "zh": "⚠️ 已中断：任务运行时工作室停止了。可在“队列”页重新排队。"},
    "reconnected": {"en": "Reconnected to your job {id}.", "zh": "已重新连接到你的任务 {id}。"},
    "stopping": {"en": "Stopping after the current step…", "zh": "将在当前步骤后停止……"},
    "tab_queue": {"en": "Queue", "zh": "队列"},
    "queue_help": {"en": "Every job of this studio: queued, running and recent. Jobs keep running when you close "
                         "or reload the page, and queued jobs survive a restart. Pick a row to act on it.",
                   "zh": "本工作室的所有任务：排队中、运行中和最近完成的。关闭或刷新页面不会中断任务，排队的任务在重启后继续。"
                         "点击一行以操作。"},
    "queue_table": {"en": "Jobs", "zh": "任务"},
    "job_id": {"en": "Selected job", "zh": "所选任务"},
    "cancel_job": {"en": "Cancel job", "zh": "取消任务"},
    "requeue_job": {"en": "Re-queue", "zh": "重新排队"},
    "requeued": {"en": "Job {id} is queued again.", "zh": "任务 {id} 已重新排队。"},
    "requeued_segments": {"en": "Job {id} is queued again: it goes on from segment {next} (the {n} finished "
                                "segment(s) are kept).",
                          "zh": "任务 {id} 已重新排队：将从第 {next} 个片段继续（已完成的 {n} 个片段已保留）。"},
    "requeued_drafts": {"en": "Job {id} is queued again: it goes on from its {n} finished draft(s).",
                        "zh": "任务 {id} 已重新排队：将在已完成的 {n} 个草稿基础上继续。"},
    "job_ended_already": {"en": "Job {id} had already ended ({status}): nothing to stop.",
                          "zh": "任务 {id} 已经结束（{status}），无需停止。"},
    "not_requeueable": {"en": "Job {id} cannot be re-queued ({status}).", "zh": "任务 {id} 无法重新排队（{status}）。"},
    "job_stopping": {"en": "Job {id} stops after its current step.", "zh": "任务 {id} 将在当前步骤后停止。"},
    "job_cancelled": {"en": "Job {id} is cancelled.", "zh": "任务 {id} 已取消。"},
    "pick_first": {"en": "Pick a result first.", "zh": "请先选择一个结果。"},
    "sweep_stop": {"en": "Stop the comparison", "zh": "停止对比"},
    "smoothing": {"en": "Smoothing…", "zh": "正在平滑……"},
    "grid": {"en": "Comparison grid", "zh": "对比网格"},
    "gallery_caption": {"en": "{tag}g={g} · {steps} steps · {prompt}", "zh": "{tag}引导 {g} · {steps} 步 · {prompt}"},
    "demo_note": {"en": "Demo model: the output is noise.", "zh": "演示模型：输出是噪声。"},
    "sched_constant": {"en": "constant", "zh": "恒定"}, "sched_linear": {"en": "linear", "zh": "线性递减"},
    "sched_cosine": {"en": "cosine", "zh": "余弦递减"}, "sched_strong-early": {"en": "strong-early", "zh": "前强后弱"},
    "loop_": {"en": "no loop", "zh": "不循环"}, "loop_pingpong": {"en": "pingpong", "zh": "往返"},
    "loop_crossfade": {"en": "crossfade", "zh": "交叉淡化"},
    "plot_frame": {"en": "frame", "zh": "帧"}, "plot_value": {"en": "value", "zh": "数值"},
    "plot_metric": {"en": "metric", "zh": "指标"}, "tier_native": {"en": "native", "zh": "原生"},
    "selected_result": {"en": "Selected result", "zh": "所选结果"},
    "error_title": {"en": "Error", "zh": "错误"},
    "col_id": {"en": "id", "zh": "编号"}, "col_kind": {"en": "kind", "zh": "类型"},
    "col_status": {"en": "status", "zh": "状态"}, "col_progress": {"en": "progress", "zh": "进度"},
    "col_prompt": {"en": "prompt", "zh": "提示词"}, "col_created": {"en": "created", "zh": "创建"},
    "col_finished": {"en": "finished", "zh": "结束"},
    "workers_table": {"en": "Workers", "zh": "工作进程"},
    "workers_help": {"en": "Each worker holds its own copy of the model and takes the next queued job. A worker "
                           "that stops while it runs a job has that job put back in the queue once.",
                     "zh": "每个工作进程各自持有一份模型，依次领取队列中的下一个任务。若工作进程在运行任务时退出，"
                           "该任务会被重新排队一次。"},
    "col_worker": {"en": "worker", "zh": "工作进程"}, "col_node": {"en": "node", "zh": "节点"},
    "col_device": {"en": "device", "zh": "设备"}, "col_state": {"en": "state", "zh": "状态"},
    "col_job": {"en": "job", "zh": "任务"}, "col_done": {"en": "jobs done", "zh": "已完成"},
    "col_seen": {"en": "last heartbeat", "zh": "最近心跳"},
    "wstate_loading": {"en": "loading", "zh": "加载中"}, "wstate_idle": {"en": "idle", "zh": "空闲"},
    "wstate_busy": {"en": "busy", "zh": "忙碌"}, "wstate_dead": {"en": "dead", "zh": "已停止响应"},
    "wstate_stopped": {"en": "stopped", "zh": "已停止"},
    "seconds_ago": {"en": "{s:.0f} s ago", "zh": "{s:.0f} 秒前"},
    "retry_after_lost": {"en": "second try (its first worker stopped)", "zh": "第二次尝试（首个工作进程已退出）"},
    "workers_line": {"en": "Workers ready: {n}.", "zh": "就绪的工作进程：{n} 个。"},
    "col_guidance": {"en": "guidance", "zh": "引导系数"}, "col_motion": {"en": "motion px/frame", "zh": "运动 像素/帧"},
    "col_jitter": {"en": "jitter", "zh": "抖动"}, "col_flicker": {"en": "flicker", "zh": "闪烁"},
    "col_balance": {"en": "balance", "zh": "平衡度"}, "col_best": {"en": "best", "zh": "最佳"},
    "kind_generate": {"en": "generate", "zh": "生成"}, "kind_sweep": {"en": "sweep", "zh": "对比"},
    "kind_smooth": {"en": "smooth", "zh": "平滑"}, "kind_batch_entry": {"en": "batch", "zh": "批量"},
    "kind_autotune": {"en": "auto-tune", "zh": "自动调参"}, "kind_draft": {"en": "draft", "zh": "草稿"},
    "kind_long": {"en": "long video", "zh": "长视频"}, "kind_segment": {"en": "segment", "zh": "片段"},
    "segment_progress": {"en": "Segment {i}/{n}", "zh": "第 {i}/{n} 段"},
    "status_queued": {"en": "queued", "zh": "排队中"}, "status_running": {"en": "running", "zh": "运行中"},
    "status_done": {"en": "done", "zh": "完成"}, "status_failed": {"en": "failed", "zh": "失败"},
    "status_cancelled": {"en": "cancelled", "zh": "已取消"}, "status_interrupted": {"en": "interrupted", "zh": "已中断"},
    "metric_motion": {"en": "motion", "zh": "运动"}, "metric_jitter": {"en": "jitter", "zh": "抖动"},
    "metric_flicker": {"en": "flicker", "zh": "闪烁"},
    "decoding": {"en": "Decoding and writing the video…", "zh": "正在解码并写入视频……"},
    "done": {"en": "Done in {seconds:.1f}s → {name}", "zh": "完成，用时 {seconds:.1f} 秒 → {name}"},
    "tune_drafts": {"en": "Drafts", "zh": "草稿"},
    "no_image": {"en": "Please upload an image first.", "zh": "请先上传图片。"},
    "saved_template": {"en": "Saved template “{name}”.", "zh": "已保存模板“{name}”。"},
    "deleted_template": {"en": "Deleted template “{name}”.", "zh": "已删除模板“{name}”。"},
    "restored": {"en": "Settings restored from {name}.", "zh": "已从 {name} 恢复参数。"},
    "zone_weak": {"en": "weak motion", "zh": "动作微弱"},
    "zone_gentle": {"en": "gentle motion", "zh": "轻微动作"},
    "zone_balanced": {"en": "balanced", "zh": "平衡"},
    "zone_strong": {"en": "strong motion", "zh": "动作强烈"},
    "zone_risky": {"en": "exaggerated, may jitter", "zh": "动作夸张，易抖动"},
    "zone_artifacts": {"en": "artifacts and flicker likely", "zh": "易出现伪影和闪烁"},
    "rec_other_family": {"en": "The guidance recommendation is fitted to I2VGen-XL. For {model}, start at the "
                               "authors' default {default}; the studio keeps auto-tune within {lo}–{hi}.",
                         "zh": "引导系数推荐是按 I2VGen-XL 拟合的。{model} 请从作者默认值 {default} 开始；"
                               "自动调参会保持在 {lo}–{hi} 之内。"},
    "zone_unpublished": {"en": "{model}'s guidance zones are not published: the studio assumes {lo}–{hi} around "
                               "the authors' default {default} (auto-tune stays in it)",
                         "zh": "{model} 的引导系数区间未公布：本工作室假定为作者默认值 {default} 附近的 {lo}–{hi}"
                               "（自动调参不会超出）"},
    "notes": {"en": "Notes", "zh": "提示"},
    "recommend": {"en": "Recommend guidance", "zh": "推荐引导系数"},
    "recommendation": {"en": "Recommendation", "zh": "推荐"},
    "rec_applied": {"en": "applied to the sliders", "zh": "已应用到滑块"},
    "rec_kept": {"en": "your own values kept; press Recommend to apply",
                 "zh": "保留了你手动设置的值；点击“推荐引导系数”以应用"},
    "schedule": {"en": "Guidance schedule", "zh": "引导系数调度"},
    "schedule_info": {"en": "constant, or varying from the guidance above to the end value over the steps",
                      "zh": "恒定，或在推理过程中从上面的引导系数变化到结束值"},
    "guidance_end": {"en": "Guidance at the last step", "zh": "最后一步的引导系数"},
    "fix_title": {"en": "Not what you wanted? One click adjusts and keeps the seed:",
                  "zh": "效果不理想？一键调整（保持同一种子）："},
    "fix_weak": {"en": "Motion too weak", "zh": "动作太弱"},
    "fix_distorted": {"en": "Motion distorted", "zh": "动作失真"},
    "fix_blurry": {"en": "Blurry", "zh": "画面模糊"},
    "fix_flicker": {"en": "Flickers", "zh": "闪烁"},
    "fix_none": {"en": "Generate a video first.", "zh": "请先生成一个视频。"},
    "count": {"en": "Number of videos (one seed each)", "zh": "视频数量（每个一个种子）"},
    "seams_md": {"en": " · seam scores of the joins: {scores} (1 is an ordinary frame change)",
                 "zh": " · 各接缝的接缝分：{scores}（1 表示与普通帧间变化相当）"},
    "motion_md": {"en": "**Measured motion:** {motion:.2f} px/frame ({norm:.2f}% of the diagonal) · moving area "
                        "{area:.0f}% · jitter {jitter:.2f} · flicker {flicker:.1f}",
                  "zh": "**实测运动：** {motion:.2f} 像素/帧（对角线的 {norm:.2f}%）· 运动区域 {area:.0f}% · "
                        "抖动 {jitter:.2f} · 闪烁 {flicker:.1f}"},
    "motion_plot": {"en": "Motion per frame", "zh": "逐帧运动"},
    "target_motion": {"en": "Auto-tune motion", "zh": "自动调节运动"},
    "target_motion_info": {"en": "a target: drafts at a small size find the guidance that gives it, then the video "
                                 "is made",
                           "zh": "设定目标后，先以小尺寸试生成草稿，找出达到目标的引导系数，再生成正式视频"},
    "target_off": {"en": "off", "zh": "关闭"}, "target_subtle": {"en": "subtle", "zh": "轻微"},
    "target_natural": {"en": "natural", "zh": "自然"}, "target_strong": {"en": "strong", "zh": "强烈"},
    "draft_progress": {"en": "Draft {i} (up to {n}): guidance {g:g}", "zh": "草稿 {i}（最多 {n} 个）：引导系数 {g:g}"},
    "final_progress": {"en": "Final video: guidance {g:g}", "zh": "正式视频：引导系数 {g:g}"},
    "tune_box": {"en": "Auto-tune: drafts", "zh": "自动调节：草稿"},
    "tune_plot": {"en": "Motion against guidance", "zh": "运动与引导系数"},
    "tune_series_draft": {"en": "drafts (measured)", "zh": "草稿（实测）"},
    "tune_series_low": {"en": "target −10%", "zh": "目标 −10%"}, "tune_series_high": {"en": "target +10%", "zh": "目标 +10%"},
    "tune_series_choice": {"en": "choice", "zh": "选择"},
    "tune_hit": {"en": "Guidance **{g:g}**: its draft's motion {m:.2f} is within the target {t:g} ± 10%.",
                 "zh": "引导系数 **{g:g}**：其草稿运动 {m:.2f} 在目标 {t:g} ± 10% 之内。"},
    "tune_predicted": {"en": "Guidance **{g:g}**: the drafts' fit predicts motion {m:.2f} for the target {t:g}.",
                       "zh": "引导系数 **{g:g}**：按草稿拟合，预计运动 {m:.2f}（目标 {t:g}）。"},
    "tune_unreachable_high": {"en": "The target {t:g} is out of reach inside the safe guidance zone: guidance "
                                    "**{g:g}** gave the most motion ({m:.2f}) without flicker or jitter over the "
                                    "limits.",
                              "zh": "在安全的引导系数范围内达不到目标 {t:g}：引导系数 **{g:g}** 运动最大（{m:.2f}），"
                                    "且闪烁与抖动未超限。"},
    "tune_unreachable_low": {"en": "The target {t:g} is below what the safe zone gives: guidance **{g:g}** moved "
                                   "least ({m:.2f}).",
                             "zh": "目标 {t:g} 低于安全范围内的最小运动：引导系数 **{g:g}** 运动最小（{m:.2f}）。"},
    "tune_final": {"en": "The final video measured {m:.2f} (motion in % of the frame's diagonal per frame).",
                   "zh": "正式视频实测运动 {m:.2f}（单位：每帧移动画面对角线的百分比）。"},
    "tune_demo": {"en": "With the demo model, motion does not follow guidance: the loop runs, its choice means "
                        "nothing.",
                  "zh": "演示模型的运动不随引导系数变化：流程照常运行，但选择没有意义。"},
    "draft_caption": {"en": "g={g:g} · motion {m:.2f}", "zh": "引导 {g:g} · 运动 {m:.2f}"},
    "segments": {"en": "Length (segments)", "zh": "长度（片段数）"},
    "segments_info": {"en": "more than 1: each segment continues from the last frames of the one before",
                      "zh": "大于 1 时，每段从上一段的末尾帧继续生成"},
    "length_md": {"en": "Length: **{seconds:.1f} s** ({frames} frames)", "zh": "时长：**{seconds:.1f} 秒**（{frames} 帧）"},
    "storyboard": {"en": "Storyboard (optional)", "zh": "分镜（可选）"},
    "storyboard_ph": {"en": "one prompt per segment, one per line; fewer lines: the last one repeats",
                      "zh": "每段一个提示词，每行一个；行数不足时重复最后一行"},
    "extend": {"en": "Extend (continue this video)", "zh": "续写（接着这个视频）"},
    "extend_none": {"en": "Make a video first: Extend continues the one shown.",
                    "zh": "请先生成一个视频：续写会接着当前显示的视频。"},
    "long_tag": {"en": "{n} segments · ", "zh": "{n} 段 · "},
    "long_segments": {"en": "Segments: {names}", "zh": "片段：{names}"},
    "metric_seam": {"en": "seam score", "zh": "接缝分数"},
    "smooth2": {"en": "Smooth ×2 (interpolate)", "zh": "平滑 ×2（插帧）"},
    "smooth4": {"en": "Smooth ×4", "zh": "平滑 ×4"},
    "loop": {"en": "Loop", "zh": "循环"},
    "smoothed": {"en": "Smoothed: {frames} frames at {fps:g} fps → {name}", "zh": "已平滑：{frames} 帧，{fps:g} fps → {name}"},
    # issue 28 (the page): restored settings, smoothed results, the speed tiers' costs, auto-tune's chart
    "preset_custom": {"en": "custom (restored settings)", "zh": "自定义（恢复的参数）"},
    "smoothed_caption": {"en": "smoothed ×{factor} · {fps:g} fps · {loop}from {name}",
                         "zh": "平滑 ×{factor} · {fps:g} fps · {loop}来自 {name}"},
    "smooths_original": {"en": "Smoothing the generated video {name} (each Smooth starts from it, not from a "
                               "smoothed copy)…",
                         "zh": "正在平滑生成的视频 {name}（每次平滑都从它开始，而不是从平滑后的副本）……"},
    "loop_info": {"en": "applied by Smooth ×2 / ×4: pingpong plays forward then back, crossfade blends the end "
                        "into the start",
                  "zh": "在点击“平滑 ×2 / ×4”时生效：往返为正放后倒放，交叉淡化把结尾渐变到开头"},
    "speed_custom": {"en": "custom", "zh": "自定义"},
    "speed_costs": {"en": "What each speed costs and saves", "zh": "各档速度的代价与节省"},
    "speed_cost_exact": {"en": "**exact**: {sampler}, up to {steps} steps, no approximation: the reference (1×).",
                         "zh": "**精确**：{sampler}，最多 {steps} 步，无近似：基准（1×）。"},
    "speed_cost_tier": {"en": "**{name}**: switches to {sampler}, at most {steps} steps, DeepCache N = {fast}, "
                              "step skipping {skip:g}, guidance until {stop:g} of the steps: {native:.2f}× fewer "
                              "UNet FLOPs than exact at native size ({r512:.2f}× at 512²){more}.",
                        "zh": "**{name}**：改用 {sampler}，最多 {steps} 步，DeepCache N = {fast}，跳步阈值 {skip:g}，"
                              "引导持续到 {stop:g} 的步数：去噪网络计算量（FLOPs）比“精确”少 {native:.2f}×（原生尺寸；"
                              "512² 时 {r512:.2f}×）{more}。"},
    "speed_cost_exact_family": {"en": "**exact**: every step in full: the reference (1×).",
                                "zh": "**精确**：每一步都完整计算：基准（1×）。"},
    "speed_cost_cache": {"en": "**{name}**: diffusers' TaylorSeer cache: the first {warmup} steps in full, then one in "
                               "{interval}; the others predict every transformer block: {ratio}× fewer transformer "
                               "FLOPs at native size (approximate).",
                         "zh": "**{name}**：diffusers 的 TaylorSeer 缓存：前 {warmup} 步完整计算，之后每 {interval} "
                               "步算一次，其余步预测每个 transformer 块：原生尺寸下 transformer 计算量减少到 "
                               "1/{ratio}（近似）。"},
    "speed_cost_more": {"en": ", more where step skipping skips steps", "zh": "，跳步生效时更少"},
    "speed_cost_custom": {"en": "**custom**: the sliders as you set them (a result records *custom* when its "
                                "values are not a tier's).",
                          "zh": "**自定义**：按滑块的当前值运行（数值不属于任何档位时，结果记录为“自定义”）。"},
    "tune_safe_zone": {"en": "The *safe zone* is the guidance range in which the drafts' flicker and jitter stay "
                             "under the studio's limits; auto-tune chooses only inside it.",
                       "zh": "“安全范围”指草稿的闪烁与抖动都低于工作室上限的引导系数范围；自动调节只在其中选择。"},
    "tune_x": {"en": "guidance", "zh": "引导系数"}, "tune_y": {"en": "motion (% of diagonal per frame)",
                                                        "zh": "运动（每帧对角线百分比）"},
    "tune_series_title": {"en": "series", "zh": "系列"},
    "negative_info": {"en": "in English on every page: the model's text encoder (CLIP) was trained on English "
                            "text",
                      "zh": "在中文页面也保持英文：模型的文本编码器只用英文训练，中文反向提示词几乎不起作用"},
    "tab_sweep": {"en": "Compare guidance", "zh": "引导系数对比"},
    "sweep_help": {"en": "Same picture, prompt and seed as on the Create tab; one video per guidance value, "
                         "side by side, with their measured motion. ★ = best motion/jitter balance.",
                   "zh": "使用“创作”页的图片、提示词和种子；每个引导系数生成一个视频并排对比，并给出实测运动。"
                         "★ = 运动与抖动最平衡。"},
    "sweep_values": {"en": "Guidance values", "zh": "引导系数列表"},
    "sweep_run": {"en": "Run the comparison", "zh": "开始对比"},
    "sweep_progress": {"en": "Video {i}/{n}: guidance {g:g}…", "zh": "第 {i}/{n} 个视频：引导系数 {g:g}……"},
    "sweep_done": {"en": "Best balance: guidance {g:g}.", "zh": "最平衡：引导系数 {g:g}。"},
}


def t(key: str, lang: str = "en", **fmt) -> str:
    entry = TEXT[key]
    text = entry.get(lang) or entry["en"]
    return text.format(**fmt) if fmt else text


def pick_lang(accept_language: str | None) -> str:
    """'zh' when the browser prefers any Chinese variant over English, else 'en'."""
    best, best_q = "en", -1.0
    for part in (accept_language or "").split(","):
        bits = part.strip().split(";")
        tag = bits[0].strip().lower()
        q = 1.0
        for b in bits[1:]:
            if b.strip().startswith("q="):
                try:
                    q = float(b.strip()[2:])
                except ValueError:
                    q = 0.0
        lang = "zh" if tag.startswith("zh") else "en" if tag.startswith("en") else None
        if lang and q > best_q:
            best, best_q = lang, q
    return best


# Keys of Gradio's own page that its locale files lack: the screen-reader line after an event read out
# "common.complete" on the Chinese page (a newcomer's pass).
GRADIO_KEYS = {"common.complete": {"en": "Complete", "zh": "完成"}}


def i18n_tables() -> dict[str, dict[str, str]]:
    """{lang: {key: text}} for gradio's I18n."""
    return {lang: {k: v.get(lang) or v["en"] for k, v in {**TEXT, **GRADIO_KEYS}.items()} for lang in LANGS}
