"""Loss-weighting methods: one module per method in this folder, found by name in one registry.

Every module defines `METHOD`, a subclass of `base.WeightingMethod`. The spec, the CLI (`--weighting`,
`weightings`), the dashboard and the cost table all read `methods()`; adding a method is adding one file
(plus its test). Measured step costs come from `benchmarks/weighting_cost.py`, which writes costs.json here.
"""
from __future__ import annotations

import functools
import importlib
import json
import pkgutil
from pathlib import Path
from typing import Any

from mtl_core.errors import UserError
from mtl_core.weighting.base import FAMILIES, NEEDS, Option, WeightingMethod

DEFAULT = "static"
COSTS = Path(__file__).with_name("costs.json")
_NOT_METHODS = {"base"}


@functools.cache
def methods() -> dict[str, type[WeightingMethod]]:
    """name -> method class, static first, then loss-based, then gradient-based (alphabetical in each)."""
    found = {}
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name in _NOT_METHODS or module.name.startswith("_"):
            continue
        cls = importlib.import_module(f"{__name__}.{module.name}").METHOD
        assert cls.family in FAMILIES and cls.needs in NEEDS, cls
        found[cls.name] = cls
    return dict(sorted(found.items(), key=lambda item: (FAMILIES.index(item[1].family), item[0])))


def get_method(name: str) -> type[WeightingMethod]:
    known = methods()
    if name not in known:
        raise UserError(f"weighting: unknown method {name!r}; allowed: {', '.join(known)}", field="weighting")
    return known[name]


def normalise(value: Any) -> dict[str, Any]:
    """A spec's `weighting` (a name, or {"name": ..., "options": {...}}) -> {"name", "options"} with every
    option of the method given (its default where the user gave none), each checked against its range."""
    if value is None:
        value = DEFAULT
    if isinstance(value, str):
        value = {"name": value.strip()}
    if not isinstance(value, dict):
        raise UserError(f"weighting: expected a method name or {{\"name\": ..., \"options\": {{...}}}}, got "
                        f"{type(value).__name__}", field="weighting")
    unknown = sorted(set(value) - {"name", "options"}, key=str)
    if unknown:
        raise UserError(f"weighting: unknown key(s) {', '.join(map(repr, unknown))}; allowed: name, options",
                        field="weighting")
    name = value.get("name", DEFAULT)
    if not isinstance(name, str):
        raise UserError(f"weighting: the method name must be a string, got {name!r}", field="weighting")
    cls = get_method(name)
    options = value.get("options") or {}
    if not isinstance(options, dict):
        raise UserError(f"weighting: options must be an object of name: number, got {type(options).__name__}",
                        field="weighting")
    out = {}
    for key, given in options.items():
        if key not in cls.options:
            allowed = ", ".join(cls.options) or "none"
            raise UserError(f"weighting: {name} has no option {key!r}; its options: {allowed}", field="weighting")
        option = cls.options[key]
        if not option.check(given):
            raise UserError(f"weighting: {name} option {key} must be {option.allowed()}, got {given!r}",
                            field="weighting")
        out[key] = int(given) if option.integer else float(given)
    return {"name": name, "options": {key: out.get(key, option.default) for key, option in cls.options.items()}}


def build(weighting: dict[str, Any], tasks: list[str], lambdas: dict[str, float], seed: int, device) -> WeightingMethod:
    cls = get_method(weighting["name"])
    return cls(tasks, lambdas, dict(weighting.get("options") or {}), seed, device)


def label(weighting: dict[str, Any] | str | None) -> str:
    """'static λ', 'pcgrad', 'cagrad (c=0.4)': how a configuration names its method."""
    if not weighting:
        return DEFAULT
    if isinstance(weighting, str):
        return weighting
    options = weighting.get("options") or {}
    cls = methods().get(weighting.get("name", DEFAULT))
    changed = {k: v for k, v in options.items() if cls is None or k not in cls.options or cls.options[k].default != v}
    text = weighting.get("name", DEFAULT)
    return text + (" (" + ", ".join(f"{k}={v:g}" for k, v in changed.items()) + ")" if changed else "")


def measured_costs() -> dict[str, dict[str, float]]:
    """{method: {setup: step-time ratio to a plain summed-loss step}} from the last benchmark run."""
    try:
        return json.loads(COSTS.read_text())["ratios"]
    except (OSError, ValueError, KeyError):
        return {}


def describe() -> list[dict[str, Any]]:
    """One row per method for `weightings --json`, the dashboard selector and the README's table."""
    costs = measured_costs()
    rows = []
    for name, cls in methods().items():
        rows.append({
            "name": name, "title": cls.title, "family": cls.family, "needs": cls.needs, "source": cls.source,
            "reference": cls.reference, "explanation": cls.explanation, "formula": cls.formula,
            "lambdas": cls.lambdas, "heads_weighted": cls.heads_weighted,
            "options": {key: {"default": o.default, "allowed": o.allowed(), "help": o.help}
                        for key, o in cls.options.items()},
            "cost": costs.get(name, {}),
        })
    return rows


__all__ = ["DEFAULT", "Option", "WeightingMethod", "build", "describe", "get_method", "label", "measured_costs",
           "methods", "normalise"]
