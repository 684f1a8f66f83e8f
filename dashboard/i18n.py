"""Interface text in English and 简体中文, the language switch, and `t(key, **values)`.

    from dashboard.i18n import language_switch, t
    language_switch()                      # sidebar selectbox; ?lang=zh in the URL, kept across pages
    st.title(t("lab.title"))
    st.write(t("lab.still_improving", task="synth_1", steps=800))

STRINGS maps a key to its text in each language; values fill `{name}` fields with str.format, so a
template can format numbers (`{delta:+.1f}`). A key missing in one language falls back to English
(tests check that none is missing). Any page can adopt this: call language_switch() once near the
top and wrap its texts in t(). The chosen language is in st.session_state["lang"] (it survives
navigation between pages) and in the URL as ?lang=zh (it survives a shared link); English is the
default and is left out of the URL.
"""
from __future__ import annotations

from typing import Any

from dashboard import text as _text
from mtl_core.recommend_text import TEXTS as _RECOMMENDATION_TEXTS

LANGUAGES = {"en": "English", "zh": "简体中文"}
DEFAULT_LANGUAGE = "en"
SESSION_KEY = "lang"
WIDGET_KEY = "i18n_language"

STRINGS: dict[str, dict[str, str]] = {
    # ---- shared ------------------------------------------------------------------------------
    "language": {"en": "Language / 语言", "zh": "语言 / Language"},
    # the navigation (dashboard/app.py)
    "nav.new": {"en": "New experiment", "zh": "新实验"},
    "nav.runs": {"en": "Runs", "zh": "运行"},
    "nav.compare": {"en": "Compare", "zh": "比较"},
    "nav.map": {"en": "Relatedness map", "zh": "任务相关性图"},
    "nav.lab": {"en": "Teaching lab", "zh": "教学实验室"},
    "run": {"en": "Run", "zh": "运行"},
    "auto_run": {"en": "Run automatically when a setting changes", "zh": "设置改变时自动运行"},
    "running": {"en": "Training in the background: {done}/{total} runs finished", "zh": "后台训练中：已完成 {done}/{total} 个运行"},
    "run_progress": {"en": "{label}: step {step} / {total} ({status})", "zh": "{label}：第 {step} / {total} 步（{status}）"},
    "poll_note": {"en": "Updating every 0.5 s until every run has finished.", "zh": "每 0.5 秒刷新一次，直到所有运行结束。"},
    "failed": {"en": "Some runs did not complete: {errors}", "zh": "部分运行未完成：{errors}"},
    "estimate": {"en": "Estimated time: {duration} on this machine", "zh": "预计耗时：{duration}（本机）"},
    "share_link": {"en": "Link to exactly this setup (copy it from the address bar, or this):",
                   "zh": "本设置的链接（可从地址栏复制，或复制下面这行）："},
    "reused": {"en": "These settings ran before ({when}); showing those runs. Press Run to train them again.",
               "zh": "这些设置之前运行过（{when}），下面显示那次的结果。按“运行”可重新训练。"},
    "not_run": {"en": "Not run yet with these settings: press **Run** (a few seconds).",
                "zh": "这些设置还没有运行过：请按 **运行**（只需几秒）。"},
    "what_to_look_for": {"en": "What to look for", "zh": "看什么"},
    "what_happened": {"en": "What just happened", "zh": "刚才发生了什么"},
    "formula": {"en": "The formula with your values", "zh": "代入你的数值的公式"},
    # next to a relatedness slider: what p means in the data the runs will train on
    "label_correlation": {"en": "Label correlation of synth_1 and synth_2 at p = {p:g}: {r:.2f} (data draw {draw})",
                          "zh": "p = {p:g} 时 synth_1 与 synth_2 的标签相关系数：{r:.2f}（数据抽取 {draw}）"},
    "notes_ignored": {"en": "Some link settings were ignored: {notes}", "zh": "链接中的部分设置被忽略：{notes}"},
    "step": {"en": "training step", "zh": "训练步数"},
    "multi_task": {"en": "shared model (multi-task)", "zh": "共享模型（多任务）"},
    "single_task": {"en": "separate models (single-task)", "zh": "独立模型（单任务）"},
    "higher": {"en": "higher", "zh": "更高"},
    "lower": {"en": "lower", "zh": "更低"},
    "download_csv": {"en": "Download {name} (CSV)", "zh": "下载 {name}（CSV）"},
    "status.queued": {"en": "queued", "zh": "排队中"},
    "status.running": {"en": "running", "zh": "运行中"},
    "status.completed": {"en": "completed", "zh": "已完成"},
    "status.failed": {"en": "failed", "zh": "失败"},
    "status.cancelled": {"en": "cancelled", "zh": "已取消"},
    "status.interrupted": {"en": "interrupted", "zh": "已中断"},
    "status.diverged": {"en": "diverged", "zh": "发散"},
    # ---- chart vocabulary (translate_figure replaces these English fragments) -----------------
    "chart.raw": {"en": "raw", "zh": "原始"},
    "chart.smoothed": {"en": "smoothed", "zh": "平滑"},
    "chart.noise_floor": {"en": "noise floor", "zh": "噪声基线"},
    "chart.below_zero": {"en": "below 0 = conflict", "zh": "低于 0 = 冲突"},
    "chart.cosine_axis": {"en": "gradient cosine (−1 to 1)", "zh": "梯度余弦（−1 到 1）"},
    # ---- Teaching lab --------------------------------------------------------------------------
    "lab.title": {"en": "Teaching lab", "zh": "教学实验室"},
    "lab.intro": {
        "en": "Short lessons on multi-task learning. Each one trains a few small models in the background "
              "(seconds on a laptop CPU) and explains the result from the run's own numbers. Every setting "
              "is in the page's link: send it, and it opens the same lesson.",
        "zh": "多任务学习的小课程。每一课在后台训练几个小模型（笔记本 CPU 上几秒钟），并用本次运行的数字解释结果。"
              "所有设置都在页面链接里：把链接发给别人，打开的就是同一课。"},
    "lab.lesson": {"en": "Lesson", "zh": "课程"},
    "lab.lesson.relatedness": {"en": "How related are these tasks?", "zh": "这些任务有多相关？"},
    "lab.lesson.weights": {"en": "Loss weights", "zh": "损失权重"},
    "lab.lesson.soft": {"en": "Soft sharing", "zh": "软共享"},
    "lab.lesson.attach": {"en": "Where to attach a task", "zh": "任务接在哪一层"},
    "lab.lesson.languages": {"en": "Do languages help each other?", "zh": "语言之间能互相帮助吗？"},
    "lab.lesson.methods": {"en": "Does a clever weighting method beat tuned weights?",
                           "zh": "巧妙的加权方法能胜过调好的权重吗？"},
    "lab.setting.methods": {"en": "Adaptive weighting methods to put on the front (one run each)",
                            "zh": "放到前沿图上比较的自适应加权方法（每种一次运行）"},
    "lab.presets": {"en": "Presets", "zh": "预设"},
    "lab.setting.p": {"en": "Task relatedness p (cosine of the task weight vectors)", "zh": "任务相关性 p（两个任务权重向量的余弦）"},
    "lab.setting.steps": {"en": "Training steps", "zh": "训练步数"},
    "lab.setting.seeds": {"en": "Seeds (more = more reliable, slower)", "zh": "随机种子数（越多越可靠，越慢）"},
    "lab.setting.w1": {"en": "λ₁: weight of synth_1's loss", "zh": "λ₁：synth_1 损失的权重"},
    "lab.setting.w2": {"en": "λ₂: weight of synth_2's loss", "zh": "λ₂：synth_2 损失的权重"},
    "lab.setting.soft": {"en": "λ_soft values to compare (one run each, plus hard sharing)",
                         "zh": "要比较的 λ_soft 取值（每个一次运行，外加硬共享）"},
    "lab.setting.max_train": {"en": "Training sentences per task", "zh": "每个任务的训练句子数"},
    "lab.fixed": {"en": "Fixed for this lesson: {details}", "zh": "本课固定设置：{details}"},
    # relatedness
    "lab.rel.look": {
        "en": "Two synthetic regression tasks whose true weight vectors have cosine **p**. A *shared* model "
              "(one 8-unit bottom, two heads) is trained next to *separate* single-task models on the same "
              "budget. Move p from 1 to 0: the shared model's advantage shrinks and turns into a loss (its "
              "solid curves rise above the dashed ones), and the gradient cosine between the tasks falls "
              "towards the noise floor, where the tasks no longer pull the shared weights the same way.",
        "zh": "两个合成回归任务，它们真实权重向量的余弦为 **p**。*共享*模型（一个 8 单元的底层、两个输出头）与"
              "*独立*的单任务模型以相同预算训练。把 p 从 1 调到 0：共享模型的优势缩小并变成劣势（实线升到虚线之上），"
              "任务之间的梯度余弦降到噪声基线附近——两个任务不再把共享权重往同一方向推。"},
    "lab.rel.preset_same": {"en": "p = 1 (the same task)", "zh": "p = 1（同一个任务）"},
    "lab.rel.preset_half": {"en": "p = 0.5", "zh": "p = 0.5"},
    "lab.rel.preset_none": {"en": "p = 0 (unrelated)", "zh": "p = 0（不相关）"},
    "lab.rel.curves_title": {"en": "Validation MSE: shared (solid) vs separate (dashed); shaded = the gap",
                             "zh": "验证集 MSE：共享（实线）对比独立（虚线）；阴影 = 差距"},
    "lab.rel.mse_axis": {"en": "validation MSE (lower is better)", "zh": "验证集 MSE（越低越好）"},
    "lab.rel.cos_title": {"en": "Gradient cosine between synth_1 and synth_2 over training",
                          "zh": "训练过程中 synth_1 与 synth_2 的梯度余弦"},
    "lab.rel.summary_task": {
        "en": "On {task}, Δ = {delta:+.1f}% (positive = shared better; test MSE {mtl:.3f} shared vs {stl:.3f} "
              "separate, means over seeds, Δ paired by seed); between the validation curves the average gap was "
              "{gap:+.3f} MSE (positive = shared better).",
        "zh": "在 {task} 上，Δ = {delta:+.1f}%（正值 = 共享更好；测试 MSE 共享 {mtl:.3f}、独立 {stl:.3f}，为各种子的平均，"
              "Δ 按种子配对）；两条验证曲线之间的平均差距为 {gap:+.3f} MSE（正值 = 共享更好）。"},
    "lab.rel.summary_cos_unmeasured": {
        "en": "Gradient cosine between the tasks: not measured in these runs.",
        "zh": "两任务之间的梯度余弦：这些运行中没有测量。"},
    "lab.still_improving": {
        "en": "{task} was still improving at the end of training: its Δ reflects learning speed, not transfer "
              "(try at least {steps} steps).",
        "zh": "{task} 在训练结束时仍在提升：它的 Δ 反映的是学习速度而不是迁移（可尝试至少 {steps} 步）。"},
    "lab.rel.summary_head": {"en": "With p = {p:g}:", "zh": "当 p = {p:g} 时："},
    "lab.rel.summary_cos": {
        "en": "Mean gradient cosine between the tasks: {cos:+.2f} (noise floor {floor}; conflict, cos < 0, in "
              "{rate:.0f}% of measured steps).",
        "zh": "两任务的平均梯度余弦：{cos:+.2f}（噪声基线 {floor}；冲突，即 cos < 0，出现在 {rate:.0f}% 的测量步中）。"},
    "lab.rel.summary_verdict_help": {
        "en": "Δm = {dm:+.1f}%: sharing helped these tasks on average.",
        "zh": "Δm = {dm:+.1f}%：平均而言，共享对这些任务有帮助。"},
    "lab.rel.summary_verdict_hurt": {
        "en": "Δm = {dm:+.1f}%: sharing hurt (negative transfer): the 8 shared units had to serve two "
              "tasks that want different features.",
        "zh": "Δm = {dm:+.1f}%：共享反而有害（负迁移）：8 个共享单元要同时服务两个需要不同特征的任务。"},
    "lab.rel.summary_verdict_same": {
        "en": "Δm = {dm:+.1f}%: about the same as separate models (within ±1%).",
        "zh": "Δm = {dm:+.1f}%：与独立模型差不多（在 ±1% 以内）。"},
    "lab.rel.one_seed": {"en": "One seed: rerun with 2–3 seeds before trusting a difference of a few percent.",
                         "zh": "只有一个随机种子：差距只有百分之几时，请用 2–3 个种子重跑再下结论。"},
    # weights
    "lab.w.look": {
        "en": "One shared model, loss L = λ₁L₁ + λ₂L₂. The sweep trains five static weightings (and yours) "
              "and plots each as one point: test MSE of synth_1 across, synth_2 up; lower-left is better. "
              "Points that no other weighting beats on both tasks form the **front**: moving along it trades "
              "one task for the other. The grey star is the pair of separate single-task models.",
        "zh": "一个共享模型，损失 L = λ₁L₁ + λ₂L₂。扫描训练五种固定权重（外加你的权重），每种画成一个点："
              "横轴是 synth_1 的测试 MSE，纵轴是 synth_2 的；越靠左下越好。没有被其他权重在两个任务上同时超越的点构成"
              "**前沿**：沿前沿移动就是用一个任务换另一个任务。灰色星号是两个独立单任务模型。"},
    "lab.w.front_title": {"en": "Trade-off of static loss weightings (lower-left is better)",
                          "zh": "固定损失权重的权衡（越靠左下越好）"},
    "lab.w.x_axis": {"en": "synth_1 test MSE (lower is better)", "zh": "synth_1 测试 MSE（越低越好）"},
    "lab.w.y_axis": {"en": "synth_2 test MSE (lower is better)", "zh": "synth_2 测试 MSE（越低越好）"},
    "lab.w.point": {"en": "λ = ({w1:g}, {w2:g})", "zh": "λ = ({w1:g}, {w2:g})"},
    "lab.w.yours": {"en": "your weighting", "zh": "你的权重"},
    "lab.w.front": {"en": "front", "zh": "前沿"},
    "lab.w.weightings": {"en": "static weightings", "zh": "固定权重"},
    "lab.w.baseline": {"en": "separate models", "zh": "独立模型"},
    "lab.w.summary_yours": {
        "en": "Your weighting λ = ({w1:g}, {w2:g}): synth_1 MSE {x:.3f}, synth_2 MSE {y:.3f}.",
        "zh": "你的权重 λ = ({w1:g}, {w2:g})：synth_1 MSE {x:.3f}，synth_2 MSE {y:.3f}。"},
    "lab.w.summary_best": {
        "en": "Best synth_1 came from λ = ({a1:g}, {a2:g}) ({ax:.3f}), best synth_2 from λ = ({b1:g}, {b2:g}) "
              "({by:.3f}). {front} of {n} weightings are on the front.",
        "zh": "synth_1 最好的结果来自 λ = ({a1:g}, {a2:g})（{ax:.3f}），synth_2 最好的来自 λ = ({b1:g}, {b2:g})"
              "（{by:.3f}）。{n} 种权重中有 {front} 种在前沿上。"},
    "lab.w.summary_baseline": {
        "en": "Separate models: synth_1 {x:.3f}, synth_2 {y:.3f}.",
        "zh": "独立模型：synth_1 {x:.3f}，synth_2 {y:.3f}。"},
    "lab.w.zero": {"en": "Both weights are 0: nothing would be trained. Raise one of them.",
                   "zh": "两个权重都是 0：什么也不会训练。请调高其中一个。"},
    # methods (adaptive loss weighting against the static λ front)
    "lab.m.look": {
        "en": "Two unrelated synthetic tasks (p = 0 by default) share one model. Five static weightings λ trace the "
              "**front** of what tuning λ can reach; each adaptive method you pick (uncertainty weighting, PCGrad, "
              "FAMO, MGDA, …) sets the weights itself and becomes one labelled point. Both axes are Δ against "
              "separate single-task models (positive = the shared model is better; upper-right is better). A method "
              "**below-left of the front** is beaten by some λ on both tasks; **on** it, it is a trade-off a λ "
              "could also pick; **beyond** it, it beats a λ on both tasks. Each label carries the method's step "
              "cost next to a static-λ step.",
        "zh": "两个不相关的合成任务（默认 p = 0）共享一个模型。五种固定权重 λ 描出调 λ 所能达到的**前沿**；你选择的每种"
              "自适应方法（不确定性加权、PCGrad、FAMO、MGDA……）自己决定权重，画成一个带标签的点。两个坐标轴都是相对独立"
              "单任务模型的 Δ（正值 = 共享模型更好；越靠右上越好）。落在**前沿左下方**的方法在两个任务上都被某个 λ 超越；"
              "**在前沿上**说明它只是一种 λ 也能选出的权衡；**超出前沿**说明它在两个任务上都胜过某个 λ。每个标签还标出"
              "该方法每步的耗时相对固定 λ 的倍数。"},
    "lab.m.front_title": {"en": "Static λ front vs adaptive weighting methods (upper-right is better)",
                          "zh": "固定 λ 前沿与自适应加权方法（越靠右上越好）"},
    "lab.m.x_axis": {"en": "Δ synth_1 vs separate models, % (higher is better)",
                     "zh": "synth_1 相对独立模型的 Δ，%（越高越好）"},
    "lab.m.y_axis": {"en": "Δ synth_2 vs separate models, % (higher is better)",
                     "zh": "synth_2 相对独立模型的 Δ，%（越高越好）"},
    "lab.m.static": {"en": "static λ", "zh": "固定 λ"},
    "lab.m.front": {"en": "static-λ front", "zh": "固定 λ 前沿"},
    "lab.m.baseline": {"en": "separate models (Δ = 0)", "zh": "独立模型（Δ = 0）"},
    "lab.m.cost": {"en": "{ratio:.1f}× a static-λ step", "zh": "每步耗时为固定 λ 的 {ratio:.1f} 倍"},
    "lab.m.cost_unmeasured": {"en": "cost not measured yet", "zh": "耗时尚未测量"},
    "lab.m.none": {"en": "Pick at least one method to put next to the static front.",
                   "zh": "请至少选择一种方法与固定 λ 前沿比较。"},
    "lab.m.summary_front": {
        "en": "Static λ: {front} of {n} settings are on the front. Best synth_1: Δ {ax:+.1f}% at λ = ({a1:g}, {a2:g}); "
              "best synth_2: Δ {by:+.1f}% at λ = ({b1:g}, {b2:g}).",
        "zh": "固定 λ：{n} 种设置中有 {front} 种在前沿上。synth_1 最好：λ = ({a1:g}, {a2:g}) 时 Δ {ax:+.1f}%；"
              "synth_2 最好：λ = ({b1:g}, {b2:g}) 时 Δ {by:+.1f}%。"},
    "lab.m.summary_dominated": {
        "en": "**{method}** (Δ {x:+.1f}% / {y:+.1f}%, {cost}): dominated by the static front: {by} is at least as good "
              "on both tasks.",
        "zh": "**{method}**（Δ {x:+.1f}% / {y:+.1f}%，{cost}）：被固定 λ 前沿支配：{by} 在两个任务上都不比它差。"},
    "lab.m.summary_on": {
        "en": "**{method}** (Δ {x:+.1f}% / {y:+.1f}%, {cost}): on the front: no static λ beats it on both tasks and it "
              "beats no point of the front on both, a trade-off that tuning λ could also reach.",
        "zh": "**{method}**（Δ {x:+.1f}% / {y:+.1f}%，{cost}）：在前沿上：没有哪个固定 λ 在两个任务上都胜过它，它也没有"
              "在两个任务上都胜过前沿上的任何点，这是调 λ 也能达到的权衡。"},
    "lab.m.summary_beyond": {
        "en": "**{method}** (Δ {x:+.1f}% / {y:+.1f}%, {cost}): beyond the static front: it beats {beats} on both tasks.",
        "zh": "**{method}**（Δ {x:+.1f}% / {y:+.1f}%，{cost}）：超出固定 λ 前沿：它在两个任务上都胜过 {beats}。"},
    "lab.m.summary_cost": {
        "en": "Cost: a method's step time relative to a static-λ step on the medium trunk, as measured by "
              "benchmarks/weighting_cost.py; gradient-based methods need one backward pass per task.",
        "zh": "耗时：方法每步时间相对固定 λ 一步的倍数（中等主干，由 benchmarks/weighting_cost.py 测得）；基于梯度的方法"
              "每个任务都需要一次反向传播。"},
    # soft
    "lab.soft.look": {
        "en": "Each task gets its own encoder θ_t; a penalty λ_soft Σ‖θ_t − θ_s‖² pulls them towards their "
              "mean θ_s. λ_soft = 0 is independent training, a large λ_soft approaches hard sharing (also "
              "run, for reference). Watch the distance ‖θ_t − θ_s‖ over training: the larger λ_soft, the "
              "closer the encoders stay.",
        "zh": "每个任务有自己的编码器 θ_t；惩罚项 λ_soft Σ‖θ_t − θ_s‖² 把它们拉向平均值 θ_s。λ_soft = 0 即独立训练，"
              "λ_soft 很大时接近硬共享（也一并运行作对照）。观察训练中的距离 ‖θ_t − θ_s‖：λ_soft 越大，编码器彼此越接近。"},
    "lab.soft.distance_title": {"en": "Distance of the task encoders from their mean, ‖θ_t − θ_s‖ (mean over tasks)",
                                "zh": "任务编码器与其平均值的距离 ‖θ_t − θ_s‖（任务平均）"},
    "lab.soft.distance_axis": {"en": "‖θ_t − θ_s‖ (L2 distance)", "zh": "‖θ_t − θ_s‖（L2 距离）"},
    "lab.soft.results_title": {"en": "Test MSE per task for each λ_soft (lower is better)",
                               "zh": "各 λ_soft 下每个任务的测试 MSE（越低越好）"},
    "lab.soft.results_axis": {"en": "test MSE (lower is better)", "zh": "测试 MSE（越低越好）"},
    "lab.soft.hard": {"en": "hard sharing", "zh": "硬共享"},
    "lab.soft.summary_distance": {
        "en": "At the end of training the encoders were {d0:.3f} apart from their mean with λ_soft = {l0} and "
              "{d1:.3f} with λ_soft = {l1} ({ratio:.0f}× closer).",
        "zh": "训练结束时，λ_soft = {l0} 的编码器与平均值相距 {d0:.3f}，λ_soft = {l1} 时为 {d1:.3f}（近了 {ratio:.0f} 倍）。"},
    "lab.soft.summary_best": {
        "en": "Lowest mean test MSE: {best} ({value:.3f}); hard sharing: {hard:.3f}; λ_soft = {l0}: {v0:.3f}.",
        "zh": "平均测试 MSE 最低的是 {best}（{value:.3f}）；硬共享：{hard:.3f}；λ_soft = {l0}：{v0:.3f}。"},
    # attach
    "lab.att.look": {
        "en": "ATIS flight requests: slot filling (a word-level task) and intent (a sentence-level task) "
              "share a 2-layer BiLSTM. Hierarchical sharing lets each task's head read a different layer. "
              "The usual advice (Søgaard & Goldberg 2016) puts low-level tasks low and high-level tasks high. "
              "Both placements are trained on the same small budget; compare their test scores.",
        "zh": "ATIS 航班查询：槽位填充（词级任务）和意图识别（句级任务）共享一个 2 层 BiLSTM。层次共享让每个任务的输出头"
              "读取不同的层。常见建议（Søgaard & Goldberg 2016）是低层任务接在低层、高层任务接在高层。两种接法用相同的小预算训练；"
              "比较它们的测试成绩。"},
    "lab.lang.look": {
        "en": "One shared encoder reads English emoji names; each target language has its own decoder. English → "
              "Spanish is trained once with French (a related Romance language) and once with Japanese (a distant "
              "one, another script), each against Spanish trained alone. Look at the **gradient cosine** of each "
              "pair on the shared encoder (measured from the first steps: do the two directions pull the encoder "
              "the same way?) and at **Δ** on Spanish's chrF (did the partner help?). The catalog's cards call "
              "French related and Japanese distant; the lesson checks that claim on your run.",
        "zh": "一个共享编码器读取英文表情名称，每种目标语言有自己的解码器。英语→西班牙语分别与法语（相近的罗曼语）和日语（遥远的语言、"
              "不同文字）一起训练，并各自与单独训练的西班牙语比较。看每一对在共享编码器上的**梯度余弦**（从最初几步就开始测量：两个方向"
              "是否把编码器往同一方向拉？）以及西班牙语 chrF 上的 **Δ**（伙伴有没有帮忙？）。目录卡片称法语相关、日语遥远；本课在你的运行上检验这一说法。"},
    "lab.lang.pair.related": {"en": "with French (related)", "zh": "与法语一起（相近）"},
    "lab.lang.pair.distant": {"en": "with Japanese (distant)", "zh": "与日语一起（遥远）"},
    "lab.lang.curves_title": {"en": "{task}: validation chrF (higher is better)", "zh": "{task}：验证集 chrF（越高越好）"},
    "lab.lang.alone": {"en": "alone (single-task)", "zh": "单独训练（单任务）"},
    "lab.lang.chrf_axis": {"en": "chrF (0–100)", "zh": "chrF（0–100）"},
    "lab.lang.no_curve": {"en": "no evaluation yet", "zh": "尚无评估"},
    "lab.lang.cos_title": {"en": "Gradient cosine of each pair on the shared encoder",
                           "zh": "每一对在共享编码器上的梯度余弦"},
    "lab.lang.summary_pair": {
        "en": "{target} {pair}: Δ on {target} {delta:+.1f} %, on {partner} {other:+.1f} % (chrF against each "
              "trained alone); gradient cosine {cos:+.2f}, conflicting on {rate:.0f} % of measured steps.",
        "zh": "{target} {pair}：{target} 上的 Δ 为 {delta:+.1f} %，{partner} 上为 {other:+.1f} %（chrF，与各自单独训练相比）；"
              "梯度余弦 {cos:+.2f}，{rate:.0f} % 的测量步存在冲突。"},
    "lab.lang.summary_cos_related": {
        "en": "French's gradients agree more with Spanish's ({related:+.2f}) than Japanese's do ({distant:+.2f}): "
              "as the cards expect, the related language pulls the shared encoder the same way.",
        "zh": "法语的梯度与西班牙语更一致（{related:+.2f}），日语则较低（{distant:+.2f}）：如卡片所料，相近的语言把共享编码器往同一方向拉。"},
    "lab.lang.summary_cos_distant": {
        "en": "Here Japanese's gradients agree more with Spanish's ({distant:+.2f}) than French's do "
              "({related:+.2f}): not what the cards expect; try more seeds or steps before drawing a conclusion.",
        "zh": "这里日语的梯度与西班牙语更一致（{distant:+.2f}），法语则较低（{related:+.2f}）：与卡片的预期不同；下结论前请增加种子数或步数。"},
    "lab.lang.still_improving": {
        "en": "The chrF curves were still rising at the end, so Δ here is mostly about learning speed, not transfer: "
              "for a verdict on the gain, train about {steps} steps (the cosine needs no such wait).",
        "zh": "结束时 chrF 曲线仍在上升，因此这里的 Δ 主要反映学习速度而非迁移：要判断增益，请训练约 {steps} 步（余弦不需要等待）。"},
    "lab.att.slots_low": {"en": "slots at layer 1, intent at layer 2", "zh": "槽位接第 1 层，意图接第 2 层"},
    "lab.att.slots_high": {"en": "slots at layer 2, intent at layer 1", "zh": "槽位接第 2 层，意图接第 1 层"},
    "lab.att.results_title": {"en": "Test score of each task for each placement (higher is better)",
                              "zh": "每种接法下各任务的测试成绩（越高越好）"},
    "lab.att.score_axis": {"en": "test score (0–1, higher is better)", "zh": "测试成绩（0–1，越高越好）"},
    "lab.att.metric.atis_slots": {"en": "atis_slots: span F1", "zh": "atis_slots：片段 F1"},
    "lab.att.metric.atis_intent": {"en": "atis_intent: accuracy", "zh": "atis_intent：准确率"},
    "lab.att.summary_line": {
        "en": "{placement}: slot span F1 {slots:.3f}, intent accuracy {intent:.3f}.",
        "zh": "{placement}：槽位片段 F1 {slots:.3f}，意图准确率 {intent:.3f}。"},
    "lab.att.summary_diff": {
        "en": "Putting slots low instead of high changed slot F1 by {slots:+.3f} and intent accuracy by {intent:+.3f} "
              "(one seed, {steps} steps: differences under ~0.02 are within noise).",
        "zh": "把槽位从高层换到低层，槽位 F1 变化 {slots:+.3f}，意图准确率变化 {intent:+.3f}"
              "（单个种子、{steps} 步：小于约 0.02 的差异属于噪声范围）。"},
    # ---- Relatedness map ------------------------------------------------------------------------
    "map.title": {"en": "Relatedness map", "zh": "任务相关性图"},
    "map.intro": {
        "en": "Which tasks help which? The map trains every task alone and every pair together, then shows the "
              "measured transfer gain next to cheaper proxies (lookahead affinity, gradient cosine, conflict "
              "rate, CKA) and suggests task groups.",
        "zh": "哪些任务能互相帮助？相关性图单独训练每个任务，并两两一起训练，然后把实测的迁移增益与更便宜的代理指标"
              "（前瞻亲和度、梯度余弦、冲突率、CKA）并排展示，并给出任务分组建议。"},
    "map.new": {"en": "New map", "zh": "新建相关性图"},
    "map.tasks": {"en": "Tasks (2–8)", "zh": "任务（2–8 个）"},
    "map.steps": {"en": "Training steps per run", "zh": "每次运行的训练步数"},
    "map.seeds": {"en": "Seeds (comma-separated)", "zh": "随机种子（逗号分隔）"},
    "map.encoder": {"en": "Encoder", "zh": "编码器"},
    "map.max_train": {"en": "Training examples per task (0 = all)", "zh": "每个任务的训练样本数（0 = 全部）"},
    "map.cheap": {"en": "Cheap mode: proxies from one all-task run (no pairwise runs)",
                  "zh": "省时模式：只用一次全任务运行得到代理指标（不做两两运行）"},
    "map.max_groups": {"en": "At most B groups", "zh": "最多分成 B 组"},
    "map.launch": {"en": "Launch map", "zh": "开始计算相关性图"},
    "map.pick_tasks": {"en": "Choose 2 to 8 tasks.", "zh": "请选择 2 到 8 个任务。"},
    "map.estimate": {"en": "{runs} runs, estimated {duration} on this machine.", "zh": "共 {runs} 个运行，本机预计 {duration}。"},
    "map.pick": {"en": "Map experiment", "zh": "相关性图实验"},
    "map.none": {"en": "No relatedness maps in this store yet: launch one above.", "zh": "当前存储中还没有相关性图：请在上方新建。"},
    "map.unknown_exp": {"en": "No map experiment '{id}' in this store; showing the newest.",
                        "zh": "存储中没有相关性图实验“{id}”，显示最新的一个。"},
    "map.progress": {"en": "{completed}/{total} runs completed", "zh": "已完成 {completed}/{total} 个运行"},
    "map.cheap_warning": {
        "en": "Cheap mode: no pairwise runs were trained, so there is no measured transfer gain. Every matrix "
              "below is a **proxy** of relatedness, read from one run with all tasks.",
        "zh": "省时模式：没有进行两两训练，因此没有实测的迁移增益。下面的所有矩阵都只是相关性的**代理指标**，来自一次包含全部任务的运行。"},
    "map.helper_axis": {"en": "helper task i", "zh": "辅助任务 i"},
    "map.target_axis": {"en": "target task j", "zh": "目标任务 j"},
    "map.matrix.transfer_gain": {"en": "Transfer gain G(i→j), %<br><sup>positive = helper i improves target j</sup>",
                   "zh": "迁移增益 G(i→j)，%<br><sup>正值 = 辅助任务 i 提升目标任务 j</sup>"},
    "map.matrix.affinity": {"en": "Lookahead affinity Z(i→j), %<br><sup>positive = a step on i lowers j's loss</sup>",
                   "zh": "前瞻亲和度 Z(i→j)，%<br><sup>正值 = 在 i 上走一步会降低 j 的损失</sup>"},
    "map.matrix.linear_affinity": {
        "en": "Linearised lookahead affinity, %<br><sup>lr·⟨g_i, ∇L_j⟩ / L_j: the first-order Z(i→j)</sup>",
        "zh": "线性化前瞻亲和度，%<br><sup>lr·⟨g_i, ∇L_j⟩ / L_j：Z(i→j) 的一阶近似</sup>"},
    "map.matrix.mean_cos": {"en": "Mean gradient cosine, %<br><sup>negative = conflict</sup>",
                   "zh": "平均梯度余弦，%<br><sup>负值 = 冲突</sup>"},
    "map.matrix.conflict_rate": {"en": "Conflict rate, %<br><sup>share of measurements with cos < 0</sup>",
                                 "zh": "冲突率，%<br><sup>cos < 0 的测量占比</sup>"},
    "map.matrix.cka": {"en": "Linear CKA of the task representations, %<br><sup>100 = same representation</sup>",
                   "zh": "任务表示的线性 CKA，%<br><sup>100 = 表示相同</sup>"},
    "map.colorbar": {"en": "%", "zh": "%"},
    "map.proxies": {"en": "Do the proxies agree with the measured gain?", "zh": "代理指标与实测增益一致吗？"},
    "map.proxies_explain": {
        "en": "Spearman rank correlation between each proxy and the measured transfer gain over all task pairs "
              "(1 = same order, 0 = unrelated, −1 = reversed). Proxies often correlate poorly with real gains "
              "(Azorin et al. 2023): trust the measured gain, use proxies to decide what to measure.",
        "zh": "各代理指标与实测迁移增益在所有任务对上的 Spearman 秩相关（1 = 顺序相同，0 = 无关，−1 = 完全相反）。"
              "代理指标与真实增益往往相关性不高（Azorin 等，2023）：请以实测增益为准，代理指标只用来决定先测什么。"},
    "map.proxy.affinity": {"en": "lookahead affinity", "zh": "前瞻亲和度"},
    "map.proxy.linear_affinity": {"en": "linearised affinity", "zh": "线性化亲和度"},
    "map.proxy.mean_cos": {"en": "mean gradient cosine", "zh": "平均梯度余弦"},
    "map.proxy.cka": {"en": "CKA", "zh": "CKA"},
    "map.proxy_value": {"en": "{proxy}: ρ = {rho:+.2f}", "zh": "{proxy}：ρ = {rho:+.2f}"},
    "map.proxy_missing": {"en": "{proxy}: not available", "zh": "{proxy}：无数据"},
    "map.proxy_regret": {"en": "; {regrets} (mean over {targets} target columns)",
                         "zh": "；{regrets}（{targets} 个目标列的平均）"},
    "map.regret_explain": {
        "en": "ρ: Spearman rank correlation of the proxy with the measured gain over all helper → target pairs. "
              "regret@k: for a target, the mean gain of its k best measured helpers minus the mean gain of the k "
              "helpers the proxy ranks first, in percentage points (0 = the proxy picks as well as the truth; k is "
              "clamped to the helpers there are).",
        "zh": "ρ：代理指标与实测增益在所有“辅助 → 目标”任务对上的 Spearman 秩相关。regret@k：对某个目标任务，"
              "实测最好的 k 个辅助任务的平均增益减去代理指标排在前 k 位的辅助任务的平均增益，单位为百分点"
              "（0 = 代理指标选得和真实结果一样好；k 超过辅助任务数时取辅助任务数）。"},
    "map.per_target": {"en": "Per target column", "zh": "按目标列"},
    "map.mode": {"en": "What do you want to know?", "zh": "你想了解什么？"},
    "map.mode.map": {"en": "Map all pairs of tasks", "zh": "绘制所有任务对的相关性图"},
    "map.mode.recommend": {"en": "Recommend helpers for a target", "zh": "为目标任务推荐辅助任务"},
    "rec.title": {"en": "Which tasks should I train with mine?", "zh": "我的任务应该和哪些任务一起训练？"},
    "rec.intro": {
        "en": "Stage 1 trains your target with every candidate in one run and ranks the candidates by each cheap "
              "proxy (lookahead affinity toward the target, gradient cosine with it). Stage 2 trains the top k as "
              "real pairs against the target's single-task run, with seeds, and scores each proxy against those "
              "measured gains.",
        "zh": "第 1 阶段在一次运行中把目标任务与所有候选任务一起训练，并按每个廉价代理指标（对目标的前瞻亲和度、"
              "与目标的梯度余弦）为候选任务排序。第 2 阶段把排名前 k 的候选任务与目标任务成对真实训练，"
              "与目标任务的单任务运行比较（多个随机种子），并用这些实测增益为每个代理指标打分。"},
    "rec.target": {"en": "Target task", "zh": "目标任务"},
    "rec.candidates": {"en": "Candidate helpers (2–{most})", "zh": "候选辅助任务（2–{most} 个）"},
    "rec.hidden": {"en": "Encoder width", "zh": "编码器宽度"},
    "rec.pick": {"en": "Choose a target and 2 to {most} candidates.", "zh": "请选择一个目标任务和 2 到 {most} 个候选任务。"},
    "rec.stage1_estimate": {"en": "Stage 1: {runs} run(s), estimated {duration} on this machine.",
                            "zh": "第 1 阶段：{runs} 个运行，本机预计 {duration}。"},
    "rec.cka": {"en": "Also train each task alone, for CKA between single-task encoders (one more run per task)",
                "zh": "同时单独训练每个任务，以计算单任务编码器之间的 CKA（每个任务多一个运行）"},
    "rec.stage1": {"en": "Stage 1: rank the candidates", "zh": "第 1 阶段：为候选任务排序"},
    "rec.pick_stored": {"en": "Recommendation", "zh": "推荐"},
    "rec.stage1_running": {"en": "Stage 1: {done}/{total} runs finished", "zh": "第 1 阶段：已完成 {done}/{total} 个运行"},
    "rec.rankings": {"en": "Stage 1: candidates ranked by each proxy toward {target}",
                     "zh": "第 1 阶段：按各代理指标对 {target} 的候选任务排序"},
    "rec.no_ranking": {"en": "Rankings appear when stage 1 has finished.", "zh": "第 1 阶段完成后显示排序。"},
    "rec.place": {"en": "place", "zh": "名次"},
    "rec.k": {"en": "Stage 2 trains the top k", "zh": "第 2 阶段训练前 k 个"},
    "rec.k_all": {"en": "all candidates", "zh": "全部候选任务"},
    "rec.seeds_input": {"en": "Stage 2 seeds (comma-separated)", "zh": "第 2 阶段的随机种子（逗号分隔）"},
    "rec.rank_by": {"en": "Top k by", "zh": "按此指标取前 k 个"},
    "rec.stage2": {"en": "Stage 2: measure the top k", "zh": "第 2 阶段：实测前 k 个"},
    "rec.stage2_running": {"en": "Stage 2: {done}/{total} runs finished", "zh": "第 2 阶段：已完成 {done}/{total} 个运行"},
    "rec.measured": {"en": "Stage 2: measured gain to {target}, % (seeds {seeds}; positive = the pair helped)",
                     "zh": "第 2 阶段：对 {target} 的实测增益，%（随机种子 {seeds}；正值 = 成对训练有帮助）"},
    "rec.candidate": {"en": "candidate", "zh": "候选任务"},
    "rec.gain": {"en": "gain, %", "zh": "增益，%"},
    "rec.gain_std": {"en": "seed std", "zh": "种子标准差"},
    "rec.seeds": {"en": "seeds", "zh": "种子数"},
    "rec.scores": {"en": "How well each proxy predicted the measured gains", "zh": "各代理指标对实测增益的预测效果"},
    "rec.proxy": {"en": "proxy", "zh": "代理指标"},
    "rec.measured_candidates": {"en": "measured candidates", "zh": "已实测的候选任务"},
    "rec.recommendation_line": {"en": "Recommendation: {text}", "zh": "推荐：{text}"},
    "rec.cli": {"en": "Reproduce this recommendation from the command line:", "zh": "在命令行中复现此推荐："},
    "map.scatter_proxy": {"en": "Proxy to plot against the gain", "zh": "与增益对照的代理指标"},
    "map.scatter_title": {"en": "{proxy} against the measured transfer gain",
                          "zh": "{proxy}与实测迁移增益的对照"},
    "map.scatter_x": {"en": "{proxy}, %", "zh": "{proxy}，%"},
    "map.scatter_y": {"en": "transfer gain to the target, %", "zh": "对目标任务的迁移增益，%"},
    "map.dendrogram_title": {"en": "Tasks clustered by lookahead affinity", "zh": "按前瞻亲和度聚类的任务"},
    "map.dendrogram_axis": {"en": "merge distance (lower = more affine)", "zh": "合并距离（越低越亲和）"},
    "map.groups": {"en": "Best split into at most {b} groups", "zh": "最多 {b} 组时的最佳分组"},
    "map.group": {"en": "Group {n}: {tasks}", "zh": "第 {n} 组：{tasks}"},
    "map.test_grouping": {"en": "Test this grouping", "zh": "检验这个分组"},
    "map.grouping_running": {"en": "Training the grouping check: {done}/{total} runs finished",
                             "zh": "正在训练分组检验：已完成 {done}/{total} 个运行"},
    "map.grouping_result": {"en": "Grouping check", "zh": "分组检验结果"},
    "map.check.task": {"en": "task", "zh": "任务"},
    "map.check.metric": {"en": "test metric", "zh": "测试指标"},
    "map.arm.suggested": {"en": "suggested groups", "zh": "建议分组"},
    "map.arm.together": {"en": "all together", "zh": "全部一起"},
    "map.arm.separate": {"en": "all separate", "zh": "全部分开"},
    "map.check.arm_line": {"en": "{arm} ({groups}): mean Δ {delta}% against all separate",
                           "zh": "{arm}（{groups}）：相对“全部分开”的平均 Δ 为 {delta}%"},
    "map.check.best": {"en": "Best arm on these runs: **{arm}**.", "zh": "这些运行中表现最好的方案：**{arm}**。"},
    "map.check.convention": {
        "en": "Δ % = each task's test metric against its single-task run, seeds paired; positive = better than "
              "training it alone.",
        "zh": "Δ % = 每个任务的测试指标相对其单任务运行的变化（种子配对）；正值 = 比单独训练更好。"},
    "map.downloads": {"en": "Download the matrices", "zh": "下载矩阵"},
    "map.cli": {"en": "Reproduce this map from the command line:", "zh": "在命令行中复现此相关性图："},
    "map.notes": {"en": "Notes", "zh": "说明"},
    "map.not_ready": {"en": "Matrices appear as runs complete.", "zh": "运行完成后矩阵会陆续出现。"},
    "map.relmap_missing": {"en": "The relatedness-map engine (mtl_core.relmap) is not available in this installation.",
                           "zh": "当前安装中没有相关性图引擎（mtl_core.relmap）。"},
    # ---- shared by Runs, Compare and New experiment ---------------------------------------------
    "page.experiment": {"en": "Experiment", "zh": "实验"},
    "page.unknown_exp": {"en": "No experiment '{id}' in this store; showing the newest.",
                         "zh": "此存储中没有实验“{id}”，显示最新的实验。"},
    "page.go_new": {"en": "Go to New experiment", "zh": "前往“新实验”"},
    "text.conflict": {
        "en": "Gradient cosine cos(g_i, g_j) between two tasks' gradients on the shared parameters: above 0 the "
              "tasks push the shared weights the same way, below 0 they conflict (PCGrad's definition). "
              "The noise floor is the cosine between two mini-batches of the *same* task: cross-task values "
              "within that floor cannot be told apart from SGD noise.",
        "zh": "梯度余弦相似度 cos(g_i, g_j)：两个任务在共享参数上的梯度之间的余弦。大于 0 表示两个任务把共享权重往同一方向推，"
              "小于 0 表示梯度冲突（PCGrad 的定义）。噪声基线是*同一*任务两个小批量梯度之间的余弦："
              "落在该基线范围内的跨任务数值无法与 SGD 噪声区分。"},
    "text.delta": {
        "en": "Δ_t = s_t (M_t^MTL − M_t^STL) / |M_t^STL| × 100 %, s_t = +1 when higher is better, −1 otherwise. "
              "**Positive = multi-task better.** Δm is the mean of Δ_t over tasks; a task with a negative Δ_t "
              "(negative transfer) is flagged even when Δm is positive.",
        "zh": "Δ_t = s_t (M_t^MTL − M_t^STL) / |M_t^STL| × 100 %，指标越高越好时 s_t = +1，否则为 −1。"
              "**正值 = 多任务更好。** Δm 是 Δ_t 在各任务上的平均；Δ_t 为负（负迁移）的任务即使在 Δm 为正时也会被标出。"},
    # ---- Runs ----------------------------------------------------------------------------------
    "runs.title": {"en": "Runs", "zh": "运行"},
    "runs.none": {"en": "No runs yet: start one on **New experiment**.", "zh": "还没有运行：请在 **新实验** 页面启动一个。"},
    "runs.caption": {"en": "Sharing: **{sharing}** · tasks: {tasks} · {length} · seeds {seeds} · store: `{store}`",
                     "zh": "共享方式：**{sharing}** · 任务：{tasks} · {length} · 种子 {seeds} · 存储：`{store}`"},
    "runs.steps_per_task": {"en": "{steps} steps per task", "zh": "每个任务 {steps} 步"},
    "runs.epochs": {"en": "{epochs} epochs", "zh": "{epochs} 个 epoch"},
    "runs.cancelled": {"en": "Cancel: {outcome}", "zh": "取消：{outcome}"},
    "runs.nothing_to_cancel": {"en": "nothing to cancel", "zh": "没有可取消的运行"},
    "runs.resumed": {"en": "Resumed {n} run(s)", "zh": "已恢复 {n} 个运行"},
    "runs.nothing_to_resume": {"en": "Nothing to resume", "zh": "没有可恢复的运行"},
    "runs.run_label": {"en": "{kind} · {tasks} · seed {seed}", "zh": "{kind} · {tasks} · 种子 {seed}"},
    "runs.cancel_all": {"en": "Cancel all", "zh": "全部取消"},
    "runs.cancel_all_help": {"en": "Queued runs never start; running ones stop at the next step.",
                             "zh": "排队中的运行不会启动；正在运行的会在下一步停止。"},
    "runs.resume_all": {"en": "Resume all", "zh": "全部恢复"},
    "runs.resume_all_help": {"en": "Interrupted or cancelled runs continue from their checkpoint.",
                             "zh": "已中断或已取消的运行会从检查点继续。"},
    "runs.on_device": {"en": " on {device}", "zh": "，设备 {device}"},
    "runs.step": {"en": "step {step} / {total}", "zh": "第 {step} / {total} 步"},
    "runs.eta": {"en": " · ETA {duration}", "zh": " · 预计剩余 {duration}"},
    "runs.eta_later": {"en": " · ETA after the first steps", "zh": " · 前几步之后给出预计剩余时间"},
    "runs.waiting": {"en": " · waiting for a free worker", "zh": " · 等待空闲的工作进程"},
    "runs.cancel": {"en": "Cancel", "zh": "取消"},
    "runs.resume": {"en": "Resume", "zh": "恢复"},
    "runs.logs": {"en": "Logs: {id}", "zh": "日志：{id}"},
    "runs.curves": {"en": "Per-task curves", "zh": "各任务曲线"},
    "runs.no_metrics": {"en": "No metrics yet: curves appear after the first training steps.",
                        "zh": "还没有指标：最初几步训练之后会出现曲线。"},
    "runs.conflict": {"en": "Gradient conflict between tasks", "zh": "任务间的梯度冲突"},
    "runs.one_task": {"en": "One task only: gradient conflict needs two or more tasks.",
                      "zh": "只有一个任务：梯度冲突需要两个或更多任务。"},
    "runs.no_conflict": {
        "en": "Gradient conflict was not measured (k = 0). Set *Measure gradient conflict every k steps* on "
              "New experiment (CLI: `--conflict-every 10`).",
        "zh": "没有测量梯度冲突（k = 0）。请在“新实验”页面设置 *每 k 步测量一次梯度冲突*（CLI：`--conflict-every 10`）。"},
    "runs.conflict_first": {"en": "No measurements yet: the first comes at step {step}.",
                            "zh": "还没有测量值：第一次测量在第 {step} 步。"},
    "runs.span": {"en": "Smoothing (EMA span, in measurements)", "zh": "平滑（EMA 跨度，以测量次数计）"},
    "runs.no_noise_floor": {
        "en": "Noise floor not recorded for this experiment: tick *Also measure the noise floor* on New "
              "experiment (CLI: `--noise-floor`) to see how much cosine SGD noise alone gives.",
        "zh": "此实验没有记录噪声基线：在“新实验”页面勾选 *同时测量噪声基线*（CLI：`--noise-floor`），"
              "即可看到仅 SGD 噪声会带来多大的余弦。"},
    "runs.matrix_cos": {"en": "Mean gradient cosine (diagonal: noise floor)", "zh": "平均梯度余弦（对角线：噪声基线）"},
    "runs.matrix_cos_bar": {"en": "mean cos", "zh": "平均余弦"},
    "runs.matrix_rate": {"en": "Conflict rate: share of steps with cos < 0", "zh": "冲突率：cos < 0 的步数占比"},
    "runs.matrix_rate_bar": {"en": "rate", "zh": "比率"},
    "runs.pair": {"en": "Task pair for the per-layer and histogram views", "zh": "逐层视图和直方图所用的任务对"},
    "runs.all_experiments": {"en": "All experiments ({n}), newest first", "zh": "全部实验（{n} 个），最新的在前"},
    "runs.col.experiment": {"en": "experiment", "zh": "实验"},
    "runs.col.name": {"en": "name", "zh": "名称"},
    "runs.col.tasks": {"en": "tasks", "zh": "任务"},
    "runs.col.sharing": {"en": "sharing", "zh": "共享方式"},
    "runs.col.created": {"en": "created", "zh": "创建时间"},
    "runs.col.runs": {"en": "runs", "zh": "运行数"},
    "runs.col.completed": {"en": "completed", "zh": "已完成"},
    "runs.col.running": {"en": "running", "zh": "运行中"},
    "runs.col.queued": {"en": "queued", "zh": "排队中"},
    "runs.col.stopped": {"en": "stopped", "zh": "已停止"},
    "runs.col.done": {"en": "runs completed", "zh": "已完成的运行"},
    "runs.col.created_utc": {"en": "created (UTC)", "zh": "创建时间（UTC）"},
    "runs.soft": {"en": "Soft sharing: ‖θ_t − θ_s‖ over training", "zh": "软共享：训练过程中的 ‖θ_t − θ_s‖"},
    "runs.disk_usage": {
        "en": "The store takes {total} on disk (database {database}, checkpoints {checkpoints}); "
              "`python -m mtl_core gc` frees the checkpoints of finished runs.",
        "zh": "运行存储占用磁盘 {total}（数据库 {database}，检查点 {checkpoints}）；"
              "`python -m mtl_core gc` 可释放已结束运行的检查点。"},
    "compare.export_mlflow": {"en": "Export to MLflow", "zh": "导出到 MLflow"},
    "compare.export_tensorboard": {"en": "Export to TensorBoard", "zh": "导出到 TensorBoard"},
    "compare.exporting": {"en": "Exporting every run…", "zh": "正在导出所有运行…"},
    "compare.exported_mlflow": {
        "en": "Logged {exported} run(s) to MLflow ({skipped} unchanged since the last export). Open it with:",
        "zh": "已将 {exported} 个运行记录到 MLflow（{skipped} 个自上次导出后未变）。用以下命令打开："},
    "compare.exported_tensorboard": {"en": "Wrote event files for {runs} run(s). Open them with:",
                                     "zh": "已为 {runs} 个运行写入事件文件。用以下命令打开："},
    "runs.mix.mmoe": {"en": "MMoE: each task's gate over the experts", "zh": "MMoE：每个任务对各专家的门控权重"},
    "runs.mix.mmoe_caption": {
        "en": "The mean softmax gate weight of each expert on the task's latest training batch; tasks whose gates "
              "pick different experts have stopped sharing them.",
        "zh": "每个专家在该任务最近一个训练批次上的平均 softmax 门控权重；门控选择不同专家的任务已不再共享这些专家。"},
    "runs.mix.mmoe_axis": {"en": "gate weight (0 to 1)", "zh": "门控权重（0 到 1）"},
    "runs.mix.cross_stitch": {"en": "Cross-stitch: how much each task reads from each encoder",
                              "zh": "十字绣单元：每个任务从各编码器读取的比例"},
    "runs.mix.cross_stitch_caption": {
        "en": "α^l[task, source] after layer l (started at 0.9 for the task's own encoder): a weight that falls "
              "towards 0 means the task stopped reading that encoder.",
        "zh": "第 l 层之后的 α^l[任务, 来源]（自身编码器初始为 0.9）：权重降向 0 表示该任务不再读取那个编码器。"},
    "runs.mix.cross_stitch_axis": {"en": "stitch weight α", "zh": "十字绣权重 α"},
    "runs.soft_caption": {
        "en": "θ_s is the mean of the task encoders. λ_soft pulls each encoder towards it: a small distance "
              "means the tasks effectively share one encoder.",
        "zh": "θ_s 是各任务编码器的平均。λ_soft 把每个编码器拉向它：距离小说明这些任务实际上共用同一个编码器。"},
    "runs.weights": {"en": "Loss weights over training", "zh": "训练过程中的损失权重"},
    "runs.weights_caption": {
        "en": "The effective weight of each task's loss at every logged step, as set by the weighting method: {methods}.",
        "zh": "每个记录步上各任务损失的实际权重，由加权方法设定：{methods}。"},
    "runs.weights_title": {"en": "Effective task weights over training", "zh": "训练过程中各任务的实际权重"},
    "runs.weights_axis": {"en": "weight of the task's loss", "zh": "任务损失的权重"},
    "runs.weights_none": {"en": "No weights recorded yet: they appear at the first logged training step.",
                          "zh": "尚未记录权重：它们会在第一个记录的训练步出现。"},
    "runs.first_point": {"en": "Waiting for the first recorded point: the charts appear with it.",
                         "zh": "正在等待第一个记录点：图表会随之出现。"},
    "runs.polling": {"en": "Updating every {seconds} s while runs are queued or running.",
                     "zh": "有运行在排队或进行中时，每 {seconds} 秒刷新一次。"},
    # ---- Compare -------------------------------------------------------------------------------
    "compare.title": {"en": "Compare", "zh": "比较"},
    "compare.none": {
        "en": "Nothing to compare yet: start an experiment on **New experiment** (keep *single-task baselines* on).",
        "zh": "还没有可比较的内容：请在 **新实验** 页面启动一个实验（保持开启 *单任务基线*）。"},
    "compare.mtl_vs_stl": {"en": "Multi-task vs single-task", "zh": "多任务与单任务对比"},
    "compare.no_baselines": {
        "en": "This experiment has no single-task baselines to compare with. Launch it again with *Also train "
              "single-task baselines* on (CLI: `--baselines`).",
        "zh": "此实验没有可供比较的单任务基线。请开启 *同时训练单任务基线* 后重新启动（CLI：`--baselines`）。"},
    "compare.waiting": {
        "en": "Waiting for {n} run(s) to complete: the comparison appears when a multi-task run "
              "and its baselines have finished. Follow them on **Runs**.",
        "zh": "正在等待 {n} 个运行完成：多任务运行及其基线都结束后会显示比较结果。可在 **运行** 页面跟踪进度。"},
    "compare.no_pairs": {"en": "No completed multi-task / single-task pairs in this experiment.",
                         "zh": "此实验中没有已完成的多任务 / 单任务配对。"},
    "compare.delta_m": {"en": "Δm (mean Δ_t over tasks)", "zh": "Δm（各任务 Δ_t 的平均）"},
    "compare.seeds": {"en": "Seeds compared (paired)", "zh": "比较的种子数（配对）"},
    "compare.negative": {"en": "Negative transfer on {tasks}", "zh": "出现负迁移的任务：{tasks}"},
    "compare.negative_hidden": {"en": ": multi-task hurt this task even though Δm is positive.",
                                "zh": "：尽管 Δm 为正，多任务学习仍损害了该任务。"},
    "compare.negative_plain": {"en": ": multi-task did worse than single-task here.",
                               "zh": "：这里多任务不如单任务。"},
    "compare.few_seeds": {
        "en": "{seeds} seed(s): differences this small can be seed noise. Use {min} or more seeds "
              "before drawing conclusions.",
        "zh": "只有 {seeds} 个种子：这么小的差异可能只是种子噪声。请至少使用 {min} 个种子再下结论。"},
    "compare.curves": {"en": "Curves across runs", "zh": "跨运行的曲线"},
    "compare.run_label": {"en": "{experiment} · {kind} {tasks} seed {seed} ({status})",
                          "zh": "{experiment} · {kind} {tasks} 种子 {seed}（{status}）"},
    "compare.overlay": {"en": "Runs to overlay (any experiment)", "zh": "要叠加的运行（可来自任意实验）"},
    "compare.metric": {"en": "Metric", "zh": "指标"},
    "compare.split": {"en": "Split", "zh": "数据划分"},
    "compare.split.validation": {"en": "validation", "zh": "验证集"},
    "compare.split.train": {"en": "train", "zh": "训练集"},
    "compare.pick_runs": {"en": "Pick one or more runs to overlay their curves.", "zh": "选择一个或多个运行来叠加它们的曲线。"},
    "compare.numbers": {"en": "Every number", "zh": "全部数值"},
    "compare.per_task": {"en": "**Per task** (test set; Δ in %, positive = multi-task better)",
                         "zh": "**按任务**（测试集；Δ 以 % 计，正值 = 多任务更好）"},
    "compare.per_run": {"en": "**Per run** (every test metric)", "zh": "**按运行**（全部测试指标）"},
    "compare.download_tasks": {"en": "Per-task table (CSV)", "zh": "按任务的表格（CSV）"},
    "compare.download_runs": {"en": "Per-run test metrics (CSV)", "zh": "按运行的测试指标（CSV）"},
    "compare.download_summary": {"en": "Summary (JSON)", "zh": "摘要（JSON）"},
    "compare.reproduce": {"en": "Reproduce it", "zh": "复现"},
    "compare.cli": {"en": "The same experiment from the command line (it trains in the foreground and prints this summary):",
                    "zh": "在命令行中运行同一个实验（在前台训练并打印这份摘要）："},
    "compare.spec": {"en": "The experiment's full spec (JSON; `python -m mtl_core run --spec FILE`)",
                     "zh": "实验的完整配置（JSON；`python -m mtl_core run --spec FILE`）"},
    "compare.col.task": {"en": "task", "zh": "任务"},
    "compare.col.metric": {"en": "metric", "zh": "指标"},
    "compare.col.higher_is_better": {"en": "higher_is_better", "zh": "越高越好"},
    "compare.col.mtl": {"en": "mtl", "zh": "多任务"},
    "compare.col.stl": {"en": "stl", "zh": "单任务"},
    "compare.col.delta_pct": {"en": "delta_pct", "zh": "Δ（%）"},
    "compare.col.n_seeds": {"en": "n_seeds", "zh": "种子数"},
    "compare.col.mtl_std": {"en": "mtl_std", "zh": "多任务标准差"},
    "compare.col.stl_std": {"en": "stl_std", "zh": "单任务标准差"},
    "compare.col.delta_std": {"en": "delta_std", "zh": "Δ 标准差"},
    "compare.col.run": {"en": "run", "zh": "运行"},
    "compare.col.kind": {"en": "kind", "zh": "类型"},
    "compare.col.tasks": {"en": "tasks", "zh": "任务组合"},
    "compare.col.seed": {"en": "seed", "zh": "种子"},
    "compare.col.status": {"en": "status", "zh": "状态"},
    "compare.col.test value": {"en": "test value", "zh": "测试值"},
    "compare.col.note": {"en": "note", "zh": "说明"},
    "compare.configurations": {"en": "Every multi-task configuration", "zh": "全部多任务配置"},
    "compare.configurations_help": {
        "en": "This experiment trained {n} multi-task configurations (task subsets, λ, sharing). Each is compared "
              "with its own single-task baselines: same task, seed and training settings. Pick one below for its "
              "charts.",
        "zh": "本实验训练了 {n} 种多任务配置（任务子集、λ、共享方式）。每种配置都与它自己的单任务基线比较："
              "相同的任务、种子与训练设置。在下方选择一种查看其图表。"},
    "compare.configuration": {"en": "Configuration", "zh": "配置"},
    "compare.front": {"en": "Static λ against adaptive weighting methods", "zh": "固定 λ 与自适应加权方法"},
    "compare.front_help": {
        "en": "One point per multi-task configuration: Δ of {x} across, Δ of {y} up, in % against its single-task "
              "baselines (positive = the shared model is better; upper-right is better; separate models sit at 0). "
              "The static-λ configurations form the front (the line); each adaptive method is a labelled point with "
              "its step cost next to a static-λ step.",
        "zh": "每个点是一种多任务配置：横轴为 {x} 的 Δ，纵轴为 {y} 的 Δ，单位 %，相对其单任务基线（正值 = 共享模型更好；"
              "越靠右上越好；独立模型位于 0）。固定 λ 的配置构成前沿（连线）；每种自适应方法是一个带标签的点，并标出其每步"
              "耗时相对固定 λ 的倍数。"},
    "compare.front_title": {"en": "Δ per task: static λ front vs adaptive methods (upper-right is better)",
                            "zh": "各任务的 Δ：固定 λ 前沿与自适应方法（越靠右上越好）"},
    "compare.front_axis": {"en": "Δ {task} (%), higher is better", "zh": "{task} 的 Δ（%），越高越好"},
    "compare.front_x": {"en": "Task across", "zh": "横轴任务"},
    "compare.front_y": {"en": "Task up", "zh": "纵轴任务"},
    "compare.front_waiting": {"en": "The front appears once configurations have results for both tasks.",
                              "zh": "当各配置在两个任务上都有结果后，这里会显示前沿。"},
    "compare.front_where": {"en": "Where each method landed", "zh": "每种方法落在哪里"},
    "compare.front_col.method": {"en": "method", "zh": "方法"},
    "compare.front_col.x": {"en": "Δ {task} (%)", "zh": "{task} 的 Δ（%）"},
    "compare.front_col.cost": {"en": "step cost", "zh": "每步耗时"},
    "compare.front_col.where": {"en": "against the static front", "zh": "相对固定 λ 前沿"},
    "compare.where.dominated": {"en": "dominated by {by}", "zh": "被 {by} 支配"},
    "compare.where.on": {"en": "on the front", "zh": "在前沿上"},
    "compare.where.beyond": {"en": "beyond the front (beats {beats})", "zh": "超出前沿（胜过 {beats}）"},
    "compare.where.none": {"en": "no static λ to compare with", "zh": "没有可比较的固定 λ"},
    "compare.download_configurations": {"en": "Every configuration (CSV)", "zh": "全部配置（CSV）"},
    "compare.still_improving": {
        "en": "Still improving at the end of training: {tasks}. Δ reflects learning speed, not transfer; "
              "train for at least {steps} steps before reading it as transfer.",
        "zh": "训练结束时仍在提升：{tasks}。此时的 Δ 反映的是学习速度而不是迁移；请至少训练 {steps} 步后再把它解读为迁移。"},
    "compare.hierarchical_baseline": {
        "en": "Hierarchical sharing: each task's single-task baseline reads the same encoder layer as its head in "
              "the multi-task run (a token task on layer 1 is compared with a one-layer tagger).",
        "zh": "分层共享：每个任务的单任务基线读取与其在多任务运行中的输出头相同的编码器层"
              "（位于第 1 层的词元任务与一个单层标注器比较）。"},
    # ---- New experiment ------------------------------------------------------------------------
    "new.title": {"en": "New experiment", "zh": "新实验"},
    "new.intro": {"en": "Pick tasks, choose how they share a model, and launch. Every setting is in the page's URL: "
                        "copy the address to share this exact setup.",
                  "zh": "选择任务，决定它们如何共享模型，然后启动。所有设置都在页面网址中：复制地址即可分享完全相同的设置。"},
    "new.url_notes": {"en": "Some values in the link could not be used and fell back to defaults:",
                      "zh": "链接中的部分数值无法使用，已恢复为默认值："},
    "new.presets": {"en": "**Presets**", "zh": "**预设**"},
    "new.preset.ATIS intent + slots": {"en": "ATIS intent + slots", "zh": "ATIS 意图 + 槽位"},
    "new.preset.Synthetic, related (p=0.9)": {"en": "Synthetic, related (p=0.9)", "zh": "合成任务，相关（p=0.9）"},
    "new.preset.Synthetic, unrelated (p=0)": {"en": "Synthetic, unrelated (p=0)", "zh": "合成任务，不相关（p=0）"},
    "new.preset.Translation: related targets (digits → fr + fr_be)": {
        "en": "Translation: related targets (digits → fr + fr_be)", "zh": "翻译：相近目标（数字 → 法语 + 比利时法语）"},
    "new.preset.Translation: distant targets (digits → fr + ja)": {
        "en": "Translation: distant targets (digits → fr + ja)", "zh": "翻译：遥远目标（数字 → 法语 + 日语）"},
    "new.choose_tasks": {"en": "Choose at least one task (two or more to learn them together), or start from a preset.",
                         "zh": "请至少选择一个任务（选两个或更多才能一起学习），或从预设开始。"},
    "new.tasks_header": {"en": "1 · Tasks", "zh": "1 · 任务"},
    "new.tasks": {"en": "Tasks to learn together", "zh": "一起学习的任务"},
    "new.tasks_placeholder": {"en": "Choose two or more tasks (one task = a single-task run)",
                              "zh": "选择两个或更多任务（一个任务 = 单任务运行）"},
    "new.tasks_help": {"en": "Tasks that share inputs or labels tend to help each other; the cards say which the "
                             "catalog expects to be related.",
                       "zh": "共享输入或标签的任务往往能互相帮助；任务卡片会说明目录认为哪些任务相关。"},
    "new.higher_better": {"en": "↑ higher is better", "zh": "↑ 越高越好"},
    "new.lower_better": {"en": "↓ lower is better", "zh": "↓ 越低越好"},
    "new.card": {"en": "- kind: {kind}\n- metric: {metric} ({arrow})\n- examples: {sizes}\n"
                       "- source: {source} · licence: {licence}",
                 "zh": "- 类型：{kind}\n- 指标：{metric}（{arrow}）\n- 样本数：{sizes}\n"
                       "- 来源：{source} · 许可证：{licence}"},
    "new.related": {"en": "expected related: {tasks}", "zh": "预期相关：{tasks}"},
    "new.unrelated": {"en": "expected unrelated (controls): {tasks}", "zh": "预期不相关（对照）：{tasks}"},
    "new.kind.sentence_classification": {"en": "sentence classification", "zh": "句子分类"},
    "new.kind.document_classification": {"en": "document classification", "zh": "文档分类"},
    "new.kind.token_tagging": {"en": "token tagging (one label per word)", "zh": "词元标注（每个词一个标签）"},
    "new.kind.sentence_regression": {"en": "sentence regression", "zh": "句子回归"},
    "new.kind.vector_regression": {"en": "vector regression (synthetic)", "zh": "向量回归（合成）"},
    "new.unavailable": {"en": "Unavailable tasks ({n}): why, and how to fix", "zh": "不可用的任务（{n} 个）：原因及解决方法"},
    "new.upload": {"en": "Upload your own task (CSV or JSONL)", "zh": "上传自己的任务（CSV 或 JSONL）"},
    "new.upload_help": {
        "en": "Columns: `text` + `label` (sentence classification), `text` + `score` (sentence regression), "
              "`tokens` + `tags` (token tagging; space-separated in CSV). At most 20 MB; the file is checked "
              "completely before it is added.",
        "zh": "列：`text` + `label`（句子分类）、`text` + `score`（句子回归）、`tokens` + `tags`"
              "（词元标注；CSV 中以空格分隔）。最大 20 MB；文件在添加前会被完整检查。"},
    "new.upload_file": {"en": "Task file", "zh": "任务文件"},
    "new.upload_name": {"en": "Task name (lowercase letters, digits, _)", "zh": "任务名（小写字母、数字、_）"},
    "new.upload_kind": {"en": "Kind", "zh": "类型"},
    "new.upload_add": {"en": "Add task", "zh": "添加任务"},
    "new.upload_no_file": {"en": "file: choose a CSV or JSONL file first", "zh": "文件：请先选择一个 CSV 或 JSONL 文件"},
    "new.upload_checking": {"en": "Checking {name}…", "zh": "正在检查 {name}…"},
    "new.upload_done": {"en": "Added task `{id}`: it is now in the task picker.", "zh": "已添加任务 `{id}`：现在可以在任务选择器中找到它。"},
    "new.sharing_header": {"en": "2 · How the tasks share a model", "zh": "2 · 任务如何共享模型"},
    "new.sharing": {"en": "Sharing mode", "zh": "共享方式"},
    "new.weights": {"en": "**Loss weights λ_t** (0 switches a task's loss off)", "zh": "**损失权重 λ_t**（0 表示关闭该任务的损失）"},
    "new.soft_lambda": {"en": "λ_soft: strength of the pull towards the mean encoder θ_s",
                        "zh": "λ_soft：把编码器拉向平均编码器 θ_s 的强度"},
    "new.soft_lambda_help": {"en": "0 = independent encoders; large values approach hard sharing.",
                             "zh": "0 = 各自独立的编码器；取值很大时接近硬共享。"},
    "new.weighting": {"en": "Loss-weighting method", "zh": "损失加权方法"},
    "new.weighting_help": {
        "en": "How the task losses are combined at every step. Static λ multiplies each loss by the weight you set; "
              "the other methods choose the weights themselves while training.",
        "zh": "每一步如何组合各任务的损失。固定 λ 用你设定的权重乘以每个损失；其他方法在训练中自己决定权重。"},
    "new.weighting_option": {"en": "{method}: {option}", "zh": "{method}：{option}"},
    "new.weighting_reference": {"en": "Reference: {reference}", "zh": "参考文献：{reference}"},
    "new.weighting_cost": {"en": "Cost: {ratio:.1f}× a static-λ step on the medium trunk",
                           "zh": "耗时：中等主干上每步为固定 λ 的 {ratio:.1f} 倍"},
    "new.weighting_cost_unmeasured": {"en": "Cost: not measured yet (benchmarks/weighting_cost.py measures it)",
                                      "zh": "耗时：尚未测量（由 benchmarks/weighting_cost.py 测量）"},
    "new.weights_start": {"en": "**Starting weights λ_t**: {method} starts from these and then adjusts them",
                          "zh": "**起始权重 λ_t**：{method} 从这些值出发，然后自行调整"},
    "new.weights_ignored": {"en": "{method} chooses the task weights itself, so there is no λ to set (every λ_t = 1).",
                            "zh": "{method} 自己决定各任务的权重，因此无需设置 λ（所有 λ_t = 1）。"},
    "new.family.static": {"en": "static", "zh": "固定"},
    "new.family.loss-based": {"en": "loss-based", "zh": "基于损失"},
    "new.family.gradient-based": {"en": "gradient-based", "zh": "基于梯度"},
    "weighting.explain.static": {"en": "Each task's loss is multiplied by the λ you choose; tuned well, this often "
                                       "matches adaptive methods.",
                                 "zh": "每个任务的损失乘以你选的 λ；调得好时，它常常不输自适应方法。"},
    "weighting.explain.dwa": {"en": "Gives more weight to the tasks whose loss has been falling slowest lately.",
                              "zh": "给近期损失下降最慢的任务更大的权重。"},
    "weighting.explain.famo": {"en": "Raises the weight of tasks whose log-loss is falling slowest, at the cost of a "
                                     "plain step.",
                               "zh": "提高对数损失下降最慢的任务的权重，每步耗时与普通一步相当。"},
    "weighting.explain.rlw": {"en": "Draws random weights each step; if a clever method cannot beat this, it is not "
                                    "doing much.",
                              "zh": "每一步随机抽取权重；如果巧妙的方法连它都胜不过，那它其实没起多大作用。"},
    "weighting.explain.uw": {"en": "Learns a noise level per task and divides its loss by it: noisy or large losses "
                                   "count less.",
                             "zh": "为每个任务学习一个噪声水平并用它去除损失：噪声大或数值大的损失占比更小。"},
    "weighting.explain.aligned_mtl": {"en": "Rescales the task gradients so that none dominates and they are as well "
                                            "conditioned as possible.",
                                      "zh": "重新缩放各任务梯度，使没有哪个占主导，并让它们的条件数尽可能好。"},
    "weighting.explain.cagrad": {"en": "Stays close to the average gradient but bends it to help the task that would "
                                       "gain least.",
                                 "zh": "保持接近平均梯度，但把它弯向收益最小的任务。"},
    "weighting.explain.gradnorm": {"en": "Tunes the weights so that tasks training slower get larger gradients on the "
                                         "last shared layer.",
                                   "zh": "调整权重，使训练较慢的任务在最后一个共享层上得到更大的梯度。"},
    "weighting.explain.imtl_g": {"en": "Chooses the update that makes equal progress along every task's gradient "
                                       "direction.",
                                 "zh": "选择在每个任务的梯度方向上取得同等进展的更新。"},
    "weighting.explain.mgda": {"en": "Steps along the smallest combination of the task gradients, a direction no task "
                                     "objects to.",
                               "zh": "沿各任务梯度的最小组合前进，这是没有任务反对的方向。"},
    "weighting.explain.nash_mtl": {"en": "Treats the tasks as players bargaining over the update; each gets a fair "
                                         "share of progress.",
                                   "zh": "把各任务看作就更新讨价还价的参与者；每个任务都获得公平的一份进展。"},
    "weighting.explain.pcgrad": {"en": "Where two task gradients point against each other, removes the conflicting "
                                       "part before summing.",
                                 "zh": "当两个任务的梯度方向相反时，先去掉冲突的分量再求和。"},
    "weighting.explain.upgrad": {"en": "Projects every task's gradient so that it conflicts with none of the others, "
                                       "then averages.",
                                 "zh": "投影每个任务的梯度，使它与其他任务都不冲突，然后取平均。"},
    "new.experts": {"en": "Experts E: the expert encoders the task gates choose from",
                    "zh": "专家数 E：各任务门控从中选择的专家编码器个数"},
    "new.experts_help": {"en": "Each task's loss runs every expert, so a step takes about E times as long.",
                         "zh": "每个任务的损失都要经过所有专家，因此一步大约需要 E 倍的时间。"},
    "new.layers": {"en": "**Layer each task's head reads** (1 = closest to the input, {depth} = top)",
                   "zh": "**每个任务的输出头读取的层**（1 = 最靠近输入，{depth} = 顶层）"},
    "new.layer_for": {"en": "layer for {task}", "zh": "{task} 的层"},
    "new.model_header": {"en": "3 · Model, budget and measurements", "zh": "3 · 模型、训练预算与测量"},
    "new.encoder": {"en": "Encoder", "zh": "编码器"},
    "new.encoder_auto": {"en": "automatic (bilstm for text, mlp for synthetic)", "zh": "自动（文本用 bilstm，合成任务用 mlp）"},
    "new.depth": {"en": "Encoder layers", "zh": "编码器层数"},
    "new.depth_help": {"en": "MiniLM always has 6 layers.", "zh": "MiniLM 固定为 6 层。"},
    "new.hidden": {"en": "Hidden size", "zh": "隐藏层大小"},
    "new.freeze": {"en": "Freeze MiniLM (train the heads only; fast on CPU)", "zh": "冻结 MiniLM（只训练输出头；在 CPU 上很快）"},
    "new.budget": {"en": "Budget", "zh": "训练预算"},
    "new.budget.steps": {"en": "steps per task", "zh": "每个任务的步数"},
    "new.budget.epochs": {"en": "epochs (largest task)", "zh": "epoch 数（以最大任务计）"},
    "new.steps": {"en": "Steps per task", "zh": "每个任务的步数"},
    "new.epochs": {"en": "Epochs over the largest training set", "zh": "在最大训练集上的 epoch 数"},
    "new.seeds": {"en": "Seeds (comma-separated)", "zh": "随机种子（逗号分隔）"},
    "new.seeds_help": {"en": "Use 3 or more seeds before trusting a difference: results are reported as mean ± std.",
                       "zh": "至少用 3 个种子再相信差异：结果以均值 ± 标准差报告。"},
    "new.baselines": {"en": "Also train single-task baselines (needed for Δ on Compare)",
                      "zh": "同时训练单任务基线（“比较”页面计算 Δ 需要）"},
    "new.conflict_every": {"en": "Measure gradient conflict every k steps (0 = never)", "zh": "每 k 步测量一次梯度冲突（0 = 不测量）"},
    "new.noise_floor": {"en": "Also measure the noise floor (same task, two batches)", "zh": "同时测量噪声基线（同一任务的两个批次）"},
    "new.max_train": {"en": "Max training examples per task (0 = all)", "zh": "每个任务的最大训练样本数（0 = 全部）"},
    "new.p": {"en": "Synthetic task correlation p (1 = same task, 0 = unrelated)", "zh": "合成任务相关系数 p（1 = 同一任务，0 = 不相关）"},
    "new.more": {"en": "More settings: learning rate, batch size, name", "zh": "更多设置：学习率、批大小、名称"},
    "new.lr": {"en": "Learning rate (0 = the encoder's default)", "zh": "学习率（0 = 编码器的默认值）"},
    "new.batch": {"en": "Batch size (examples per task per step)", "zh": "批大小（每个任务每步的样本数）"},
    "new.name": {"en": "Experiment name (optional)", "zh": "实验名称（可选）"},
    "new.launch_header": {"en": "4 · Launch", "zh": "4 · 启动"},
    "new.device": {"en": "Device (auto)", "zh": "设备（自动）"},
    "new.estimate": {"en": "Estimated time", "zh": "预计耗时"},
    "new.estimate_caption": {
        "en": "An estimate: {runs} run(s) ({baselines} single-task baselines) on {workers} worker(s), {steps} steps per "
              "task, from CPU timings per encoder plus ~8 s to start each run.",
        "zh": "估算：{runs} 个运行（其中 {baselines} 个单任务基线），{workers} 个工作进程，每个任务 {steps} 步；"
              "依据各编码器的 CPU 计时，另加每个运行约 8 秒的启动时间。"},
    "new.fix_field": {"en": "Fix the marked field to see an estimate.", "zh": "修正标出的字段后即可看到估算。"},
    "new.launch": {"en": "Launch", "zh": "启动"},
    "new.not_launched": {"en": "Not launched: {error}", "zh": "未启动：{error}"},
    # the explanations of dashboard/text.py (English: the text there)
    **{f"text.sharing.{mode}": {"en": _text.SHARING_LABELS[mode], "zh": zh}
       for mode, zh in (("hard", "硬共享"), ("soft", "软共享"), ("hierarchical", "分层共享"),
                        ("mmoe", "MMoE（多门控专家混合）"), ("cross_stitch", "十字绣网络（cross-stitch）"))},
    "text.explain.hard": {"en": _text.SHARING_EXPLANATIONS["hard"], "zh": (
        "**硬共享**：所有任务共用一个编码器 θ_s，每个任务只拥有一个小的输出头 θ_t。每个训练步把加权后的各任务损失相加，"
        "因此所有任务都在推动同一组共享权重。当任务需要相同的特征时，这对较小的任务是白得的提升；"
        "当它们往相反方向拉（梯度余弦为负）时，一个任务可能损害另一个任务。")},
    "text.explain.soft": {"en": _text.SHARING_EXPLANATIONS["soft"], "zh": (
        "**软共享**：每个任务有自己的编码器 θ_t，一个 L2 惩罚项把各编码器拉向它们的平均 θ_s = (1/T) Σ_t θ_t"
        "（这里 θ_s 是各任务编码器的平均，而不是一份单独学习的副本）。λ_soft 决定拉力大小：λ_soft = 0 即各自独立训练，"
        "λ_soft 非常大时接近硬共享。在运行视图中观察 ‖θ_t − θ_s‖：它表示每个任务的编码器偏离了多远。")},
    "text.explain.hierarchical": {"en": _text.SHARING_EXPLANATIONS["hierarchical"], "zh": (
        "**分层共享**：只有一个编码器堆栈，但每个任务的输出头读取你选择的那一层。低层次任务（词性标注、槽位、命名实体）"
        "通常读取较低的层，高层次任务（意图、情感、主题）读取顶层，这样较低的层学习两者都需要的内容"
        "（Søgaard & Goldberg 2016：在最内层加入词性监督，比在最外层更有助于组块分析）。")},
    "text.explain.mmoe": {"en": _text.SHARING_EXPLANATIONS["mmoe"], "zh": (
        "**多门控专家混合（MMoE）**：E 个专家编码器 f_1 … f_E 由所有任务共享，每个任务有自己的小门控 g_t，"
        "它查看输入并决定使用每个专家的比例：h_t = Σ_e g_te(x) f_e(x)，门控权重 g_t(x) = softmax(W_t x) 之和为 1。"
        "相关的任务可以选用同样的专家，不相关的任务选用不同的专家，于是模型自己学会共享多少（Ma et al. 2018）。"
        "在运行视图中观察门控权重：它们显示每个任务使用了哪些专家。")},
    "text.explain.cross_stitch": {"en": _text.SHARING_EXPLANATIONS["cross_stitch"], "zh": (
        "**十字绣网络（cross-stitch）**：每个任务有自己的编码器，每一层之后由一张学习得到的小表 α 混合各任务的输出："
        "任务 t 的下一层读取 h̃_t = Σ_s α_ts h_s。α 的初始值接近单位矩阵（任务自己的输出占 0.9，其余 0.1 分给其他任务），"
        "因此训练会逐层决定每个任务从其他任务借用多少（Misra et al. 2016）。在运行视图中观察 α："
        "某个权重变大，说明另一个任务的那一层变得有用了。")},
    "text.note.mmoe": {"en": _text.FORMULA_NOTES["mmoe"],
                       "zh": "f_e：专家 e（所有任务共享的编码器）；g_t：任务 t 的门控（根据输入对专家做 softmax）；"
                             "θ_t：任务 t 的输出头；λ_t：任务 t 损失的权重。"},
    "text.note.cross_stitch": {"en": _text.FORMULA_NOTES["cross_stitch"],
                               "zh": "θ_{1..T}：各任务的编码器；α^{(l)}：第 l 层之后学习得到的 T×T 混合矩阵（初始时对角线为 0.9，"
                                     "其余为 0.1/(T−1)）；θ_t：任务 t 的输出头。"},
    "text.note.hard": {"en": _text.FORMULA_NOTES["hard"], "zh": "θ_s：共享编码器；θ_t：任务 t 的输出头；λ_t：任务 t 损失的权重。"},
    "text.note.soft": {"en": _text.FORMULA_NOTES["soft"], "zh": "θ_t：任务 t 自己的编码器；θ_s = (1/T) Σ_t θ_t，即各任务编码器的平均。"},
    "text.note.hierarchical": {"en": _text.FORMULA_NOTES["hierarchical"],
                               "zh": "只有一个编码器；任务 t 的输出头读取为它选择的层，因此只有该层及以下的层会收到它的梯度。"},
    # words of the sharing diagram (dashboard/text.sharing_diagram), replaced inside its DOT text
    "diagram.head_task": {"en": "head: task ", "zh": "输出头：任务 "},
    "diagram.head": {"en": "head: ", "zh": "输出头："},
    "diagram.input": {"en": '"input"', "zh": '"输入"'},
    "diagram.shared_encoder": {"en": "shared encoder θ_s", "zh": "共享编码器 θ_s"},
    "diagram.shared_layer": {"en": "shared layer ", "zh": "共享层 "},
    "diagram.encoder_for": {"en": "encoder θ for ", "zh": "编码器 θ："},
    "diagram.mean": {"en": "θ_s = mean of encoders", "zh": "θ_s = 编码器的平均"},
    "diagram.pull": {"en": " L2 pull", "zh": " L2 拉力"},
    "diagram.expert": {"en": "expert ", "zh": "专家 "},
    "diagram.gate_for": {"en": "gate for ", "zh": "门控："},
    "diagram.stitch": {"en": "cross-stitch α after every layer", "zh": "每层之后的十字绣单元 α"},
    # ---- chart titles with values (set by localise_figure in another language) ----------------
    "chart.t.curves": {"en": "{name} per task: multi-task (solid) vs single-task baselines (dashed)",
                       "zh": "各任务的 {name}：多任务（实线）与单任务基线（虚线）"},
    "chart.t.cosine": {"en": "Gradient cosine between tasks (layer: {layer}; smoothed: EMA span {span})",
                       "zh": "任务间的梯度余弦（层：{layer}；平滑：EMA 跨度 {span}）"},
    "chart.t.magnitude": {"en": "Gradient magnitude similarity (layer: {layer}; EMA span {span})",
                          "zh": "梯度幅值相似度（层：{layer}；EMA 跨度 {span}）"},
    "chart.t.layers": {"en": "Gradient cosine per layer: {pair} (red = conflict)",
                       "zh": "逐层梯度余弦：{pair}（红色 = 冲突）"},
    "chart.t.histogram": {"en": "Distribution of gradient cosines: {pair}", "zh": "梯度余弦的分布：{pair}"},
    "chart.t.soft": {"en": "Soft sharing: distance of each task encoder from the mean encoder θ_s",
                     "zh": "软共享：各任务编码器与平均编码器 θ_s 的距离"},
    "chart.t.overlay": {"en": "{name} on the {split} across runs", "zh": "各运行在{split}上的 {name}"},
    "chart.t.delta": {"en": "Δ_t per task and Δm", "zh": "各任务的 Δ_t 与 Δm"},
    "chart.t.bars": {"en": "Test metric per task, mean ± std over seeds (positive = multi-task better than single-task)",
                     "zh": "各任务的测试指标，多个种子的均值 ± 标准差（正值 = 多任务优于单任务）"},
    # ---- chart fragments (localise_figure replaces them in axis titles, legends and annotations) -
    "chart.f.training_batches": {"en": "training batches", "zh": "训练批次"},
    "chart.f.validation_set": {"en": "validation set", "zh": "验证集"},
    "chart.f.up_better": {"en": "↑ better", "zh": "↑ 越高越好"},
    "chart.f.down_better": {"en": "↓ better", "zh": "↓ 越低越好"},
    "chart.f.label_units": {"en": "label units²", "zh": "标签单位²"},
    "chart.f.grad_norm": {"en": "gradient norm", "zh": "梯度范数"},
    "chart.f.equal_norms": {"en": "1 = equal norms", "zh": "1 = 范数相等"},
    "chart.f.shared_layer": {"en": "shared layer (input at bottom)", "zh": "共享层（输入在底部）"},
    "chart.f.cosine_bin": {"en": "cosine bin", "zh": "余弦区间"},
    "chart.f.share": {"en": "share of measurements (%)", "zh": "测量次数占比（%）"},
    "chart.f.delta_axis": {"en": "Δ vs single-task (%): ", "zh": "相对单任务的 Δ（%）："},
    "chart.f.sign": {"en": "positive = multi-task better than single-task", "zh": "正值 = 多任务优于单任务"},
    "chart.f.red_negative": {"en": "red = negative transfer", "zh": "红色 = 负迁移"},
    "chart.f.negative": {"en": "negative transfer", "zh": "负迁移"},
    "chart.f.dm_mean": {"en": "Δm (mean over tasks)", "zh": "Δm（各任务平均）"},
    "chart.f.multi": {"en": "multi-task", "zh": "多任务"},
    "chart.f.single": {"en": "single-task", "zh": "单任务"},
    "chart.f.seed": {"en": " seed ", "zh": " 种子 "},
    "chart.f.no_cosines": {"en": "no gradient cosines recorded yet (measured every k steps)",
                           "zh": "还没有记录梯度余弦（每 k 步测量一次）"},
    "chart.f.no_magnitude": {"en": "no magnitude similarity recorded yet", "zh": "还没有记录幅值相似度"},
    "chart.f.no_layers": {"en": "no per-layer cosines recorded for", "zh": "没有逐层余弦记录："},
    "chart.f.no_soft": {"en": "no ‖θ_t − θ_s‖ recorded (only soft-sharing runs record it)",
                        "zh": "没有记录 ‖θ_t − θ_s‖（只有软共享运行会记录）"},
    "chart.f.no_pairs": {"en": "no completed multi-task / single-task pairs yet", "zh": "还没有已完成的多任务 / 单任务配对"},
    "chart.f.no_delta": {"en": "no Δ yet: needs a completed multi-task run and its single-task baselines",
                         "zh": "还没有 Δ：需要一个已完成的多任务运行及其单任务基线"},
    "chart.f.selected_none": {"en": "the selected runs have no", "zh": "所选运行没有"},
    "chart.f.na": {"en": "n/a", "zh": "无"},
}

