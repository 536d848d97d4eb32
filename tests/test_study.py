"""`radiovisual study`: each of the five §6.2 studies end to end at smoke size on the toy store (one shared OUT,
so the zero-override points are pretrained once and reused across studies, as in real use)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from radiovisual.errors import ConfigError
from radiovisual.study import build_study_config, run_study

# the toy store's 48 train pairs: batch 16 and K = 32; no label-free re-pretraining (seconds matter here)
TINY = ["pretrain.train.batch_size=16", "pretrain.loss.queue_size=32", "pretrain.train.epochs=3",
        "pretrain_retries=0", "localise.epochs=2", "study.min_subset=6"]


@pytest.fixture(scope="module")
def shared(toy_dataset, tmp_path_factory):
    return {"data": str(toy_dataset), "out": tmp_path_factory.mktemp("study") / "out"}


def _run(shared, name, sets=(), seeds=1):
    bench, study = build_study_config("smoke", None, TINY + list(sets), {"data": shared["data"], "seeds": seeds})
    lines: list[str] = []
    entry = run_study(name, bench, study, shared["out"], log=lines.append)
    return entry, lines


def _check_written(out, name, entry):
    doc = json.loads((out / "study.json").read_text())
    assert doc["studies"][name]["points"] == json.loads(json.dumps(entry["points"]))
    assert (out / entry["figure"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "study.html").read_text()
    assert f"id='{name}'" in page and "data:image/png;base64," in page
    assert doc["studies"][name]["config"]["tree"]["pretrain"]["train"]["epochs"] == 3   # resolved config saved


def test_backbones_then_reuse(shared):
    entry, lines = _run(shared, "backbones", ["study.backbone_methods=[mcl,scl]"])
    rows = {r["series"]: r for r in entry["summary"]}
    assert set(rows) == {"mcl", "scl", "supervised"}
    for r in rows.values():
        assert np.isfinite(r["p50"]) and r["p90"] >= r["p50"] > 0
    assert rows["mcl"]["D_W angle"] >= 0 and "D_W angle" not in rows["supervised"]
    assert sum(ln.startswith("[study backbones] ") and "/3 " in ln for ln in lines) == 3   # one line per point
    _check_written(shared["out"], "backbones", entry)
    # a rerun reuses every finished stage: same numbers, the pretraining untouched
    ck = shared["out"] / "pretrain" / "mcl" / "seed0" / "done.json"
    t = ck.stat().st_mtime_ns
    again, _ = _run(shared, "backbones", ["study.backbone_methods=[mcl,scl]"])
    assert again["points"] == entry["points"] and ck.stat().st_mtime_ns == t


def test_label_density_nested_subsets(shared):
    entry, _ = _run(shared, "label-density", ["study.density_methods=[supervised,mcl]", "study.fractions=[0.25,1.0]"])
    pts = {(p["series"], p["x"]): p["metrics"] for p in entry["points"]}
    assert set(pts) == {("supervised", 25.0), ("supervised", 100.0), ("mcl", 25.0), ("mcl", 100.0)}
    assert pts[("mcl", 25.0)]["n_train_labels"] == 12 and pts[("mcl", 100.0)]["n_train_labels"] == 48
    # the 100 % MCL point is the backbones study's localiser (same stage, reused)
    assert pts[("mcl", 100.0)]["localiser"].endswith("localise/mcl/seed0")
    sub = json.loads((shared["out"] / "localise" / "mcl" / "n12-seed0" / "config.json").read_text())
    assert sub["n_fit"] + sub["n_holdout"] == 12 and sub["label_free"] is True
    _check_written(shared["out"], "label-density", entry)


def test_mask_offset_with_seeds(shared):
    entry, lines = _run(shared, "mask-offset", ["study.offsets=[-1,0]"], seeds=2)
    assert [(p["x"], p["seed"]) for p in entry["points"]] == [(-1, 0), (-1, 1), (0, 0), (0, 1)]
    assert entry["points"][0]["overrides"] == {"pretrain.loss.mask_pad_px": -1}
    eroded = [p for p in (shared["out"] / "points").glob("pad-1-*/pretrain/mcl/seed0/config.json")]
    assert json.loads(eroded[0].read_text())["config"]["loss"]["mask_pad_px"] == -1
    rows = {r["x"]: r for r in entry["summary"]}
    assert rows[0]["n_seeds"] == 2 and "D_W angle std" in rows[0]          # error bars with --seeds
    assert 0 < rows[-1]["train masks non-empty"] <= rows[0]["train masks non-empty"] == 1.0   # erosion shrinks
    _check_written(shared["out"], "mask-offset", entry)


def test_dimensionality(shared):
    entry, _ = _run(shared, "dimensionality", ["study.channels=[8,16]", "study.dim_methods=[mcl]"])
    series = {(r["series"], r["x"]) for r in entry["summary"]}
    assert series == {("mcl", 8), ("mcl", 16), ("mcl proj 2x", 16)}
    proj = next(p for p in entry["points"] if p["series"] == "mcl proj 2x")
    assert proj["overrides"] == {"pretrain.loss.proj_hidden": 64, "pretrain.loss.proj_dim": 32}
    assert all(np.isfinite(r["D_W range"]) and np.isfinite(r["D_W angle"]) for r in entry["summary"])
    _check_written(shared["out"], "dimensionality", entry)


def test_detector_masks(shared):
    sets = ["study.detector_methods=[mcl]", "study.detector_sets=[epochs=6,width=8,depth=2,lr=5e-3]",
            "study.detector_boxes=true"]
    entry, lines = _run(shared, "detector-masks", sets)
    assert {r["series"] for r in entry["summary"]} == {"mcl", "mcl (detector masks)", "mcl (detector boxes)"}
    b = next(p for p in entry["points"] if p["series"] == "mcl (detector boxes)")
    assert b["overrides"]["pretrain.loss.mask_source"].startswith("pred-bbox:")
    det = entry["extra"]["detector_val"]
    assert 0 <= det["map50"] <= 1 and 0 <= det["mask_iou_mean"] <= 1 and 0 <= det["wrong_object_rate"] <= 1
    p = next(p for p in entry["points"] if p["series"] == "mcl (detector masks)")
    assert p["overrides"]["pretrain.loss.mask_source"].startswith("pred:")
    assert (shared["out"] / "detect" / "done.json").is_file() and any("mAP@0.5" in ln for ln in lines)
    _check_written(shared["out"], "detector-masks", entry)
    # every study run into OUT keeps its entry and its section (the earlier tests' studies, in file order)
    doc = json.loads((shared["out"] / "study.json").read_text())
    page = (shared["out"] / "study.html").read_text()
    assert "detector-masks" in doc["studies"] and all(f"id='{n}'" in page for n in doc["studies"])


def test_bad_input_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="study.fractions"):
        build_study_config("smoke", None, ["study.fractions=[0,1]"])
    with pytest.raises(ConfigError, match="unknown config key 'study.nope'"):
        build_study_config("smoke", None, ["study.nope=1"])
    r = subprocess.run([sys.executable, "-m", "radiovisual.cli.main", "study", "nope", "--preset", "smoke",
                        "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "unknown study 'nope'" in r.stderr


def test_detector_masks_too_few_detections_skips_rows_and_says_why(shared):
    """A detector that finds no target (one training step of a width-2 net) cannot feed masked pretraining: the
    study finishes with the ground-truth-mask rows and records why the detector rows are missing."""
    out = shared["out"].parent / "weak"
    bench, study = build_study_config("smoke", None, TINY + [
        "study.detector_methods=[mcl]", "study.detector_sets=[epochs=1,width=2,depth=1,max_train=2,threshold=0.99]"],
        {"data": shared["data"], "seeds": 1})
    lines: list[str] = []
    entry = run_study("detector-masks", bench, study, out, log=lines.append)
    assert {r["series"] for r in entry["summary"]} == {"mcl"}
    why = entry["extra"]["skipped"]["* (detector masks)"]
    assert "train images" in why and "needs 48" in why and "study.detector_sets" in why
    assert any("rows skipped" in ln for ln in lines) and any("skipped" in n for n in entry["notes"])


def test_smoke_detector_masks_study_finishes_on_a_smoke_store(tmp_path):
    """Issue 23: `study detector-masks --preset smoke` stopped with "0 usable samples": the smoke detector (2
    epochs) predicted empty masks on the 18 train images of `synth --preset smoke`. The smoke detector now finds
    the target in enough of them to pretrain, and the detector rows are there."""
    cli = [sys.executable, "-m", "radiovisual.cli.main"]
    data, out = tmp_path / "data", tmp_path / "study"
    r = subprocess.run(cli + ["synth", "--preset", "smoke", "--out", str(data), "--quiet"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    r = subprocess.run(cli + ["study", "detector-masks", "--preset", "smoke", "--data", str(data), "--out", str(out),
                              "--set", "study.detector_methods=[mcl]"], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    entry = json.loads((out / "study.json").read_text())["studies"]["detector-masks"]
    assert {p["series"] for p in entry["points"]} == {"mcl", "mcl (detector masks)"}
    assert "skipped" not in entry["extra"] and entry["extra"]["detector_val"]["miss_rate"] < 0.5
