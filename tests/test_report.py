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
    assert "| MCL | yes | no | 0.940 ± 0.016 | 4.680 ± 0.158 | 3 |" in text
    assert "| Supervised | no | no | 0.310 ± 0.020 | 0.950 ± 0.040 | 3 |" in text
    assert "| CFAR (genie) | no | yes | 2.700 | 8.060 | 1 |" in text
    assert "ground-truth" in text and "Machine: test box" in text and "f/cdf.png" in text
    assert "Self-label deviation" in text and "12.50" in text
    # self-contained: every image inlined, no external resources
    srcs = re.findall(r'src="([^"]+)"', page)
    assert len(srcs) == 3 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(href|src)="(https?:)?//', page) and "<link" not in page
    assert "genie" in page.lower() and "upper bound" in page
