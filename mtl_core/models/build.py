"""The model of one run: encoder and heads from the run's seed, shared as the sharing mode says."""
from __future__ import annotations

import numpy as np
import torch

from mtl_core.models.encoders import build_encoder
from mtl_core.models.heads import build_head
from mtl_core.models.multitask import MultiTaskModel
from mtl_core.models.sharing import get_mode
from mtl_core.spec import RunSpec
from mtl_core.tasks.base import TaskData
from mtl_core.train.data import stable_seed


class Builder:
    """What a sharing mode may use to build more than the run's encoder and heads (MMoE's experts and gates)."""

    def __init__(self, seed: int, encoder_name: str, options: dict):
        self.run_seed, self.encoder_name, self.options = seed, encoder_name, options

    def seed(self, *key) -> None:
        """Seed torch's global generator with (run seed, *key): a stream of its own for each part."""
        torch.manual_seed(stable_seed(self.run_seed, *key))

    def encoder(self):
        """Another encoder of the run's architecture and options (initialised from the current generator)."""
        return build_encoder(self.encoder_name, **self.options)


def build_model(run: RunSpec, data: dict[str, TaskData], vocabulary, target_vocabularies: dict | None = None
                ) -> MultiTaskModel:
    """The model of one run, initialised from the seed so baselines start where the multi-task run does.

    The run's encoder is built under seed (run seed, 'encoder') and each head under (run seed, 'head', task),
    in that order, whatever the mode; a single-task baseline is a hard-shared model of its one task. A generation
    task's decoder (of the spec's decoder_type) outputs its target vocabulary (`target_vocabularies[task]`, else
    built from its training split).
    """
    spec = run.experiment
    first = data[run.tasks[0]]
    options = dict(hidden_size=spec.hidden_size, depth=spec.encoder_layers, dropout=spec.dropout,
                   max_tokens=spec.max_tokens, freeze=spec.freeze_encoder, vocabulary=vocabulary)
    if not first.card.kind.is_text:
        options["input_size"] = first.train.inputs.shape[1]

    builder = Builder(run.seed, spec.encoder, options)
    builder.seed("encoder")
    encoder = builder.encoder()
    experiment_mode = get_mode(spec.sharing)  # a baseline's head reads the layer its task reads in the experiment
    heads, layers = {}, {}
    generation = [t for t in run.tasks if data[t].card.kind.is_generation]
    decoder_type = getattr(spec, "decoder_type", "gru")  # generation tasks: the GRU or the Transformer decoder
    shared_decoder = None
    if uses_shared_decoder(run, data):  # the target-language-tag model: one decoder, one tag per task
        from mtl_core.models.decoder import build_decoder
        from mtl_core.tasks.seq2seq import run_target_vocabularies

        vocabularies = target_vocabularies or run_target_vocabularies(run.tasks, data, shared=True)
        builder.seed("decoder", "shared")
        shared_decoder = build_decoder(decoder_type, encoder.hidden_size, len(vocabularies[generation[0]]),
                                       dropout=spec.dropout, tags=len(generation), max_length=spec.max_target_length)
    for task in run.tasks:
        task_data = data[task]
        if shared_decoder is not None and task in generation:
            from mtl_core.models.decoder import TaggedDecoder

            heads[task] = TaggedDecoder(shared_decoder, generation.index(task))
            layers[task] = experiment_mode.head_layer(spec, task, encoder.depth)
            continue
        builder.seed("head", task)
        targets = np.asarray(task_data.train.targets, dtype=np.float64) if task_data.card.kind.is_regression else None
        vocabulary_size = None
        if task_data.card.kind.is_generation:
            from mtl_core.tasks.seq2seq import target_vocabulary

            vocabulary_size = len((target_vocabularies or {}).get(task) or target_vocabulary(task_data))
        heads[task] = build_head(task_data.card.kind, encoder.hidden_size,
                                 num_labels=len(task_data.labels) if task_data.labels else None,
                                 mean=float(targets.mean()) if targets is not None else 0.0,
                                 std=float(targets.std()) if targets is not None else 1.0, dropout=spec.dropout,
                                 vocabulary_size=vocabulary_size, decoder_type=decoder_type,
                                 max_target_length=spec.max_target_length)
        layers[task] = experiment_mode.head_layer(spec, task, encoder.depth)
    sharing = spec.sharing if run.kind == "mtl" else "hard"
    return get_mode(sharing).build(encoder, heads, layers, spec, builder)


def uses_shared_decoder(run: RunSpec, data: dict[str, TaskData]) -> bool:
    """A multi-task run of a spec with decoder 'shared' and two or more generation tasks (baselines decode alone)."""
    generation = [t for t in run.tasks if data[t].card.kind.is_generation]
    return getattr(run.experiment, "decoder", "per_task") == "shared" and run.kind == "mtl" and len(generation) > 1
