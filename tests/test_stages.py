"""The stage contract (StageDir), the config tree (`radiovisual config`) and chunk integrity."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml

from radiovisual.errors import ConfigError, DatasetError
from radiovisual.utils.stage import StageChangedError, StageDir


# --------------------------------------------------------------------------- StageDir

def _make(path, cfg, inputs, force=False):
    sd = StageDir(path, "demo", cfg, inputs, force=force)
    if sd.done:
        return sd, False
    sd.begin()
    (path / "out.txt").write_text(json.dumps(cfg))
    sd.finish({"n": 1})
    return sd, True


def test_stagedir_reuse_refuse_force(tmp_path):
    d = tmp_path / "s"
    inputs = {"data": {"path": "/a", "fingerprint": "f1"}}
    sd, ran = _make(d, {"epochs": 20}, inputs)
    assert ran and sd.summary()["n"] == 1 and sd.summary()["spec"]["config"] == {"epochs": 20}
    assert _make(d, {"epochs": 20}, dict(inputs))[1] is False  # same key: reused, nothing rerun
    with pytest.raises(StageChangedError) as e:  # changed config: one line naming the change
        _make(d, {"epochs": 3}, inputs)
    msg = str(e.value)
    assert "\n" not in msg and "config.epochs 20 -> 3" in msg and "--force" in msg
    with pytest.raises(StageChangedError, match="inputs.data.path /a -> /b"):  # another dataset path
        _make(d, {"epochs": 20}, {"data": {"path": "/b", "fingerprint": "f1"}})
    with pytest.raises(StageChangedError, match="inputs.data.fingerprint f1 -> f2"):  # same path, new data
        _make(d, {"epochs": 20}, {"data": {"path": "/a", "fingerprint": "f2"}})
    sd, ran = _make(d, {"epochs": 3}, inputs, force=True)
    assert ran and json.loads((d / "out.txt").read_text()) == {"epochs": 3}
    assert json.loads((d / "done.json").read_text())["key"] == sd.key


def test_stagedir_crash_between_write_and_finish_leaves_no_done(tmp_path):
    d = tmp_path / "s"
    sd = StageDir(d, "demo", {"a": 1}, {"x": 1})
    assert not sd.done
    sd.begin()
    (d / "partial.bin").write_bytes(b"half")  # ... and then the process dies before finish()
    assert not (d / "done.json").exists()
    again = StageDir(d, "demo", {"a": 1}, {"x": 1})
    assert not again.done  # same key: resumable, not done
    with pytest.raises(StageChangedError, match="unfinished"):  # another key meets the half-made run
        StageDir(d, "demo", {"a": 2}, {"x": 1}).check()
    again.begin()
    again.finish()
    assert StageDir(d, "demo", {"a": 1}, {"x": 1}).done


# --------------------------------------------------------------------------- config tree

def test_config_yaml_roundtrip_every_stage_and_tree(tmp_path, capsys):
    from radiovisual.cli.config import STAGES, stage_table
    from radiovisual.cli.main import main

    for stage in STAGES:
        preset = ["--preset", "smoke"] if "smoke" in stage_table([stage])[stage][1] else []
        assert main(["config", "--stage", stage, *preset]) == 0
        text = capsys.readouterr().out
        f = tmp_path / f"{stage}.yaml"
        f.write_text(text)
        assert main(["config", "--stage", stage, "--config", str(f)]) == 0
        assert capsys.readouterr().out == text, stage  # YAML -> resolve -> YAML
    # no --stage: the benchmark's whole tree, stage subtrees with the stages' own keys
    assert main(["config", "--preset", "quick", "--set", "localise.epochs=7", "--set", "cfar.pfa=1e-4"]) == 0
    text = capsys.readouterr().out
    tree = yaml.safe_load(text)
    assert {"synth", "pretrain", "selflabel", "localise", "cfar", "teacher", "methods", "seed"} <= set(tree)
    assert tree["localise"]["epochs"] == 7 and tree["cfar"]["pfa"] == 1e-4
    assert tree["pretrain"]["train"]["epochs"] == 30   # the quick pretrain preset, composed by name
    f = tmp_path / "tree.yaml"
    f.write_text(text)
    assert main(["config", "--config", str(f)]) == 0 and capsys.readouterr().out == text
    assert main(["config", "--stage", "benchmark", "--config", str(f)]) == 0 and capsys.readouterr().out == text


@pytest.mark.parametrize("argv, needle", [
    (["config", "--set", "localise.nope=1"], "unknown config key 'localise.nope'"),
    (["config", "--set", "nostage.x=1"], "unknown config key 'nostage'"),
    (["config", "--stage", "rodnet", "--set", "car_half_depth_m=1"], "unknown config key 'car_half_depth_m'"),
    (["config", "--stage", "localise", "--set", "epochs=zero"], "epochs"),
    (["config", "--preset", "nope"], "unknown preset 'nope'"),
])
def test_config_errors_are_one_line(argv, needle, capsys):
    from radiovisual.cli.main import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("radiovisual: error:") and needle in err[0]


def test_teacher_cfar_windows_are_the_cfar_presets():
    from radiovisual.baselines.cfar_pipeline import resolve_cfar_config
    from radiovisual.baselines.rodnet import resolve_rodnet_config
    from radiovisual.localise import resolve_localise_config

    for p in ("smoke", "quick", "paper"):
        r = resolve_rodnet_config(p)
        assert r.teacher.cfar == resolve_cfar_config(p) and r.localise == resolve_localise_config(p)
    assert resolve_cfar_config("paper").guard_range != resolve_cfar_config("quick").guard_range


# --------------------------------------------------------------------------- localise CLI: --config, label_free

@pytest.fixture(scope="module")
def loc_data(tmp_path_factory):
    from radiovisual.dataset.toy import make_toy_dataset

    return make_toy_dataset(tmp_path_factory.mktemp("stg") / "toy.zarr", n_train=24, n_val=8, n_test=2, seed=5)


def _label_store(path, polar, label_free):
    import zarr

    g = zarr.open_group(str(path), mode="w", zarr_format=3)
    a = g.create_array("polar", shape=polar.shape, dtype="float32", chunks=polar.shape)
    a[...] = polar.astype(np.float32)
    g.attrs.update({"label_free": label_free})
    return path


def test_localise_config_yaml_set_and_label_free_from_store(loc_data, tmp_path, capsys):
    from radiovisual.cli.main import main
    from radiovisual.dataset.format import open_dataset

    cfg = tmp_path / "loc.yaml"
    assert main(["config", "--stage", "localise", "--preset", "smoke", "--set", "epochs=1"]) == 0
    cfg.write_text(capsys.readouterr().out)
    polar = open_dataset(loc_data).split("train").read("target_polar") + 0.2
    free, notfree = _label_store(tmp_path / "a.zarr", polar, True), _label_store(tmp_path / "b.zarr", polar, False)
    out = tmp_path / "run"
    base = ["localise", str(loc_data), "--out", str(out), "--config", str(cfg), "--no-progress"]
    assert main([*base, "--labels", str(free), "--set", "width=4"]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["config"]["epochs"] == 1 and saved["config"]["width"] == 4  # YAML, then --set on top
    assert json.loads((out / "metrics.json").read_text())["label_free"] is True  # the store's own attribute
    # same run dir, other config: refused in one line naming the change; --force retrains
    assert main([*base, "--labels", str(free)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "config.width 4 -> 8" in err[0]
    assert main([*base, "--labels", str(notfree), "--force"]) == 0
    assert json.loads((out / "config.json").read_text())["config"]["width"] == 8
    assert json.loads((out / "metrics.json").read_text())["label_free"] is False  # not from labels != "gt"


def test_localise_refuses_another_dataset_in_the_same_run_dir(loc_data, tmp_path):
    from radiovisual.localise import train_localiser

    other = tmp_path / "copy.zarr"
    shutil.copytree(loc_data, other)
    out = train_localiser(loc_data, "gt", tmp_path / "r", preset="smoke", overrides=["epochs=1"], progress=False)
    with pytest.raises(StageChangedError, match="inputs.data.path"):
        train_localiser(other, "gt", out, preset="smoke", overrides=["epochs=1"], progress=False)


# --------------------------------------------------------------------------- integrity

def test_truncated_chunk_is_one_line_and_verify_lists_it(loc_data, tmp_path, capsys):
    from radiovisual.cli.main import main
    from radiovisual.dataset.format import open_dataset

    bad = tmp_path / "bad.zarr"
    shutil.copytree(loc_data, bad)
    assert main(["info", "--verify", str(bad)]) == 0
    assert "every chunk reads back intact" in capsys.readouterr().out
    chunk = next(p for p in (bad / "val" / "radar").rglob("*") if p.is_file() and p.name != "zarr.json")
    chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])
    with pytest.raises(DatasetError) as e:
        open_dataset(bad, labels=False).split("val").read("radar", slice(2, 5))
    msg = str(e.value)
    assert "\n" not in msg and str(bad) in msg and "'val/radar'" in msg and "index 2" in msg
    open_dataset(bad, labels=False).split("train").read("radar")  # other arrays still read
    assert main(["info", "--verify", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "DAMAGED" in out and "val/radar [0-7]" in out
    assert main(["info", "--verify", "--json", str(bad)]) == 1
    assert json.loads(capsys.readouterr().out)["damaged"] == {"val/radar": list(range(8))}
    assert main(["cfar", str(bad)]) == 2  # any stage: one line, non-zero exit
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if "%|" not in ln]  # minus progress bars
    assert len(err) == 1 and err[0].startswith("radiovisual: error:") and "damaged at index 0" in err[0]


def test_config_error_types():
    from radiovisual.pipeline.config import build_benchmark_config

    assert build_benchmark_config("paper").localise.epochs == 80
    with pytest.raises(ConfigError, match="expected a mapping"):
        build_benchmark_config(None, overrides=["localise=3"])
    with pytest.raises(ConfigError, match="'pretrain_overrides' is gone.*pretrain.<field>"):
        build_benchmark_config("smoke", overrides=["pretrain_overrides=[loss.queue_size=8]"])


def test_label_free_stages_do_not_import_the_scorer():
    import subprocess
    import sys

    code = ("import sys, radiovisual.localise, radiovisual.baselines.rodnet, radiovisual.baselines.cfar_pipeline; "
            "print('radiovisual.evaluate.score' in sys.modules, 'radiovisual.evaluate.metrics' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-500:]
    assert r.stdout.split() == ["False", "False"]


def test_stagedir_refuses_a_pre_contract_done_json(tmp_path):
    d = tmp_path / "old"
    d.mkdir()
    (d / "done.json").write_text(json.dumps({"key": "0123456789abcdef"}))  # the old localise marker
    with pytest.raises(StageChangedError, match="no stage spec"):
        StageDir(d, "localise", {"a": 1}, {}).check()
    assert not StageDir(d, "localise", {"a": 1}, {}, force=True).done and not (d / "done.json").exists()


def test_one_jsonable_helper(tmp_path):
    from pathlib import Path

    from radiovisual.dataset.format import _jsonable
    from radiovisual.utils.io import jsonable, write_json

    x = {"a": np.float32(1.5), "b": (np.int64(2), np.arange(2)), "c": float("nan"), "d": Path("/x")}
    assert jsonable(x) == {"a": 1.5, "b": [2, [0, 1]], "c": None, "d": "/x"} and _jsonable is jsonable
    write_json(tmp_path / "m.json", {"p50_m": float("nan"), "v": np.float64(0.25)})
    assert "NaN" in (tmp_path / "m.json").read_text()  # a NaN metric stays visible in write_json
