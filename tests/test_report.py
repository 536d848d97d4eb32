"""Report figures and the self-contained HTML/Markdown renderer."""

from __future__ import annotations

import re

import numpy as np
import torch

from radiovisual.report import plots, render


def _metrics():
    dev = {"range": {"D_W": 1.23, "D_KL": 0.4, "MI": 1.1}, "angle": {"D_W": 12.5, "D_KL": 0.3, "MI": 0.9}}
    return {
        "supervised": {"p50_m": 0.31, "p90_m": 0.95, "p50_std_m": 0.02, "p90_std_m": 0.04, "n_seeds": 3,
                       "label_free": False, "genie": False},
        "mcl": {"p50_m": {"mean": 0.94, "std": 0.016}, "p90_m": {"mean": 4.68, "std": 0.158}, "n_seeds": 3,
                "label_free": True, "genie": False, "selflabel": {"train": dev, "val": dev}},
        "cfar-genie": {"p50_m": 2.7, "p90_m": 8.06, "label_free": False, "genie": True},
    }


def test_report_files_and_self_contained_html(toy_dataset, tmp_path):
    from radiovisual.dataset.format import open_dataset
    from radiovisual.pretrain.backbones import SpatialBackbone
    from radiovisual.selflabel import load_labels, run_selflabel

    rng = np.random.default_rng(0)
    figs = {"Localisation error CDF": plots.error_cdf(
        {"Supervised": rng.gamma(2, 0.2, 200), "MCL": rng.gamma(2, 0.6, 200)}, tmp_path / "f" / "cdf.png")}
    ds = open_dataset(toy_dataset)
    val = ds.split("val")
    idx = np.arange(3)
    gt = val.read("target_polar")[idx]
    figs["Examples"] = plots.example_pairs(val.read("image", idx), val.read("mask", idx), val.read("radar", idx),
                                           ds.range_bins_m, ds.azimuth_bins_rad, gt, gt + 0.05, gt - 0.05,
                                           tmp_path / "f" / "ex.png")
    torch.manual_seed(0)
    kw = dict(channels=8, widths=(8, 8), blocks=1, coord_channels=True, groups=4)
    bbs = (SpatialBackbone(1, **kw).eval(), SpatialBackbone(3, **kw).eval(), {"stride": [4, 4]})
    sl = run_selflabel(bbs, toy_dataset, split="val", out=tmp_path / "sl.zarr", export_attention=3, progress=False)
    assert load_labels(sl).shape == (len(val), 2)
    figs["Attention"] = plots.attention_grid(sl, toy_dataset, tmp_path / "f" / "att.png")
    for p in figs.values():
        assert p.is_file() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000

    md, html = render.write_report(tmp_path, _metrics(), figs, ["Machine: test box, 2 cores.", "Timings: a 1 s"])
    text, page = md.read_text(), html.read_text()
    assert "| MCL | yes | no | 0.940 ± 0.016 | 4.680 ± 0.158 | 3.03× | 4.93× | 3 | 1 |" in text
    assert "| Supervised | no | no | 0.310 ± 0.020 | 0.950 ± 0.040 | 1.00× | 1.00× | 3 | ref |" in text
    assert "| CFAR (genie) | no | yes | 2.700 | 8.060 | 8.71× | 8.48× | 1 | ref |" in text
    assert text.index("Best label-free method: MCL, p50 0.940 m = 3.03× Supervised") < text.index("| Method |")
    assert "ground-truth" in text and "Machine: test box" in text and "f/cdf.png" in text
    assert "Self-label deviation" in text and "12.50" in text
    # self-contained: every image inlined, no external resources
    srcs = re.findall(r'src="([^"]+)"', page)
    assert len(srcs) == 3 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(href|src)="(https?:)?//', page) and "<link" not in page
    assert "genie" in page.lower() and "upper bound" in page


