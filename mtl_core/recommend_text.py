"""The recommender's sentences (mtl_core/recommend.py): English here, as keys and values in a recommendation's
`message`, so that a page can say the same in another language (dashboard/i18n.py: rec.text.* in Chinese)
without importing the recommender. No imports: the dashboard's strings load this at start-up.
"""
from __future__ import annotations

TEXTS = {
    "measured_helpers": "Train {target} with {first}. Candidates that improved {target}: {listed} ({evidence}).",
    "measured_none": ("None of the measured candidates improved {target}; the least harmful is {best} ({gain}). "
                      "Train {target} alone ({evidence})."),
    "waiting": "Waiting for stage 1: no {proxy} toward {target} measured yet.",
    "proxy": "{first} ranks first by {proxy} toward {target}, then {rest}: {evidence}.",
    "stage2_training": " Stage 2 is training: {done}/{total} runs finished.",
    "evidence_measured": "measured on {seeds} seeds",
    "evidence_measured_one": "measured on 1 seed",
    "evidence_no_map": "proxy only (no relatedness map in this store scores this proxy yet)",
    "evidence_map_target": "proxy only (ρ on your last map: {rho})",
    "evidence_map_whole": "proxy only (ρ on your last map: {rho}, over the whole map)",
    "no_other": "no other",
}


def render_message(message: dict, texts: dict[str, str] = TEXTS, proxy_name=str, join=", ".join) -> str:
    """A recommendation `message` in `texts` (the English above by default): its evidence and lists are filled
    in first; `proxy_name` names a proxy id and `join` joins a list of candidates in that language."""
    values = dict(message.get("values", {}))
    if "evidence" in message:
        values["evidence"] = render_message(message["evidence"], texts, proxy_name, join)
    if "proxy" in values:
        values["proxy"] = proxy_name(values["proxy"])
    for name in ("listed", "rest"):
        if name in values:
            values[name] = join(values[name]) if values[name] else texts["no_other"]
    out = texts[message["key"]].format(**values)
    if "suffix" in message:
        out += render_message(message["suffix"], texts, proxy_name, join)
    return out
