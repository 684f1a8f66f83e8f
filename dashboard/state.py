"""The New experiment form as plain data: URL query parameters ⇄ form values ⇄ ExperimentSpec dict.

The whole form lives in the URL so that a link reproduces a setup (teachers send links), e.g.

    ?tasks=synth_1,synth_2&sharing=soft&soft_lambda=0.1&w_synth_1=1&steps=200&p=0.9

`parse_query` never fails: a value it cannot use falls back to the default and yields a note that the
page shows. `to_query` writes only what differs from the defaults, so links stay short. Also here:
the reproducing CLI line of a spec and the documented run-time estimate. No Streamlit in this module.
"""
from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from mtl_core import estimate
from mtl_core.errors import UserError
from mtl_core.spec import DEFAULT_EXPERTS, ENCODERS as SPEC_ENCODERS, MAX_EXPERTS, SHARING_MODES

ENCODERS = ("auto", *SPEC_ENCODERS)  # "auto": the spec's default for the chosen tasks
BUDGETS = ("steps", "epochs")
WEIGHT_MAX = 5.0  # the λ slider's range is 0 … WEIGHT_MAX
WEIGHT_PREFIX = "w_"
LAYER_PREFIX = "layer_"
OPTION_PREFIX = "wo_"  # an option of the chosen loss-weighting method: wo_c=0.5 (cagrad)


def weighting_methods() -> tuple[str, ...]:
    """The registered loss-weighting methods (mtl_core.weighting), static λ first."""
    from mtl_core import weighting

    return tuple(weighting.methods())


def weighting_lambdas(method: str) -> str:
    """How a method treats λ: "weights" (static), "start" (gradnorm) or "ignored" (it picks the weights)."""
    from mtl_core import weighting

    cls = weighting.methods().get(method)
    return cls.lambdas if cls is not None else "weights"


@dataclass(frozen=True)
class Field:
    """One scalar form field: its URL name, default, and a parser that raises ValueError on bad input."""

    name: str
    default: Any
    parse: Callable[[str], Any]
    allowed: str  # what the note says is allowed


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in options:
            raise ValueError(raw)
        return raw
    return parse