# The recommender's sentences (mtl_core/recommend_text.py holds the English; the CLI prints it).
_RECOMMENDATION_ZH = {
    "measured_helpers": "将 {target} 与 {first} 一起训练。提升了 {target} 的候选任务：{listed}（{evidence}）。",
    "measured_none": "实测的候选任务都没有提升 {target}；损害最小的是 {best}（{gain}）。请单独训练 {target}（{evidence}）。",
    "waiting": "等待第 1 阶段：尚未测得对 {target} 的{proxy}。",
    "proxy": "按对 {target} 的{proxy}，{first} 排第一，其后是 {rest}：{evidence}。",
    "stage2_training": " 第 2 阶段训练中：已完成 {done}/{total} 个运行。",
    "evidence_measured": "在 {seeds} 个种子上实测",
    "evidence_measured_one": "在 1 个种子上实测",
    "evidence_no_map": "仅代理指标（本存储中还没有为该代理指标打分的相关性图）",
    "evidence_map_target": "仅代理指标（在你最近的相关性图上 ρ = {rho}）",
    "evidence_map_whole": "仅代理指标（在你最近的相关性图上 ρ = {rho}，按整张图计算）",
    "no_other": "无其他任务",
}
STRINGS.update({f"rec.text.{key}": {"en": english, "zh": _RECOMMENDATION_ZH[key]}
                for key, english in _RECOMMENDATION_TEXTS.items()})