def test_ties_are_called_inside_the_spread():
    from radiovisual.report import summary as S

    def row(p50, std=None, seeds=3):
        return {"p50_m": p50, "p90_m": 2 * p50, "p50_std_m": std, "n_seeds": seeds, "label_free": True}

    m = {"supervised": {**row(0.20, 0.02), "label_free": False}, "mcl": row(0.285, 0.01), "mcl+track": row(0.283, 0.01),
         "rodnet": row(0.297, 0.012), "peak": row(0.95, None, 1)}
    v = S.verdict(m)
    assert v.best == "mcl+track" and v.tied == ["mcl", "rodnet"] and v.rank["peak"] == "4"
    assert v.rank["mcl+track"] == v.rank["mcl"] == v.rank["rodnet"] == "=1" and not v.ties_supervised
    assert "√(s₁² + s₂²)" in v.spread["text"]
    # one seed: the yardstick is Supervised's bootstrap spread over validation samples, the same for every pair
    one = {k: {**r, "n_seeds": 1, "p50_std_m": None} for k, r in m.items()}
    rng = np.random.default_rng(0)
    wide = S.verdict(one, {"supervised": rng.gamma(2, 0.3, 300)})
    narrow = S.verdict(one, {"supervised": np.full(300, 0.2)})
    assert wide.spread["kind"] == "bootstrap" and wide.spread["sigma_m"] > 0.015 and "bootstrap" in wide.spread["text"]
    assert wide.tied == ["mcl", "rodnet"] and narrow.tied == [] and narrow.rank["mcl"] == "2"


def _copy_run(src, dst):
    """The parts of a finished benchmark its report reads (the dataset stays where metrics.json says)."""
    import shutil

    dst.mkdir()
    for name in ("metrics.json", "val_errors.npz"):
        shutil.copy2(src / name, dst / name)
    for d in ("selflabels", "localise"):
        shutil.copytree(src / d, dst / d)
    return dst


def test_smoke_report_answers_who_wins(smoke_bench, tmp_path):
    import json

    from radiovisual.pipeline.report import rebuild_report

    out = _copy_run(smoke_bench.out, tmp_path / "run")
    res = json.loads((out / "metrics.json").read_text())
    for row in res["metrics"].values():          # all healthy first: no flag
        for r in row.get("kept_runs", []):
            r["healthy"] = True
    (out / "metrics.json").write_text(json.dumps(res))
    md, html = rebuild_report(out)
    page = html.read_text()
    assert html.stat().st_size < 1.5e6
    assert "p50 / Sup." in page and "<td>1.00×</td>" in page and "Best label-free method" in page
    assert "Health check" not in page and "⚠" not in page
    grids = re.findall(r'alt="Cross-modal attention of ([^"(]+)\(', page)
    assert len(grids) == 1 and "MCL, MCL+track" in grids[0]         # one grid per distinct read-out
    assert "Eq. 2" not in grids[0] and "self-calibration" in page
    assert (out / "figures" / "examples_mcl.jpg").is_file() and "validation index and both errors" in page
    assert "What the numbers rest on" in page and "Config hash" in page and "Wall time per stage" in page
    assert "Scenario suburban" in page                                # by_scenario as a table
    srcs = re.findall(r'src="data:(image/[a-z]+);base64,', page)
    assert "image/jpeg" in srcs and all(s in ("image/png", "image/jpeg") for s in srcs)

    # a forced failure of the label-free health check is flagged on the first screen and in the row
    res["metrics"]["mcl"]["kept_runs"][0]["healthy"] = False
    res["metrics"]["mcl"]["health_train_seed0"] = {"ok": False, "failed": ["range"], "checks": {"range": {
        "value": -0.1, "threshold": -0.5, "what": "rank correlation of mask foot row and return range <= threshold"}}}
    page = render.write_report(tmp_path / "flagged", res["metrics"], {}, [])[1].read_text()
    assert page.index("health check failed") < page.index("<table>")
    assert "MCL ⚠ health" in page and "range -0.1 (needs &lt;= -0.5)" in page
    assert "MCL+track ⚠ health" not in page


