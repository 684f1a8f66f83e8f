"""Explanations the dashboard shows: sharing modes in words, the loss formula in LaTeX, a diagram in DOT.

Pure functions of the user's choices (no Streamlit), so the formula on screen always carries the
user's own λ values and the diagram the user's own tasks and layers.
"""
from __future__ import annotations

from mtl_core.models import sharing as sharing_modes

# Every sharing mode declares its own words (mtl_core/models/sharing/, one module per mode).
SHARING_LABELS = {name: mode.title for name, mode in sharing_modes.modes().items()}
SHARING_EXPLANATIONS = {name: mode.explanation for name, mode in sharing_modes.modes().items()}
FORMULA_NOTES = {name: mode.formula_note for name, mode in sharing_modes.modes().items()}

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
                 layers: dict[str, int] | None = None, experts: int | None = None) -> str:
    """The training loss of the chosen sharing mode with the user's λ values, as LaTeX (the mode says what
    each task's loss depends on and what it adds: mtl_core/models/sharing/)."""
    if not tasks:
        return r"\mathcal{L} = \sum_t \lambda_t\, \mathcal{L}_t"
    mode = sharing_modes.modes().get(sharing, sharing_modes.get_mode("hard"))
    layers = layers or {}
    terms = []
    for task in tasks:
        weight = _number(weights.get(task, 1.0))
        args = mode.loss_arguments(latex_name(task), layers.get(task, "?"))
        terms.append(weight + r" \cdot \mathcal{L}_{" + latex_name(task) + "}(" + args + ")")
    # A few terms per line, so that the formula fits the page (KaTeX does not wrap).
    per_line = mode.terms_per_line
    lines = [" + ".join(terms[i:i + per_line]) for i in range(0, len(terms), per_line)]
    extra_lines, definition = mode.loss_extras(soft_lambda, _number,
                                               {} if experts is None else {"experts": int(experts)})
    lines += extra_lines
    body = r"\\ &\quad + ".join(lines)
    formula = r"\begin{aligned} \mathcal{L} &= " + body
    return formula + definition + r" \end{aligned}"


def _node(name: str) -> str:
    return '"' + name.replace('"', "'") + '"'


def sharing_diagram(sharing: str, tasks: list[str], depth: int, layers: dict[str, int] | None = None,
                    experts: int = 4) -> str:
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
    elif sharing == "mmoe":
        names = [f"expert {e}" for e in range(1, max(1, int(experts)) + 1)]
        for name in names:
            lines += [f'{_node(name)} [fillcolor="#dbe6f7"];', f'"input" -> {_node(name)};']
        for task, head in zip(tasks, heads):
            gate = _node(f"gate for {task}")
            lines += [f'{gate} [shape=ellipse, fillcolor="#ffffff"];', f'"input" -> {gate};',
                      f'{gate} -> {_node(head)} [style=dashed];']
            lines += [f"{_node(name)} -> {_node(head)};" for name in names]
    elif sharing == "cross_stitch":
        stitch = _node("cross-stitch α after every layer")
        lines.append(f'{stitch} [shape=ellipse, style=dashed, fillcolor="#ffffff"];')
        for task, head in zip(tasks, heads):
            encoder = _node(f"encoder θ for {task}")
            lines += [f'"input" -> {encoder};', f"{encoder} -> {_node(head)};",
                      f'{encoder} -> {stitch} [style=dashed, dir=both];']
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