STRINGS["rec.text.join"] = {"en": ", ", "zh": "、"}


# English fragments of dashboard/charts.py figures that localise_figure replaces (longest first).
CHART_FRAGMENTS = ("step", "chart.raw", "chart.smoothed", "chart.noise_floor", "chart.below_zero", "chart.cosine_axis",
                   *(key for key in STRINGS if key.startswith("chart.f.")))
# Axis and colour-bar titles replaced only when they are the whole title (too short to replace inside text).
CHART_WHOLE = {"task": {"zh": "任务"}, "cosine": {"zh": "余弦"}}


def translate(key: str, lang: str = DEFAULT_LANGUAGE, **values: Any) -> str:
    """The text of `key` in `lang` (English when that language lacks it), with `values` filled in."""
    entry = STRINGS[key]
    text = entry.get(lang) or entry[DEFAULT_LANGUAGE]
    return text.format(**values) if values else text


def current_language() -> str:
    """The page's language: ?lang= from a link when it names one, else the session's choice, else English."""
    import streamlit as st

    wanted = st.query_params.get("lang")
    if wanted in LANGUAGES and st.session_state.get("_i18n_url") != wanted:
        st.session_state[SESSION_KEY] = wanted  # a link just asked for it
    st.session_state["_i18n_url"] = wanted
    lang = st.session_state.get(SESSION_KEY, DEFAULT_LANGUAGE)
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def t(key: str, **values: Any) -> str:
    """translate() in the current page's language."""
    return translate(key, current_language(), **values)


