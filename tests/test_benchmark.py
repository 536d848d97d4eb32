"""End-to-end: the smoke benchmark runs every stage on a real (tiny) Sionna/Mitsuba dataset."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np


def test_smoke_benchmark_end_to_end_and_reuse(smoke_bench, tmp_path):
    # --scenario mix: the three scenarios in one store, per sequence, scored per scenario as well
    # (the run itself is the session fixture in conftest.py, shared with the API, docs and report tests)
    out, cmd, r = smoke_bench.out, smoke_bench.cmd, smoke_bench.proc
    res = json.loads((out / "metrics.json").read_text())
    m = res["metrics"]
    assert set(m) == {"supervised", "mcl", "mcl+track", "peak", "cfar-genie", "cfar", "rodnet"}
    for name, row in m.items():
        assert np.isfinite(row["p50_m"]) and row["p90_m"] >= row["p50_m"] >= 0, name
    assert m["supervised"]["label_free"] is False and m["cfar-genie"]["genie"] is True
    assert m["mcl"]["label_free"] is True and set(m["mcl"]["selflabel"]) == {"train", "val"}
    assert m["peak"]["label_free"] is True and "selflabel" not in m["peak"]
    import zarr

    kept = m["mcl+track"]["kept_runs"][0]["run"]        # seed0, or seed0-retryK when the health probe restarted it
    attrs = dict(zarr.open_group(str(out / "selflabels" / f"mcl+track-{kept}-train.zarr"), mode="r").attrs)
    assert attrs["label_free"] is True and attrs["method"] == "mcl+track" and "track" in attrs["stages"]
    assert attrs["stage_final"] == "centre" and set(attrs["health"]["checks"]) == {"azimuth", "range", "map"}
    sid = {int(i) for i in zarr.open_group(str(out / "data" / "val"), mode="r")["scenario_id"][...]}
    assert sid == {0, 1, 2} and set(res["by_scenario"]) == {"parking_lot", "suburban", "street_canyon"}
    for block in res["by_scenario"].values():
        assert set(block) == set(m) and all(np.isfinite(b["p50_m"]) for b in block.values())
    assert all(r["run"].startswith("seed0") for r in m["mcl"]["kept_runs"])
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "genie" in html.lower()
    assert "Supervised" in r.stdout and "report.html" in r.stdout
    # a re-run reuses every finished stage (no re-synthesis, no re-training) and gives the same numbers
    data_files = {p: p.stat().st_mtime_ns for p in (out / "data").rglob("*") if p.is_file()}
    # ... and --eval adds the representation evaluation of the (reused) pretraining without moving any row
    r2 = subprocess.run(cmd + ["--eval", "retrieval"], capture_output=True, text=True, timeout=600)
    assert r2.returncode == 0, r2.stderr[-2000:]
    res2 = json.loads((out / "metrics.json").read_text())
    rec = res2["representation"]["mcl"]["retrieval"]["exact"]["radar_to_image"]["recall"]
    assert 0.0 <= rec["1"] <= rec["5"] <= 1.0
    assert "Retrieval (mcl, val)" in (out / "report.html").read_text()
    # no timing assert (flaky on a loaded machine): the dataset's files are simply not rewritten
    assert {p: p.stat().st_mtime_ns for p in (out / "data").rglob("*") if p.is_file()} == data_files
    for name in m:
        assert res2["metrics"][name]["p50_m"] == m[name]["p50_m"]
    # a changed stage config in the same --out is refused in one line naming the key, nothing rewritten
    r3 = subprocess.run(cmd + ["--set", "localise.epochs=2"], capture_output=True, text=True, timeout=600)
    assert r3.returncode == 2 and "config.epochs 3 -> 2" in r3.stderr and r3.stderr.strip().count("\n") == 0
    _set_reaches_every_stage(out / "data", tmp_path / "sets")


def _set_reaches_every_stage(data, out):
    """`benchmark --set <stage>.<key>` (the key of `<stage> --set <key>`) lands in that stage's saved config."""
    sets = ["pretrain.train.batch_size=4", "pretrain.loss.queue_size=4", "pretrain.train.epochs=2",
            "selflabel.centroid_db=5", "localise.epochs=2", "cfar.pfa=1e-4", "teacher.gate_sigma=2.5",
            "pretrain_retries=0"]
    # --eval-data scores every localiser on another store's val; on the same store it must repeat the table
    cmd = [sys.executable, "-m", "radiovisual.cli.main", "benchmark", "--preset", "smoke", "--data", str(data),
           "--out", str(out), "--methods", "mcl", "--baselines", "cfar,rodnet", "--no-progress",
           "--eval-data", str(data)]
    r = subprocess.run(cmd + [a for s in sets for a in ("--set", s)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    import zarr

    pre = json.loads((out / "pretrain" / "mcl" / "seed0" / "config.json").read_text())["config"]
    assert pre["loss"]["queue_size"] == 4 and pre["train"]["batch_size"] == 4 and pre["train"]["epochs"] == 2
    assert pre["method"] == "mcl" and pre["backbone"]["channels"] == 16          # + the smoke preset
    sl = dict(zarr.open_group(str(out / "selflabels" / "mcl-seed0-train.zarr"), mode="r").attrs)["config"]
    assert sl["centroid_db"] == 5
    for run in ("localise/mcl/seed0", "localise/supervised/seed0", "rodnet/seed0/student"):
        assert json.loads((out / run / "config.json").read_text())["config"]["epochs"] == 2, run
    assert json.loads((out / "rodnet" / "seed0" / "teacher" / "done.json").read_text())[
        "spec"]["config"]["gate_sigma"] == 2.5
    res = json.loads((out / "metrics.json").read_text())
    tree = res["config"]
    assert tree["cfar"]["pfa"] == 1e-4 and tree["pretrain"]["loss"]["queue_size"] == 4
    other = res["eval_data"]["metrics"]
    assert set(other) == {"supervised", "mcl", "rodnet"}
    for name, row in other.items():
        assert row["p50_m"] == res["metrics"][name]["p50_m"], name


def test_benchmark_bad_method_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "radiovisual.cli.main", "benchmark", "--preset", "smoke",
                        "--out", str(tmp_path / "b"), "--methods", "nope"], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "unknown method 'nope'" in r.stderr


def test_restart_rule_reads_label_free_proxies_only(tmp_path):
    from radiovisual.pipeline.run import proxies_ok
    from radiovisual.selflabel.health import label_health
    from radiovisual.selflabel.run import _write_labels

    arrays = {"polar": np.zeros((3, 2), np.float32)}
    beam = 0.11
    cases = (("good", {"rho_column_azimuth": 0.95, "rho_foot_range": -0.9, "map_sigma_rad": 0.03}, True),
             ("clutter", {"rho_column_azimuth": 0.1, "rho_foot_range": -0.9, "map_sigma_rad": 0.03}, False),
             ("other-range", {"rho_column_azimuth": 0.9, "rho_foot_range": 0.02, "map_sigma_rad": 0.03}, False),
             ("off-beam", {"rho_column_azimuth": 0.9, "rho_foot_range": -0.9, "map_sigma_rad": 0.2}, False),
             ("no-foot-rows", {"rho_column_azimuth": 0.9, "rho_foot_range": float("nan"), "map_sigma_rad": 0.03},
              True))
    for name, sig, ok in cases:
        h = label_health(sig, beam)
        assert h["ok"] is ok and (not ok) == bool(h["failed"]), name
        _write_labels(tmp_path / name, arrays, {"health": {"signals": sig, **h}})
        assert proxies_ok(tmp_path / name) is ok, name
    assert proxies_ok(tmp_path / "good", 0.02) is False      # an explicit extra residual limit applies too
    _write_labels(tmp_path / "paper", arrays, {"calibration": {"method": "stated backbone geometry"}})
    assert proxies_ok(tmp_path / "paper") is True      # not an MIL read-out: nothing to check


def test_presets_of_one_name_compose(tmp_path):
    """The smoke tree is the stages' own smoke presets: `synth --preset smoke` makes enough train samples for
    `pretrain --preset smoke` (the end-to-end test above runs exactly that chain)."""
    from radiovisual.dataset.config import resolve_synth_config
    from radiovisual.pipeline.config import build_benchmark_config
    from radiovisual.pretrain.config import resolve_pretrain_config

    cfg = build_benchmark_config("smoke")
    assert cfg.synth == resolve_synth_config("smoke", seed=0)
    assert cfg.pretrain_for("mcl", 0) == resolve_pretrain_config("mcl", "smoke", seed=0)
    p = cfg.pretrain.train.batch_size + cfg.pretrain.loss.queue_size
    assert p <= cfg.synth.splits.train
    assert cfg.selflabel_for("mcl+track", 3).track and cfg.selflabel_for("mcl+track", 3).seed == 3
    # the printed tree (`radiovisual config --preset smoke`) is what `benchmark --config tree.yaml` runs
    from radiovisual.config import to_yaml

    (tmp_path / "tree.yaml").write_text(to_yaml(cfg))
    assert build_benchmark_config(None, str(tmp_path / "tree.yaml")) == cfg
    seeded = build_benchmark_config("smoke", overrides=["seed=4", "n=24"])
    assert seeded.synth.seed == seeded.pretrain.seed == 4 and seeded.synth.splits.train == 12 and seeded.n == 0
