"""ExperimentSpec and RunSpec: what a user asks for, validated at the boundary, to and from JSON.

An experiment expands into runs: the multi-task run and (optionally) one single-task baseline per
task, for every seed. Every run of an experiment gets the same steps per task, encoder, optimiser
and vocabulary, so that a baseline is matched to its multi-task run.
"""
from __future__ import annotations

import json
import math
import reprlib
import sys
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from mtl_core.errors import UserError
from mtl_core.models import sharing as sharing_modes
from mtl_core.models.sharing.mmoe import DEFAULT_EXPERTS, MAX_EXPERTS

# One module per mode in mtl_core/models/sharing/ (declarations only: no torch is imported here).
SHARING_MODES = sharing_modes.mode_names()
ENCODERS = ("bilstm", "transformer", "minilm", "mlp")
SAMPLING = ("all", "proportional", "temperature")
GRADIENT_ROUTES = ("auto", "materialised")
DECODERS = ("per_task", "shared")
DECODER_TYPES = ("gru", "transformer")  # generation tasks: built by mtl_core/models/decoder.py::build_decoder
DEVICES = ("auto", "cpu", "cuda", "mps")
OPTIMIZERS = ("adam", "adamw", "sgd")
TEXT_ENCODER_DEFAULT = "bilstm"
VECTOR_ENCODER_DEFAULT = "mlp"
MINILM_LAYERS = 6
# One run holds at most this many tasks: a recommender's target with 12 candidates (a map holds fewer).
MAX_TASKS = 13
MAX_BEAM_SIZE = 64
MAX_TARGET_LENGTH = 1024
# Learning rates that train each encoder well in a few hundred steps; fine-tuning MiniLM needs a small one.
DEFAULT_LR = {"bilstm": 5e-3, "transformer": 1e-3, "mlp": 3e-3, "minilm": 5e-5, "minilm-frozen": 2e-3}