def _switched() -> None:
    import streamlit as st

    st.session_state[SESSION_KEY] = st.session_state[WIDGET_KEY]


def language_switch() -> str:
    """The sidebar language selectbox; keeps ?lang= in the URL (absent for English). Returns the language."""
    import streamlit as st

    lang = current_language()
    st.session_state[WIDGET_KEY] = lang  # the widget follows a link or another page's choice
    st.sidebar.selectbox(translate("language", lang), list(LANGUAGES), key=WIDGET_KEY, format_func=LANGUAGES.get,
                         on_change=_switched)
    lang = st.session_state[SESSION_KEY] = st.session_state[WIDGET_KEY]
    if lang == DEFAULT_LANGUAGE:
        st.query_params.pop("lang", None)
    else:
        st.query_params["lang"] = lang
    st.session_state["_i18n_url"] = st.query_params.get("lang")
    return lang


def localise_figure(fig, title_key: str | None = None, lang: str | None = None, **values: Any):
    """A dashboard/charts.py figure in the page's language: the title from `title_key` (filled with
    `values`; left alone on an empty chart), and the English fragments of CHART_FRAGMENTS replaced in
    axis titles, trace names, bar labels and annotations. English figures are returned untouched."""
    from dashboard.charts_relatedness import translate_figure

    lang = lang or current_language()
    if lang == DEFAULT_LANGUAGE:
        return fig
    if title_key and fig.layout.title.text:
        fig.update_layout(title_text=translate(title_key, lang, **values))
    whole = {english: texts.get(lang, english) for english, texts in CHART_WHOLE.items()}
    fig.for_each_xaxis(lambda axis: axis.update(title_text=whole.get(axis.title.text, axis.title.text)))
    fig.for_each_yaxis(lambda axis: axis.update(title_text=whole.get(axis.title.text, axis.title.text)))
    replacements = {translate(key, DEFAULT_LANGUAGE): translate(key, lang) for key in CHART_FRAGMENTS}
    translate_figure(fig, replacements)
    pairs = sorted(replacements.items(), key=lambda kv: -len(kv[0]))

    def swap(value):
        if not isinstance(value, str):
            return value
        for old, new in pairs:
            value = value.replace(old, new)
        return value

    for trace in fig.data:
        if trace.type == "heatmap" and trace.colorbar.title.text in whole:
            trace.colorbar.title.text = whole[trace.colorbar.title.text]
        if trace.type == "bar":  # bar labels and category names ("multi-task", "Δm (mean over tasks)")
            for field in ("text", "x", "y"):
                value = getattr(trace, field)
                if value is not None and any(isinstance(v, str) for v in value):
                    setattr(trace, field, [swap(v) for v in value])
    return fig
