"""The Transformer decoder of generation tasks (decoder_type 'transformer'): it is causal, it serves
the shared (target-language-tag) decoder through the CLI, bad input is refused, and the decoder type is part of a
configuration's identity without moving the ids of runs stored before the setting existed. That it memorises a toy
task, greedy and with beams, is tests/test_generation.py's test, run for both decoder types."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
import torch

from mtl_core.analysis.configurations import baseline_key, compare_configurations, configuration, configuration_id
from mtl_core.errors import UserError
from mtl_core.models.decoder import DECODERS, TaggedDecoder, build_decoder
from mtl_core.models.transformer_decoder import TransformerDecoderHead, attention_heads
from mtl_core.spec import DECODER_TYPES, ExperimentSpec, RunSpec
from mtl_core.store import Store
from mtl_core.tasks import get_task
from tests.test_engine import ListRecorder
from tests.test_generation import trainer_for

PAIR = ["emoji_en_es", "emoji_en_fr"]


# ---- the module -------------------------------------------------------------------------------------
def test_the_spec_and_the_models_name_the_same_decoder_types_and_heads_divide_the_width():
    assert set(DECODER_TYPES) == set(DECODERS) and ExperimentSpec(tasks=PAIR).decoder_type == "gru"
    assert [attention_heads(d) for d in (128, 48, 18, 7, 2)] == [4, 4, 3, 1, 2]
    head = build_decoder("transformer", 18, 11, tags=2, max_length=5)
    assert isinstance(head, TransformerDecoderHead) and head.tag_embedding.num_embeddings == 2
    assert len(head.transformer.layers) == 2 and head.transformer.layers[0].self_attn.num_heads == 3
    assert head.positions.num_embeddings == 6  # <s> and five target tokens


def test_a_later_target_token_never_changes_an_earlier_positions_logits():
    torch.manual_seed(0)
    head = TransformerDecoderHead(16, 12, max_length=8).eval()
    memory, mask = torch.randn(2, 5, 16), torch.ones(2, 5, dtype=torch.bool)
    mask[1, 3:] = False
    targets = torch.randint(4, 12, (2, 7))
    changed = targets.clone()
    changed[:, 3] = (targets[:, 3] - 4 + 1) % 8 + 4  # another ordinary token at position 3
    before, after = head.logits(memory, mask, targets), head.logits(memory, mask, changed)
    # position i reads <s> y_1 … y_{i-1}: positions 0-3 never see y_4 (index 3); position 4 does
    assert torch.allclose(before[:, :4], after[:, :4], atol=1e-6)
    assert not torch.allclose(before[:, 4], after[:, 4], atol=1e-4)
    # the encoder's padded positions are not attended to
    noisy = memory.clone()
    noisy[1, 3:] = torch.randn(2, 16) * 10
    assert torch.allclose(head.logits(noisy, mask, targets), before, atol=1e-6)
    assert not torch.allclose(head.logits(noisy, torch.ones_like(mask), targets)[1], before[1], atol=1e-4)


def test_one_beam_is_greedy_decoding_and_the_length_cap_holds():
    torch.manual_seed(1)
    head = TransformerDecoderHead(16, 12, max_length=6, tags=2).eval()
    memory, mask = torch.randn(4, 7, 16), torch.ones(4, 7, dtype=torch.bool)
    mask[0, 2:] = False
    greedy = head.generate(memory, mask, beam_size=1, max_length=6, tag=1)
    from mtl_core.models.decoder import beam_search

    def step(tokens, prefix):
        prefix = torch.cat([prefix, tokens[:, None]], dim=1)
        last = head.states(prefix, memory, mask, 1)[:, -1]
        return torch.log_softmax(head.output(last), dim=-1), prefix

    one_beam = beam_search(step, lambda prefix, origin: prefix[origin], torch.zeros((4, 0), dtype=torch.long), 4, 1,
                           12, 6, head.bos_id, head.eos_id, head.pad_id, memory.device)
    assert one_beam == greedy
    longer = head.generate(memory, mask, beam_size=3, max_length=50)  # never past the decoder's positions
    assert all(len(ids) <= 6 for ids in greedy + longer) and all(2 not in ids for ids in greedy + longer)
    assert head.generate(memory, mask, tag=0) != head.generate(memory, mask, tag=1)  # the tag tells the target


# ---- through the one training loop ------------------------------------------------------------------
def test_a_shared_transformer_decoder_serves_both_tasks_with_their_tags():
    trainer = trainer_for(["numwords_fr", "numwords_de"], total_steps=3, max_train_examples=32, eval_every=3,
                          max_decode_examples=4, max_target_length=12, decoder="shared", decoder_type="transformer")
    fr, de = trainer.model.heads["numwords_fr"], trainer.model.heads["numwords_de"]
    assert isinstance(fr, TaggedDecoder) and isinstance(fr.decoder, TransformerDecoderHead)
    assert fr.decoder is de.decoder and (fr.tag, de.tag) == (0, 1)
    assert fr.decoder.output.out_features == len(trainer.target_vocabularies["numwords_fr"])
    recorder = ListRecorder()
    assert trainer.fit(recorder) == "completed"
    assert {row[1] for row in recorder.metrics if row[2:4] == ("validation", "chrf")} == {"numwords_fr", "numwords_de"}
    assert fr.decoder.tag_embedding.weight.grad.abs().sum(1).gt(0).all()  # both tags were trained


def test_a_multi_task_cli_run_with_a_shared_transformer_decoder_stores_bleu_and_chrf(tmp_path):
    store_path = tmp_path / "runs.sqlite"
    args = ["run", "--tasks", ",".join(PAIR), "--decoder", "shared", "--decoder-type", "transformer", "--steps", "3",
            "--max-train-examples", "48", "--max-decode-examples", "4", "--max-target-length", "6", "--hidden-size",
            "16", "--encoder-layers", "1", "--conflict-every", "0", "--store", str(store_path), "--json"]
    result = subprocess.run([sys.executable, "-m", "mtl_core", *args], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert {r["status"] for r in summary["runs"]} == {"completed"} and len(summary["runs"]) == 3
    (entry,) = summary["configurations"]
    assert entry["configuration"]["decoder_type"] == "transformer" and entry["configuration"]["decoder"] == "shared"
    assert len(entry["baseline_run_ids"]) == 2  # the baselines trained with the same decoder type
    store = Store(store_path)
    for run_id in (r["id"] for r in summary["runs"]):
        run = store.run(run_id)
        assert json.loads(run["spec_json"])["experiment"]["decoder_type"] == "transformer"
        for task in run["tasks"]:
            scores = run["result"]["test"][task]
            assert 0 <= scores["bleu"] <= 100 and 0 <= scores["chrf"] <= 100
    for task in PAIR:
        assert summary["tasks"][task]["metric"] == "chrf" and summary["tasks"][task]["mtl"] is not None
        assert summary["tasks"][task]["other_metrics"]["bleu"]["stl"] is not None
    signatures = store.metric_signatures([summary["runs"][0]["id"]]).query("split == 'test'")
    assert set(signatures["name"]) >= {"bleu", "chrf"}


# ---- bad input ------------------------------------------------------------------------------------
def test_an_unknown_decoder_type_names_the_field_and_what_is_allowed():
    with pytest.raises(UserError, match="^decoder_type: 'lstm' is not one of gru, transformer$") as error:
        ExperimentSpec.from_dict({"tasks": PAIR, "decoder_type": "lstm"})
    assert error.value.field == "decoder_type"


def test_the_cli_refuses_an_unknown_decoder_type_with_one_line_and_exit_code_2(tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"tasks": PAIR, "decoder_type": "rnn"}))
    commands = [
        (["run", "--tasks", ",".join(PAIR), "--decoder-type", "lstm"], ["--decoder-type", "'gru'", "'transformer'"]),
        (["run", "--spec", str(spec)], ["error: decoder_type: 'rnn' is not one of gru, transformer"]),
    ]
    for args, expected in commands:
        result = subprocess.run([sys.executable, "-m", "mtl_core", *args, "--store", str(tmp_path / "runs.sqlite")],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert all(part in result.stderr for part in expected), result.stderr


# ---- the decoder type in a configuration's identity -------------------------------------------------
def _row(run: RunSpec, run_id: str, score: float | None = None, stored_without_decoder_type: bool = False) -> dict:
    data = run.to_dict()
    if stored_without_decoder_type:  # a run stored before the setting existed
        del data["experiment"]["decoder_type"]
    result = {"test": {t: {"chrf": score, "bleu": score / 2} for t in run.tasks}} if score is not None else None
    return {"id": run_id, "kind": run.kind, "tasks": list(run.tasks), "seed": run.seed, "status": "completed",
            "result": result, "spec_json": json.dumps(data, sort_keys=True), "total_steps": 10}


def test_the_decoder_type_is_a_training_setting_that_leaves_earlier_runs_ids_as_they_were():
    gru, transformer = (ExperimentSpec(tasks=PAIR, steps=10, decoder_type=kind).validated()
                        for kind in ("gru", "transformer"))
    old = _row(RunSpec("mtl", PAIR, 0, gru), "old", stored_without_decoder_type=True)
    new = _row(RunSpec("mtl", PAIR, 0, gru), "new")
    other = _row(RunSpec("mtl", PAIR, 0, transformer), "tr")
    # the id a run stored without the field had before it existed: the configuration hashed without it
    before = {k: v for k, v in configuration(old).items() if k != "decoder_type"}
    digest = hashlib.sha1(json.dumps(before, sort_keys=True).encode()).hexdigest()
    assert configuration_id(configuration(old)) == f"c{digest[:8]}"
    assert configuration(old)["decoder_type"] == "gru" and configuration(other)["decoder_type"] == "transformer"
    assert configuration_id(configuration(new)) == configuration_id(configuration(old))
    assert configuration_id(configuration(other)) != configuration_id(configuration(new))
    old_settings = json.loads(old["spec_json"])["experiment"]
    for task in PAIR:
        assert baseline_key(gru.to_dict(), task) == baseline_key(old_settings, task)
        assert baseline_key(old_settings, task) == baseline_key(configuration(old), task)
        assert baseline_key(transformer.to_dict(), task) == baseline_key(configuration(other), task)
        assert baseline_key(transformer.to_dict(), task) != baseline_key(configuration(new), task)

    # one experiment's runs: each configuration is compared with the baselines of its own decoder type only
    runs = [_row(RunSpec("mtl", PAIR, 0, transformer), "mtl-tr", 50.0),
            _row(RunSpec("mtl", PAIR, 0, gru), "mtl-gru", 40.0, stored_without_decoder_type=True)]
    runs += [_row(RunSpec("stl", [t], 0, transformer), f"stl-tr-{t}", 25.0) for t in PAIR]
    runs += [_row(RunSpec("stl", [t], 0, gru), f"stl-gru-{t}", 80.0) for t in PAIR]
    cards = {t: get_task(t).card for t in PAIR}
    entries = {e["configuration"]["decoder_type"]: e for e in compare_configurations(runs, cards)}
    assert entries["transformer"]["baseline_run_ids"] == sorted(f"stl-tr-{t}" for t in PAIR)
    assert entries["gru"]["baseline_run_ids"] == sorted(f"stl-gru-{t}" for t in PAIR)
    assert entries["transformer"]["tasks"]["emoji_en_es"]["delta_pct"] == pytest.approx(100.0)  # 50 vs 25
    assert entries["gru"]["tasks"]["emoji_en_es"]["delta_pct"] == pytest.approx(-50.0)  # 40 vs 80
    assert "decoder_type=transformer" in entries["transformer"]["label"]