@dataclass
class ExperimentSpec:
    tasks: list[str]
    sharing: str = "hard"
    weights: dict[str, float] = field(default_factory=dict)  # λ_t; missing tasks get 1.0
    # How the task losses are combined: a method of mtl_core/weighting by name, or {"name", "options"}.
    weighting: Any = "static"
    soft_lambda: float = 0.01  # λ_soft in λ_soft Σ_t ‖θ_t − θ_s‖², θ_s = mean of the task encoders
    layers: dict[str, int] = field(default_factory=dict)  # hierarchical: encoder layer (1-based) each head reads
    experts: int = DEFAULT_EXPERTS  # mmoe: number of expert encoders E (1..MAX_EXPERTS)
    encoder: str | None = None  # None: bilstm for text tasks, mlp for synthetic ones
    encoder_layers: int = 2  # depth of bilstm / transformer / mlp (minilm has 6)
    hidden_size: int = 128  # bilstm / transformer / mlp width (mlp default 16 would be MMoE's small bottom)
    freeze_encoder: bool = False  # minilm: train heads only on frozen features (fast on CPU)
    dropout: float = 0.1
    optimizer: str = "adam"
    lr: float | None = None  # None: a default that suits the encoder (DEFAULT_LR)
    weight_decay: float = 0.0
    batch_size: int = 32
    steps: int | None = None  # steps per task; exclusive with epochs
    epochs: float | None = None  # converted to steps on the largest task's training set
    seeds: list[int] = field(default_factory=lambda: [0])
    baselines: bool = True
    conflict_every: int = 10  # measure per-task gradients every k steps (0 = never)
    noise_floor: bool = False  # also measure the same-task cosine of two mini-batches
    # How per-task gradient inner products are taken: the Gram route where it applies (auto), or the
    # materialised per-task gradients (the reference); both exact, they differ by float rounding only.
    gradient_route: str = "auto"
    affinity_every: int = 0  # TAG lookahead affinity every k steps (0 = never)
    probe_examples: int = 0  # per task: validation inputs whose representations are kept for CKA (0 = none)
    sampling: str = "all"  # all: one batch of every task each step; else one task per step
    temperature: float = 2.0  # sampling == "temperature": p_t ∝ n_t^(1/T)
    eval_every: int | None = None  # None: about 10 evaluations per run
    max_eval_examples: int = 1000  # validation examples scored at each interval (all at the end)
    synthetic_correlation: float = 0.5
    data_seed: int = 0  # the synthetic tasks' data draw (x, directions, α, β); `seeds` never move it
    max_train_examples: int | None = None
    max_tokens: int = 64  # token sequences are cut to this many words (documents included)
    # Generation tasks: decoding (1 = greedy, else beam search with this many beams), the target-length cap in
    # decoder tokens (training targets are cut to it, decoding stops there), and how many validation (and
    # training) examples are decoded at each interval evaluation; the test score decodes the whole test split.
    beam_size: int = 1
    max_target_length: int = 64
    max_decode_examples: int = 200
    # per_task: one decoder per generation task (one-to-many); shared: one decoder for every generation task of
    # the multi-task run, told the task by a learned tag (the target-language-tag model); baselines decode alone.
    decoder: str = "per_task"
    # gru: a GRU decoder with attention over the encoder's token states; transformer: a small Transformer decoder
    # (2 layers, causal self-attention, cross-attention over the token states). Either serves per_task and shared.
    decoder_type: str = "gru"
    device: str = "auto"
    name: str = ""

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ExperimentSpec":
        if not isinstance(data, dict):
            raise UserError(f"spec: expected a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted((key for key in data if key not in known), key=str)
        if unknown:
            raise UserError(f"spec: unknown field(s) {', '.join(map(_named, unknown))}; "
                            f"allowed: {', '.join(sorted(known))}")
        if "tasks" not in data:
            raise UserError("tasks: required, e.g. [\"atis_intent\", \"atis_slots\"]")
        return cls(**data).validated()

    @classmethod
    def from_json(cls, text: str) -> "ExperimentSpec":
        return cls.from_dict(parse_spec_json(text, "spec"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    # ---- validation ---------------------------------------------------------------------------
    def validated(self) -> "ExperimentSpec":
        """Check every field, fill defaults that depend on the tasks, and return a normalised copy."""
        from mtl_core.tasks import get_task  # the catalog is only needed once a spec is checked

        spec = replace(self)
        # A string such as "no" is truthy: only JSON true / false may switch a setting.
        for name in BOOLEAN_FIELDS:
            if not isinstance(getattr(spec, name), bool):
                raise UserError(f"{name}: expected true or false, got {short_repr(getattr(spec, name))}", field=name)
        if isinstance(spec.tasks, str):
            spec.tasks = [t for t in spec.tasks.split(",") if t.strip()]
        if not isinstance(spec.tasks, (list, tuple)):
            raise UserError(f"tasks: expected a list of task ids or a comma-separated string, got {short_repr(spec.tasks)}",
                            field="tasks")
        if not spec.tasks:
            raise UserError("tasks: choose at least one task", field="tasks")
        for task in spec.tasks:
            if not isinstance(task, str):
                raise UserError(f"tasks: expected task ids as strings, got {short_repr(task)}", field="tasks")
        spec.tasks = [t.strip() for t in spec.tasks]
        duplicates = sorted({t for t in spec.tasks if spec.tasks.count(t) > 1})
        if duplicates:
            raise UserError(f"tasks: {', '.join(map(_named, duplicates))} listed twice", field="tasks")
        if len(spec.tasks) > MAX_TASKS:
            raise UserError(f"tasks: at most {MAX_TASKS} tasks in one run, got {len(spec.tasks)}", field="tasks")
        try:
            cards = {t: get_task(t).card for t in spec.tasks}
        except UserError as exc:  # an unknown task: the message names it and lists the valid ids
            raise UserError(str(exc), field="tasks") from None

        _choice("sharing", spec.sharing, SHARING_MODES)
        _choice("optimizer", spec.optimizer, OPTIMIZERS)
        _choice("sampling", spec.sampling, SAMPLING)
        _choice("device", spec.device, DEVICES)
        _choice("gradient_route", spec.gradient_route, GRADIENT_ROUTES)

        vector = [t for t, c in cards.items() if not c.kind.is_text]
        text = [t for t, c in cards.items() if c.kind.is_text]
        if vector and text:
            raise UserError(
                f"tasks: synthetic tasks ({', '.join(vector)}) take vectors and cannot share an encoder with "
                f"text tasks ({', '.join(text)}); run them in separate experiments", field="tasks")
        if spec.encoder is None:
            spec.encoder = VECTOR_ENCODER_DEFAULT if vector else TEXT_ENCODER_DEFAULT
        _choice("encoder", spec.encoder, ENCODERS)
        if vector and spec.encoder != "mlp":
            raise UserError(f"encoder: synthetic tasks take vectors and need the 'mlp' encoder, got '{spec.encoder}'",
                            field="encoder")
        generation = [t for t, c in cards.items() if c.kind.is_generation]
        if generation and spec.encoder == "mlp":
            raise UserError(f"encoder: generation tasks ({', '.join(generation)}) decode from the encoder's token "
                            "states, and 'mlp' has none (it reads one vector); use bilstm, transformer or minilm",
                            field="encoder")
        if text and spec.encoder == "mlp":
            raise UserError(f"encoder: 'mlp' reads vectors only; text tasks ({', '.join(text)}) need one of "
                            "bilstm, transformer, minilm", field="encoder")

        spec.weights = _task_map("weights", spec.weights, spec.tasks, float)
        for task, value in spec.weights.items():
            if not math.isfinite(value) or value < 0:
                raise UserError(f"weights: '{task}' must be a finite number ≥ 0, got {value}", field="weights")
        spec.weights = {t: spec.weights.get(t, 1.0) for t in spec.tasks}
        if all(v == 0 for v in spec.weights.values()):
            raise UserError("weights: at least one task needs a weight > 0", field="weights")

        spec.soft_lambda = _number("soft_lambda", spec.soft_lambda, minimum=0.0)
        spec.encoder_layers = _integer("encoder_layers", spec.encoder_layers, 1, 12)
        depth = self.depth_for(spec.encoder, spec.encoder_layers)
        spec.hidden_size = _integer("hidden_size", spec.hidden_size, 2, 4096)
        spec.dropout = _number("dropout", spec.dropout, minimum=0.0, maximum=0.9)
        if spec.lr is None:
            spec.lr = DEFAULT_LR["minilm-frozen" if spec.encoder == "minilm" and spec.freeze_encoder else spec.encoder]
        spec.lr = _number("lr", spec.lr, minimum=0.0, exclusive_minimum=True, maximum=10.0)
        spec.weight_decay = _number("weight_decay", spec.weight_decay, minimum=0.0)
        spec.batch_size = _integer("batch_size", spec.batch_size, 1, 4096)
        spec.temperature = _number("temperature", spec.temperature, minimum=0.0, exclusive_minimum=True)
        spec.synthetic_correlation = _number("synthetic_correlation", spec.synthetic_correlation, -1.0, 1.0)
        spec.data_seed = _integer("data_seed", spec.data_seed, 0, 2**31 - 1)
        spec.max_tokens = _integer("max_tokens", spec.max_tokens, 4, 512)
        spec.max_eval_examples = _integer("max_eval_examples", spec.max_eval_examples, 10, 10**7)
        spec.beam_size = _integer("beam_size", spec.beam_size, 1, MAX_BEAM_SIZE)
        spec.max_target_length = _integer("max_target_length", spec.max_target_length, 1, MAX_TARGET_LENGTH)
        spec.max_decode_examples = _integer("max_decode_examples", spec.max_decode_examples, 1, 10**7)
        _choice("decoder", spec.decoder, DECODERS)
        _choice("decoder_type", spec.decoder_type, DECODER_TYPES)
        if spec.decoder == "shared":
            generation = [t for t, c in cards.items() if c.kind.is_generation]
            if len(generation) < 2:
                raise UserError(f"decoder: 'shared' needs two or more generation tasks to share a decoder, got "
                                f"{len(generation)} ({', '.join(generation) or 'none'}); use per_task", field="decoder")
            tokens = {cards[t].target_tokens or "word" for t in generation}
            if len(tokens) > 1:
                kinds = ", ".join(f"{t} ({cards[t].target_tokens or 'word'})" for t in generation)
                raise UserError(f"decoder: 'shared' needs the same target tokens in every generation task, got {kinds}; "
                                "use per_task", field="decoder")
        if spec.max_train_examples is not None:
            spec.max_train_examples = _integer("max_train_examples", spec.max_train_examples, 2, 10**8)
        spec.conflict_every = _integer("conflict_every", spec.conflict_every, 0, 10**6)
        spec.affinity_every = _integer("affinity_every", spec.affinity_every, 0, 10**6)
        spec.probe_examples = _integer("probe_examples", spec.probe_examples, 0, 5000)
        if spec.eval_every is not None:
            spec.eval_every = _integer("eval_every", spec.eval_every, 1, 10**8)

        if spec.steps is not None and spec.epochs is not None:
            raise UserError("steps/epochs: give one budget, not both", field="steps")
        if spec.steps is None and spec.epochs is None:
            spec.steps = 200
        if spec.steps is not None:
            spec.steps = _integer("steps", spec.steps, 1, 10**7)
        else:
            spec.epochs = _number("epochs", spec.epochs, minimum=0.0, exclusive_minimum=True, maximum=1000.0)

        if isinstance(spec.seeds, str):
            spec.seeds = [s.strip() for s in spec.seeds.split(",") if s.strip()]
        elif isinstance(spec.seeds, int):  # a bool is an int here too; _integer below names it
            spec.seeds = [spec.seeds]
        elif not isinstance(spec.seeds, (list, tuple)):
            raise UserError(f"seeds: expected a whole number, a list of them or a comma-separated string, "
                            f"got {short_repr(spec.seeds)}", field="seeds")
        if not spec.seeds:
            raise UserError("seeds: give at least one seed, e.g. 0 or 0,1,2", field="seeds")
        spec.seeds = [_integer("seeds", s, 0, 2**31 - 1) for s in spec.seeds]
        if len(set(spec.seeds)) != len(spec.seeds):
            raise UserError(f"seeds: each seed once, got {spec.seeds}", field="seeds")

        spec.layers = _task_map("layers", spec.layers, spec.tasks, int)
        spec.experts = _integer("experts", spec.experts, 1, MAX_EXPERTS)
        sharing_modes.validate(spec, cards, depth)  # the mode's options (hierarchical layers, ...), see its module
        spec.weighting = _weighting(spec)
        if spec.name is not None and not isinstance(spec.name, str):
            raise UserError(f"name: expected a string, got {short_repr(spec.name)}", field="name")
        spec.name = (spec.name or "")[:200]
        return spec

    @staticmethod
    def depth_for(encoder: str, encoder_layers: int) -> int:
        return MINILM_LAYERS if encoder == "minilm" else encoder_layers

    @property
    def depth(self) -> int:
        return self.depth_for(self.encoder or TEXT_ENCODER_DEFAULT, self.encoder_layers)

    def affinity_possible(self) -> bool:
        """TAG lookahead affinity needs every task's batch on each step and one shared trunk to step:
        sampling 'all' and a sharing mode with one shared trunk (all but soft). The trainer, the estimate and
        maps ask here."""
        return self.sampling == "all" and sharing_modes.get_mode(self.sharing).one_shared_trunk

    # ---- expansion ----------------------------------------------------------------------------
    def runs(self) -> list["RunSpec"]:
        """The multi-task run and the single-task baselines, for every seed (multi-task first)."""
        out = []
        for seed in self.seeds:
            out.append(RunSpec(kind="mtl", tasks=list(self.tasks), seed=seed, experiment=self))
            if self.baselines and len(self.tasks) > 1:
                out.extend(RunSpec(kind="stl", tasks=[t], seed=seed, experiment=self) for t in self.tasks)
        return out


def _weighting(spec: "ExperimentSpec") -> dict[str, Any]:
    """The weighting method with every option given, and the settings it cannot train under refused."""
    from mtl_core import weighting

    method = weighting.normalise(spec.weighting)
    cls = weighting.get_method(method["name"])
    if len(spec.tasks) > 1:
        if cls.every_task_each_step and spec.sampling != "all":
            raise UserError(f"sampling: weighting '{cls.name}' needs every task's loss on every step; use sampling "
                            f"'all' (got '{spec.sampling}') or weighting 'static'", field="sampling")
        if cls.needs in ("gram", "grads") and not sharing_modes.get_mode(spec.sharing).one_shared_trunk:
            trunks = ", ".join(name for name, mode in sharing_modes.modes().items() if mode.one_shared_trunk)
            raise UserError(f"weighting: '{cls.name}' combines the task gradients on one shared trunk, and {spec.sharing} "
                            f"sharing gives each task its own encoder; use sharing {trunks}, or a loss-based method "
                            "(static, uw, dwa, rlw, famo)", field="weighting")
        if cls.lambdas == "ignored" and any(v != 1.0 for v in spec.weights.values()):
            raise UserError(f"weights: weighting '{cls.name}' chooses the task weights itself, so λ is not used; "
                            "remove the weights or use weighting 'static' (or gradnorm, which starts from them)",
                            field="weights")
    return method


BOOLEAN_FIELDS = tuple(f.name for f in fields(ExperimentSpec) if f.type == "bool")


@dataclass
class RunSpec:
    """One training run: the experiment's settings applied to a subset of its tasks and one seed."""

    kind: str  # "mtl" or "stl"
    tasks: list[str]
    seed: int
    experiment: ExperimentSpec

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "tasks": self.tasks, "seed": self.seed, "experiment": self.experiment.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunSpec":
        return cls(kind=data["kind"], tasks=list(data["tasks"]), seed=int(data["seed"]),
                   experiment=ExperimentSpec(**data["experiment"]))


# ---- reading spec files ---------------------------------------------------------------------------
def parse_spec_json(text: str, origin: str) -> dict[str, Any]:
    """The JSON object of a spec file or text, or a UserError starting with `origin` (e.g. "--spec 'x.json'")."""
    try:
        data = json.loads(text)
    except RecursionError:  # json recurses once per [ or {; Python's stack ends near 1000 levels
        raise UserError(f"{origin}: the spec is nested too deeply to read; a spec is one JSON object of fields "
                        "holding at most lists and task=value objects") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{origin}: not valid JSON ({exc})") from None
    except ValueError:  # json hands a number's digits to int(), which stops at sys.get_int_max_str_digits()
        raise UserError(f"{origin}: not valid JSON (a number with more than {sys.get_int_max_str_digits()} "
                        "digits)") from None
    if not isinstance(data, dict):
        raise UserError(f"{origin}: expected a JSON object of fields, got {_json_type(data)}")
    return data


def _json_type(value: Any) -> str:
    return {list: "a list", str: "a string", bool: "true or false", type(None): "null"}.get(type(value), "a number")


# ---- small validators ---------------------------------------------------------------------------
_MESSAGE_REPR = reprlib.Repr()
_MESSAGE_REPR.maxlevel = 2
_MESSAGE_REPR.maxstring = 60
_MESSAGE_REPR.maxother = 60
_MESSAGE_REPR.maxlist = _MESSAGE_REPR.maxdict = 4


def short_repr(value: Any) -> str:
    """A value as one short line for a message: long strings, big or deep lists and dicts are cut."""
    try:
        return _MESSAGE_REPR.repr(value)
    except ValueError:  # an int past str()'s digit limit
        return f"a whole number with more than {sys.get_int_max_str_digits()} digits"


def _named(key: Any) -> str:
    """A field or task name as typed when it is a plain identifier, else quoted so it stays on one line."""
    return key if isinstance(key, str) and key.isidentifier() else short_repr(key)


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise UserError(f"{name}: {short_repr(value)} is not one of {', '.join(allowed)}", field=name)


def _number(name, value, minimum=None, maximum=None, exclusive_minimum=False) -> float:
    if isinstance(value, bool):  # float(True) is 1.0: a switch is not a number
        raise UserError(f"{name}: expected a number, got {value}", field=name)
    try:
        number = float(value)
    except OverflowError:  # an int beyond float's range
        number = math.inf
    except (TypeError, ValueError):
        raise UserError(f"{name}: expected a number, got {short_repr(value)}", field=name) from None
    if not math.isfinite(number):
        raise UserError(f"{name}: must be a finite number, got {short_repr(value)}", field=name)
    if minimum is not None and (number < minimum or (exclusive_minimum and number == minimum)):
        relation = ">" if exclusive_minimum else "≥"
        raise UserError(f"{name}: must be {relation} {minimum:g}, got {short_repr(value)}", field=name)
    if maximum is not None and number > maximum:
        raise UserError(f"{name}: must be ≤ {maximum:g}, got {short_repr(value)}", field=name)
    return number


def _integer(name, value, minimum, maximum) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise UserError(f"{name}: expected a whole number, got {short_repr(value)}", field=name)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise UserError(f"{name}: expected a whole number, got {short_repr(value)}", field=name) from None
    if not minimum <= number <= maximum:
        raise UserError(f"{name}: must be between {minimum} and {maximum}, got {short_repr(number)}", field=name)
    return number


def _task_map(name: str, value: Any, tasks: list[str], convert) -> dict[str, Any]:
    """Accept {task: value} or 'a=1,b=0.5'; every key must be one of the experiment's tasks."""
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        value = parse_task_values(name, value, tasks)
    if not isinstance(value, dict):
        raise UserError(f"{name}: expected task=value pairs, got {short_repr(value)}", field=name)
    out = {}
    for key, raw in value.items():
        if key not in tasks:
            raise UserError(f"{name}: {short_repr(key)} is not one of this experiment's tasks ({', '.join(tasks)})",
                            field=name)
        if convert is int:
            out[key] = _integer(f"{name}", raw, -10**6, 10**6)
        elif isinstance(raw, bool):
            raise UserError(f"{name}: '{key}' must be a number, got {raw}", field=name)
        else:
            try:
                out[key] = float(raw)
            except OverflowError:  # an int beyond float's range: validated() says it must be finite
                out[key] = math.inf
            except (TypeError, ValueError):
                raise UserError(f"{name}: '{key}' must be a number, got {short_repr(raw)}", field=name) from None
    return out


def parse_task_values(name: str, text: str, tasks: list[str]) -> dict[str, str]:
    """'a=1,b=0.5' -> {'a': '1', 'b': '0.5'}; a task given twice is refused (which value was meant?)."""
    parsed: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise UserError(f"{name}: expected task=value pairs like '{tasks[0]}=1', got {short_repr(item.strip())}",
                            field=name)
        key, raw = (part.strip() for part in item.split("=", 1))
        if key in parsed:
            raise UserError(f"{name}: {short_repr(key)} is given twice ({short_repr(parsed[key])} and {short_repr(raw)}); "
                            "give each task once", field=name)
        parsed[key] = raw
    return parsed
