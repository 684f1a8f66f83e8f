"""Explanations the dashboard shows: sharing modes in words, the loss formula in LaTeX, a diagram in DOT.

Pure functions of the user's choices (no Streamlit), so the formula on screen always carries the
user's own λ values and the diagram the user's own tasks and layers.
"""
from __future__ import annotations

SHARING_LABELS = {
    "hard": "Hard sharing",
    "soft": "Soft sharing",
    "hierarchical": "Hierarchical",
}

SHARING_EXPLANATIONS = {
    "hard": (
        "**Hard sharing**: one encoder θ_s is shared by every task; each task only owns a small output "
        "head θ_t. Every training step adds the weighted task losses, so all tasks push on the same "
        "shared weights. When the tasks want the same features this is a free boost for the smaller "
        "task; when they pull in opposite directions (negative gradient cosine) one task can hurt another."
    ),
    "soft": (
        "**Soft sharing**: every task gets its own encoder θ_t, and an L2 penalty pulls the encoders "
        "towards their mean θ_s = (1/T) Σ_t θ_t (here θ_s is the mean of the task encoders, not a learned "
        "copy). λ_soft sets the pull: λ_soft = 0 is independent training, a very large λ_soft approaches "
        "hard sharing. Watch ‖θ_t − θ_s‖ on the run view: it is how far each task's encoder strays."
    ),
    "hierarchical": (
        "**Hierarchical sharing**: one encoder stack, but each task's head reads a layer of your choice. "
        "Low-level tasks (POS tags, slots, named entities) usually read a lower layer and high-level ones "
        "(intent, sentiment, topic) the top, so the lower layers learn what both need (Søgaard & Goldberg "
        "2016: POS supervision at the innermost layer helps chunking more than at the outermost)."
    ),
}

FORMULA_NOTES = {
    "hard": r"θ_s: the shared encoder; θ_t: task t's head; λ_t: the weight of task t's loss.",
    "soft": r"θ_t: task t's own encoder; θ_s = (1/T) Σ_t θ_t, the mean of the task encoders.",
    "hierarchical": r"One encoder; task t's head reads the layer chosen for it, so only layers up to it get its gradient.",
}

CONFLICT_EXPLANATION = (
    "Gradient cosine cos(g_i, g_j) between two tasks' gradients on the shared parameters: above 0 the "
    "tasks push the shared weights the same way, below 0 they conflict (PCGrad's definition). "
    "The noise floor is the cosine between two mini-batches of the *same* task: cross-task values "
    "within that floor cannot be told apart from SGD noise."
)

DELTA_EXPLANATION = (
    "Δ_t = s_t (M_t^MTL − M_t^STL) / |M_t^STL| × 100 %, s_t = +1 when higher is better, −1 otherwise. "
    "**Positive = multi-task better.** Δm is the mean of Δ_t over tasks; a task with a negative Δ_t "
    "(negative transfer) is flagged even when Δm is positive."
)


def latex_name(task: str) -> str:
    """A task id as LaTeX text (underscores escaped)."""
    return r"\text{" + task.replace("_", r"\_") + "}"


def _number(value: float) -> str:
    """1 -> '1.0', 0.5 -> '0.5', 0.0001 -> '0.0001': a weight always reads as a number with a point."""
    return f"{value:.1f}" if float(value).is_integer() else f"{value:g}"


def loss_formula(sharing: str, tasks: list[str], weights: dict[str, float], soft_lambda: float,
                 layers: dict[str, int] | None = None) -> str:
    """The training loss of the chosen sharing mode with the user's λ values, as LaTeX."""
    if not tasks:
        return r"\mathcal{L} = \sum_t \lambda_t\, \mathcal{L}_t"
    layers = layers or {}
    terms = []
    for task in tasks:
        weight = _number(weights.get(task, 1.0))
        if sharing == "soft":
            args = r"\theta_{" + latex_name(task) + "}"
        elif sharing == "hierarchical":
            args = r"\theta_s^{(\le " + str(layers.get(task, "?")) + r")}, \theta_{" + latex_name(task) + "}"
        else:
            args = r"\theta_s, \theta_{" + latex_name(task) + "}"
        terms.append(weight + r" \cdot \mathcal{L}_{" + latex_name(task) + "}(" + args + ")")
    # A few terms per line, so that the formula fits the page (KaTeX does not wrap).
    per_line = 3 if sharing == "hard" else 2
    lines = [" + ".join(terms[i:i + per_line]) for i in range(0, len(terms), per_line)]
    if sharing == "soft":
        lines.append(_number(soft_lambda) + r" \sum_t \lVert \theta_t - \theta_s \rVert^2")
    body = r"\\ &\quad + ".join(lines)
    formula = r"\begin{aligned} \mathcal{L} &= " + body
    if sharing == "soft":
        formula += r",\qquad \theta_s = \frac{1}{T} \sum_t \theta_t"
    return formula + r" \end{aligned}"


def _node(name: str) -> str:
    return '"' + name.replace('"', "'") + '"'


def sharing_diagram(sharing: str, tasks: list[str], depth: int, layers: dict[str, int] | None = None) -> str:
    """A small Graphviz (DOT) drawing of what is shared: inputs at the bottom, task heads at the top."""
    tasks = tasks or ["task 1", "task 2"]
    layers = layers or {}
    lines = ["digraph sharing {", "rankdir=BT;", 'node [shape=box, style="rounded,filled", fontname="Helvetica", '
             'fillcolor="#eef3fb", color="#1f5fbf"];', 'edge [color="#555555"];', '"input" [fillcolor="#ffffff"];']
    heads = [f"head: {task}" for task in tasks]
    for head in heads:
        lines.append(f'{_node(head)} [fillcolor="#fff4e0", color="#b36b00"];')
    if sharing == "soft":
        lines.append('"θ_s = mean of encoders" [shape=ellipse, style=dashed, fillcolor="#ffffff"];')
        for task, head in zip(tasks, heads):
            encoder = _node(f"encoder θ for {task}")
            lines += [f'"input" -> {encoder};', f"{encoder} -> {_node(head)};",
                      f'{encoder} -> "θ_s = mean of encoders" [style=dashed, dir=both, '
                      'label=" L2 pull", fontsize=10];']
    elif sharing == "hierarchical":
        previous = "input"
        for layer in range(1, depth + 1):
            name = f"shared layer {layer}"
            lines.append(f"{_node(previous)} -> {_node(name)};")
            previous = name
        for task, head in zip(tasks, heads):
            layer = min(max(int(layers.get(task, depth)), 1), depth)
            lines.append(f"{_node(f'shared layer {layer}')} -> {_node(head)};")
    else:
        lines += ['"shared encoder θ_s" [fillcolor="#dbe6f7"];', '"input" -> "shared encoder θ_s";']
        lines += [f'"shared encoder θ_s" -> {_node(head)};' for head in heads]
    lines.append("}")
    return "\n".join(lines)