def test_readme_block_is_generated_from_metrics_json(smoke_bench, tmp_path):
    import json
    import subprocess
    import sys

    from radiovisual.report import readme

    readme_md = tmp_path / "README.md"
    readme_md.write_text(f"# title\n\nintro\n\n{readme.BEGIN}\nold numbers 0.123\n{readme.END}\n\n## after\n")
    cmd = [sys.executable, "-m", "radiovisual.cli.main", "report", str(smoke_bench.out), "--readme", str(readme_md)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-1500:]
    text = readme_md.read_text()
    assert text.startswith("# title\n\nintro\n\n") and text.endswith("\n\n## after\n") and "0.123" not in text
    res = json.loads((smoke_bench.out / "metrics.json").read_text())
    m = res["metrics"]
    assert f"| {m['supervised']['p50_m']:.3f} | {m['supervised']['p90_m']:.3f} | 1.00× | 1.00× |" in text
    assert f"{m['mcl']['p50_m']:.3f}" in text and "vary across processors" in text
    assert res["provenance"]["cpu_model"] in text and "One seed" in text
    subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)
    assert readme_md.read_text() == text                        # the same run gives the same block
    # mean ± std when seeds > 1
    res["config"]["seeds"] = 3
    res["metrics"] = {"supervised": {"p50_m": 0.2, "p50_std_m": 0.02, "p90_m": 0.4, "p90_std_m": 0.03, "n_seeds": 3,
                                     "label_free": False},
                      "mcl": {"p50_m": 0.3, "p50_std_m": 0.01, "p90_m": 0.6, "p90_std_m": 0.05, "n_seeds": 3,
                              "p50_worst_m": 0.31, "p90_worst_m": 0.66, "label_free": True}}
    block = readme.results_section(res)
    assert ("| **MCL** | yes | **0.300 ± 0.010** | **0.600 ± 0.050** | 1.50× | 1.50× | 0.310 / 0.660 |" in block
            and "3 seeds" in block and "worst seed p50 / p90 [m]" in block)
    # a README without markers: one line, exit 2, nothing written
    (tmp_path / "plain.md").write_text("# no markers\n")
    r = subprocess.run(cmd[:-1] + [str(tmp_path / "plain.md")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "no results markers" in r.stderr
    assert (tmp_path / "plain.md").read_text() == "# no markers\n"


def test_report_names_the_stores_scenario_not_the_configs(tmp_path):
    """`benchmark --data STORE` reports STORE's scenario (the config's default would say parking_lot)."""
    import zarr
    from types import SimpleNamespace

    from radiovisual.pipeline.report import _scenario

    cfg = SimpleNamespace(scenario="parking_lot")
    assert _scenario({"dataset": {"scenario": "street_canyon"}}, cfg) == "street_canyon"
    g = zarr.open_group(str(tmp_path / "store"), mode="w")
    g.attrs["scenario"] = "suburban"                       # an older metrics.json: read from the store
    assert _scenario({"dataset": {"path": str(tmp_path / "store")}}, cfg) == "suburban"
    assert _scenario({"dataset": {"path": str(tmp_path / "gone")}}, cfg) == "parking_lot"


def test_readme_block_lists_each_scenario_of_a_mix_and_the_held_out_store():
    from radiovisual.report import readme

    row = lambda a, b: {"p50_m": a, "p90_m": b, "n_seeds": 1}          # noqa: E731
    res = {"config": {"preset": "quick", "seeds": 1}, "dataset": {"scenario": "mix"},
           "metrics": {"supervised": {**row(0.5, 1.0), "label_free": False}, "mcl": {**row(0.6, 1.2), "label_free": True}},
           "by_scenario": {"parking_lot": {"supervised": row(0.4, 0.9), "mcl": row(0.45, 1.1)},
                           "suburban": {"supervised": row(0.6, 1.1)}},
           "eval_data": {"path": "runs/qdata/street_canyon", "scenario": "street_canyon",
                         "metrics": {"mcl": row(1.7, 4.7), "supervised": row(2.0, 5.5)}}}
    block = readme.results_section(res)
    assert "| Method | parking_lot | suburban |" in block
    assert "| MCL | 0.450 / 1.100 | – |" in block                     # a row a scenario lacks shows a dash
    assert "`runs/qdata/street_canyon` (street_canyon, val)" in block and "| MCL | 1.700 / 4.700 |" in block


def test_report_discloses_labels_from_the_moving_return_fallback():
    from radiovisual.report.render import fallback_notes

    m = {"mcl": {"kept_runs": [{"seed": 0, "run": "seed0", "healthy": True, "range_source": "attention"},
                               {"seed": 1, "run": "seed1", "healthy": True, "range_source": "doppler"}]},
         "supervised": {}}
    notes = fallback_notes(m)
    assert len(notes) == 1 and notes[0].startswith("MCL: the self-labels of seed 1 come from the moving-return")
    assert fallback_notes({"mcl": {"kept_runs": [{"seed": 0, "range_source": "attention"}]}}) == []
