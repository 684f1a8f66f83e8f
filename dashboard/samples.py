"""Generation tasks on the Runs page: the fixed validation examples with the model's latest output beside its
single-task baseline's, updated live while the runs train.

`sample_tables(samples, runs)` is plain pandas (tested on its own); `samples_section(runs)` draws it.
Every run of an experiment decodes the same fixed validation examples (Store.generation_samples), so the
multi-task run's rows and its baseline's meet on (task, position).
"""
from __future__ import annotations

from typing import Any

import pandas as pd

TEXT = {
    "title": {"en": "Sample outputs", "zh": "生成示例"},
    "caption": {"en": "The first fixed validation examples of each generation task: the source, the reference, "
                      "and each run's output at its latest evaluation (step shown in the column). A baseline is "
                      "the single-task run of the same task and seed.",
                "zh": "每个生成任务固定验证集的前几个样例：原文、参考译文，以及每个运行在最近一次评估时的输出（列名中为步数）。"
                      "基线是同一任务、同一种子的单任务运行。"},
    "source": {"en": "source", "zh": "原文"},
    "reference": {"en": "reference", "zh": "参考"},
    "mtl": {"en": "multi-task (step {step})", "zh": "多任务（第 {step} 步）"},
    "stl": {"en": "single-task (step {step})", "zh": "单任务（第 {step} 步）"},
    "none": {"en": "No sample yet: the first evaluation has not run.", "zh": "尚无示例：第一次评估尚未进行。"},
    "seed": {"en": "seed {seed}", "zh": "种子 {seed}"},
}


def tx(key: str, language: str = "en", **values: Any) -> str:
    entry = TEXT[key]
    text = entry.get(language) or entry["en"]
    return text.format(**values) if values else text


def sample_tables(samples: pd.DataFrame, runs: list[dict], language: str = "en") -> dict[str, pd.DataFrame]:
    """Per generation task (in the order of the runs' tasks), one row per fixed example: position, source,
    reference, then one column per run that decodes the task: each multi-task run of the lowest seed that has
    outputs, then the single-task baseline of that seed; a run's column is named after its kind and the step
    of its latest evaluation. `samples`: Store.generation_samples(run ids, latest=True)."""
    if samples.empty:
        return {}
    by_id = {run["id"]: run for run in runs}
    tables: dict[str, pd.DataFrame] = {}
    tasks = list(dict.fromkeys(task for run in runs for task in run["tasks"] if task in set(samples["task"])))
    for task in tasks:
        part = samples[(samples["task"] == task) & samples["run_id"].isin(by_id)]
        seeds = sorted({by_id[r]["seed"] for r in part["run_id"]})
        if not seeds:
            continue
        seed = seeds[0]
        chosen = [r for r in runs if r["seed"] == seed and task in r["tasks"] and r["id"] in set(part["run_id"])]
        chosen.sort(key=lambda r: (r["kind"] != "mtl", r.get("position", 0)))
        first = part[part["run_id"] == chosen[0]["id"]]
        table = first[["position", "source", "reference"]].drop_duplicates("position").set_index("position")
        for run in chosen:
            rows = part[part["run_id"] == run["id"]]
            step = int(rows["step"].max())
            label = tx("mtl" if run["kind"] == "mtl" else "stl", language, step=step)
            if run["kind"] == "mtl" and len(run["tasks"]) > 1 and sum(r["kind"] == "mtl" for r in chosen) > 1:
                label += f" · {' + '.join(run['tasks'])}"
            table[label] = rows.set_index("position")["output"]
        table = table.rename(columns={"source": tx("source", language), "reference": tx("reference", language)})
        tables[task] = table.reset_index(drop=True)
    return tables


def samples_section(runs: list[dict]) -> None:
    """The section, drawn only when the experiment has a generation task."""
    import streamlit as st

    from dashboard import data
    from dashboard.i18n import current_language

    cards = data.cards()
    generation = [task for task in dict.fromkeys(t for r in runs for t in r["tasks"])
                  if cards.get(task, {}).get("kind") == "seq2seq"]
    if not generation:
        return
    language = current_language()
    st.subheader(tx("title", language))
    st.caption(tx("caption", language))
    tables = sample_tables(data.store().generation_samples([r["id"] for r in runs], latest=True), runs, language)
    for task in generation:
        st.markdown(f"**{task}**")
        if task in tables:
            st.dataframe(tables[task], hide_index=True, width="stretch", key=f"samples_{task}")
        else:
            st.caption(tx("none", language))