def _int(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(raw)
        return value
    return parse


def _float(low: float, high: float, exclusive_low: bool = False) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = float(raw)
        if not math.isfinite(value) or value < low or value > high or (exclusive_low and value == low):
            raise ValueError(raw)
        return value
    return parse


def _seeds(raw: str) -> str:
    parse_seeds(raw)
    return raw.strip()


def _text(raw: str) -> str:
    return raw[:200]


FIELDS = (
    Field("sharing", "hard", _choice(SHARING_MODES), "one of " + ", ".join(SHARING_MODES)),
    Field("soft_lambda", 0.01, _float(0.0, 100.0), "a number from 0 to 100"),
    Field("experts", DEFAULT_EXPERTS, _int(1, MAX_EXPERTS), f"a whole number from 1 to {MAX_EXPERTS}"),
    Field("encoder", "auto", _choice(ENCODERS), "one of " + ", ".join(ENCODERS)),
    Field("depth", 2, _int(1, 12), "a whole number from 1 to 12"),
    Field("hidden", 128, _int(2, 4096), "a whole number from 2 to 4096"),
    Field("freeze", False, _bool, "1 or 0"),
    Field("budget", "steps", _choice(BUDGETS), "steps or epochs"),
    Field("steps", 200, _int(1, 1_000_000), "a whole number from 1 to 1000000"),
    Field("epochs", 1.0, _float(0.0, 1000.0, exclusive_low=True), "a number above 0, at most 1000"),
    Field("seeds", "0", _seeds, "comma-separated whole numbers, e.g. 0,1,2"),
    Field("conflict_every", 10, _int(0, 1_000_000), "a whole number ≥ 0 (0 = never)"),
    Field("noise_floor", False, _bool, "1 or 0"),
    Field("baselines", True, _bool, "1 or 0"),
    Field("max_train", 0, _int(0, 100_000_000), "a whole number ≥ 0 (0 = all examples)"),
    Field("p", 0.5, _float(-1.0, 1.0), "a number from -1 to 1"),
    Field("data_seed", 0, _int(0, 2**31 - 1), "a whole number from 0 to 2147483647"),
    Field("lr", 0.0, _float(0.0, 10.0), "a number from 0 (encoder default) to 10"),
    Field("batch", 32, _int(1, 4096), "a whole number from 1 to 4096"),
    Field("weighting", "static", _choice(weighting_methods()), "one of " + ", ".join(weighting_methods())),
    Field("name", "", _text, "any text"),
)
FIELD_BY_NAME = {f.name: f for f in FIELDS}
DEFAULTS: dict[str, Any] = {f.name: f.default for f in FIELDS}

# Presets are links: the same query parameters a teacher would send. Their budgets are ones at which their
# runs pass the convergence check (README, "Still improving"), so the verdict they show is about transfer:
# measured with `python -m mtl_core run` on the same settings (README, "Presets"). The exception: ATIS's slots
# baseline still creeps at 2,500 steps (and at 5,000), and the page says so beside its Δ.
PRESETS: dict[str, dict[str, str]] = {
    "ATIS intent + slots": {"tasks": "atis_intent,atis_slots", "sharing": "hard", "steps": "2500",
                            "max_train": "2000", "seeds": "0,1,2"},
    "Synthetic, related (p=0.9)": {"tasks": "synth_1,synth_2", "p": "0.9", "hidden": "16", "steps": "1500",
                                   "max_train": "1000", "seeds": "0,1,2", "noise_floor": "1"},
    "Synthetic, unrelated (p=0)": {"tasks": "synth_1,synth_2", "p": "0", "hidden": "16", "steps": "1500",
                                   "max_train": "1000", "seeds": "0,1,2", "noise_floor": "1"},
    # Two translation directions sharing one (digits -> French words), one seed: the three runs take 3-4 min of
    # CPU on one thread (README, "Generation tasks").
    "Translation: related targets (digits → fr + fr_be)": {"tasks": "numwords_fr,numwords_fr_be", "sharing": "hard",
                                                           "steps": "1600", "seeds": "0"},
    "Translation: distant targets (digits → fr + ja)": {"tasks": "numwords_fr,numwords_ja", "sharing": "hard",
                                                        "steps": "1600", "seeds": "0"},
}


def parse_seeds(raw: str) -> list[int]:
    """'0, 1,2' -> [0, 1, 2]; a UserError naming the seeds field otherwise."""
    try:
        seeds = [int(part) for part in str(raw).split(",") if part.strip()]
    except ValueError:
        raise UserError(f"seeds: expected whole numbers separated by commas, e.g. 0,1,2; got {raw!r}",
                        field="seeds") from None
    if not seeds:
        raise UserError("seeds: give at least one seed, e.g. 0 or 0,1,2", field="seeds")
    return seeds


def default_layer(kind: str, depth: int) -> int:
    """Hierarchical default: token tasks read layer 1, sentence-level tasks the top layer."""
    return 1 if kind == "token_tagging" else depth


def default_form() -> dict[str, Any]:
    return {**DEFAULTS, "tasks": [], "weights": {}, "layers": {}, "weighting_options": {}}


def weighting_option_specs(method: str) -> dict[str, Any]:
    """The options of a weighting method: key -> mtl_core.weighting.Option (default, low, high, integer, help)."""
    from mtl_core import weighting

    cls = weighting.methods().get(method)
    return dict(cls.options) if cls is not None else {}


def _option_number(raw: str) -> float | int:
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(raw)
    return int(value) if value.is_integer() else value


def _single(value: Any) -> str:
    """st.query_params gives strings; a dict of lists (repeated keys) keeps the last value."""
    if isinstance(value, (list, tuple)):
        return str(value[-1]) if value else ""
    return str(value)


def parse_query(params: Mapping[str, Any], task_ids: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Form values from URL query parameters, and one note per value that was ignored.

    `task_ids` are the tasks that can be picked (available ones); unknown task ids are dropped.
    """
    form = default_form()
    notes: list[str] = []
    params = {key: _single(value) for key, value in params.items()}
    if params.get("tasks"):
        for task in [t.strip() for t in params["tasks"].split(",") if t.strip()]:
            if task not in task_ids:
                notes.append(f"tasks: '{task}' is not an available task here; left out")
            elif task not in form["tasks"]:
                form["tasks"].append(task)
    for field in FIELDS:
        if field.name not in params:
            continue
        raw = params[field.name]
        try:
            form[field.name] = field.parse(raw)
        except (ValueError, UserError):
            notes.append(f"{field.name}={raw!r} ignored: must be {field.allowed}; using the default "
                         f"{field.default!r}")
    if "epochs" in params and "budget" not in params and form["epochs"] != DEFAULTS["epochs"]:
        form["budget"] = "epochs"
    for key, raw in params.items():
        for prefix, target, parse, allowed in (
            (WEIGHT_PREFIX, "weights", _float(0.0, WEIGHT_MAX), f"a number from 0 to {WEIGHT_MAX:g}"),
            (LAYER_PREFIX, "layers", _int(1, 12), "a whole number from 1 to the encoder depth"),
        ):
            if not key.startswith(prefix):
                continue
            task = key[len(prefix):]
            if task not in form["tasks"]:
                notes.append(f"{key} ignored: '{task}' is not one of the chosen tasks")
                continue
            try:
                form[target][task] = parse(raw)
            except ValueError:
                notes.append(f"{key}={raw!r} ignored: must be {allowed}; using the default")
    for task, layer in list(form["layers"].items()):
        if layer > form["depth"]:
            notes.append(f"{LAYER_PREFIX}{task}={layer} ignored: the encoder has layers 1..{form['depth']}")
            del form["layers"][task]
    options = weighting_option_specs(form["weighting"])
    for key, raw in params.items():  # a range the method refuses is left for the page to show at its field
        if not key.startswith(OPTION_PREFIX):
            continue
        option = key[len(OPTION_PREFIX):]
        if option not in options:
            notes.append(f"{key} ignored: {form['weighting']} has no option {option!r}"
                         + (f" (its options: {', '.join(options)})" if options else ""))
            continue
        try:
            form["weighting_options"][option] = _option_number(raw)
        except ValueError:
            notes.append(f"{key}={raw!r} ignored: must be a number; using the default {options[option].default:g}")
    unknown = sorted(k for k in params if k not in FIELD_BY_NAME and k not in ("tasks", "exp")
                     and not k.startswith((WEIGHT_PREFIX, LAYER_PREFIX, OPTION_PREFIX)))
    if unknown:
        notes.append(f"unknown URL parameter(s) ignored: {', '.join(unknown)}")
    return form, notes


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def to_query(form: Mapping[str, Any], kinds: Mapping[str, str] | None = None) -> dict[str, str]:
    """The query parameters of a form: tasks, then only what differs from the defaults and matters.

    `kinds` (task -> task kind) lets hierarchical layers that equal their default stay out of the URL.
    """
    kinds = kinds or {}
    tasks = list(form.get("tasks") or [])
    query: dict[str, str] = {}
    if tasks:
        query["tasks"] = ",".join(tasks)
    relevant = set(FIELD_BY_NAME)
    if form.get("sharing") != "soft":
        relevant.discard("soft_lambda")
    if form.get("sharing") != "mmoe":
        relevant.discard("experts")
    relevant.discard("steps" if form.get("budget") == "epochs" else "epochs")
    if not any(t.startswith("synth") for t in tasks):
        relevant -= {"p", "data_seed"}
    for field in FIELDS:
        if field.name in relevant and field.name in form and form[field.name] != field.default:
            query[field.name] = _format(form[field.name])
    lambdas_used = weighting_lambdas(form.get("weighting", "static")) != "ignored"
    for task in tasks:
        weight = form.get("weights", {}).get(task, 1.0)
        if weight != 1.0 and lambdas_used:
            query[WEIGHT_PREFIX + task] = _format(float(weight))
        if form.get("sharing") == "hierarchical" and task in form.get("layers", {}):
            layer = int(form["layers"][task])
            if task not in kinds or layer != default_layer(kinds[task], int(form.get("depth", 2))):
                query[LAYER_PREFIX + task] = str(layer)
    options = weighting_option_specs(form.get("weighting", "static"))
    for option, value in (form.get("weighting_options") or {}).items():
        if option in options and value != options[option].default:
            query[OPTION_PREFIX + option] = _format(value)
    return query


def spec_dict(form: Mapping[str, Any]) -> dict[str, Any]:
    """The ExperimentSpec.from_dict input of a form (raises UserError for unparseable seeds)."""
    tasks = list(form.get("tasks") or [])
    data: dict[str, Any] = {
        "tasks": tasks,
        "sharing": form["sharing"],
        # a method that picks the weights itself trains with every λ_t = 1 (the sliders are hidden then)
        "weights": {t: float(form.get("weights", {}).get(t, 1.0))
                    if weighting_lambdas(form.get("weighting", "static")) != "ignored" else 1.0 for t in tasks},
        "weighting": {"name": form.get("weighting", "static"),
                      "options": {k: v for k, v in (form.get("weighting_options") or {}).items()
                                  if k in weighting_option_specs(form.get("weighting", "static"))}},
        "soft_lambda": float(form["soft_lambda"]),
        "encoder": None if form["encoder"] == "auto" else form["encoder"],
        "encoder_layers": int(form["depth"]),
        "hidden_size": int(form["hidden"]),
        "freeze_encoder": bool(form["freeze"]) and form["encoder"] == "minilm",
        "seeds": parse_seeds(form["seeds"]),
        "baselines": bool(form["baselines"]),
        "conflict_every": int(form["conflict_every"]),
        "noise_floor": bool(form["noise_floor"]),
        "synthetic_correlation": float(form["p"]),
        "data_seed": int(form["data_seed"]),
        "max_train_examples": int(form["max_train"]) or None,
        "lr": float(form["lr"]) or None,
        "batch_size": int(form["batch"]),
        "name": form.get("name") or "",
    }
    if form["budget"] == "epochs":
        data["epochs"] = float(form["epochs"])
    else:
        data["steps"] = int(form["steps"])
    if form["sharing"] == "hierarchical":
        data["layers"] = {t: int(form["layers"][t]) for t in tasks if t in form.get("layers", {})}
    if form["sharing"] == "mmoe":
        data["experts"] = int(form.get("experts", DEFAULT_EXPERTS))
    return data


# ---- the CLI line that reproduces a spec -------------------------------------------------------
def cli_command(spec: Mapping[str, Any], *, store: str | None = None) -> str:
    """`python -m mtl_core run ...` with every field of a (validated) spec dict the CLI has a flag for.

    Fields left at the ExperimentSpec default are left out; fields the CLI has no flag for and that
    differ from the default are listed in a trailing comment (use `--spec FILE` for those).
    """
    from mtl_core.commands.train import OPTION_FIELDS
    from mtl_core.spec import ExperimentSpec

    defaults = ExperimentSpec(tasks=[]).to_dict()
    try:  # the encoder and learning rate the spec would pick by itself need no flag
        automatic = ExperimentSpec.from_dict({**spec, "encoder": None, "lr": None}).to_dict()
        defaults.update(encoder=automatic["encoder"], lr=automatic["lr"])
    except (UserError, TypeError):
        pass
    parts = ["python", "-m", "mtl_core", "run"]
    for name in OPTION_FIELDS:
        value = spec.get(name)
        flag = "--" + name.replace("_", "-")
        always = name in ("tasks", "sharing")
        if value is None or (not always and value == defaults.get(name)):
            continue
        if name in ("weights", "layers"):
            if not value or (name == "weights" and all(float(v) == 1.0 for v in value.values())):
                continue
            parts += [flag, ",".join(f"{t}={_format(v)}" for t, v in value.items())]
        elif name in ("tasks", "seeds"):
            parts += [flag, ",".join(str(v) for v in value)]
        elif name == "baselines":
            parts.append("--baselines" if value else "--no-baselines")
        elif isinstance(value, bool):
            if value:
                parts.append(flag)
        else:
            parts += [flag, _format(value)]
    method = spec.get("weighting") or "static"
    method = {"name": method, "options": {}} if isinstance(method, str) else method
    if method.get("name", "static") != "static":  # --weighting NAME, then each option that is not its default
        parts += ["--weighting", method["name"]]
        options = weighting_option_specs(method["name"])
        for option, value in (method.get("options") or {}).items():
            if option not in options or value != options[option].default:
                parts += ["--weighting-option", f"{option}={_format(value)}"]
    if store:
        parts += ["--store", store]
    line = " ".join(shlex.quote(p) for p in parts)
    missing = [k for k, v in spec.items() if k not in OPTION_FIELDS and k != "weighting" and k in defaults
               and v != defaults[k]]
    if missing:
        line += f"  # no CLI flag for {', '.join(sorted(missing))}: save the spec JSON and add --spec FILE"
    return line


# ---- how long will it take? (mtl_core.estimate holds the cost model) ----------------------------
def budget_steps(spec: Any, train_sizes: Mapping[str, int]) -> int:
    """Steps per task of a validated spec; an epoch budget counts over the largest training set."""
    return estimate.budget_steps(spec, train_sizes)


def estimate_seconds(spec: Any, train_sizes: Mapping[str, int], slots: int = 1) -> float:
    """Wall-clock estimate of a validated ExperimentSpec on CPU with `slots` parallel workers."""
    return estimate.estimate_seconds(spec.runs(), estimate.budget_steps(spec, train_sizes), slots)


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "unknown"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:02.0f} min"


def run_progress(run: Mapping[str, Any], now: float) -> tuple[float, float | None]:
    """(fraction done, seconds left or None) of a run dict, extrapolating its speed since started_at."""
    total, step = run.get("total_steps"), run.get("step") or 0
    if run.get("status") == "completed":
        return 1.0, 0.0
    if not total:
        return 0.0, None
    fraction = min(1.0, max(0.0, step / total))
    started = run.get("started_at")
    if run.get("status") != "running" or not started or step <= 0:
        return fraction, None
    return fraction, (now - started) / step * (total - step)
