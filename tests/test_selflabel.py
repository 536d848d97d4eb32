"""Self-labelling: attention math on synthetic features, rescaling, refinement, calibration, the store."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radiovisual.errors import LabelAccessError, RadiovisualError
from radiovisual.selflabel.attention import (argmax_2d, cross_modal_attention, feature_to_heatmap,
                                             mask_to_feature_grid, refine_peak)
from radiovisual.selflabel.calibrate import receptive_field_centres, temporal_jitter


def test_attention_finds_planted_correlation():
    g = torch.Generator().manual_seed(0)
    B, C, h, w = 3, 16, 10, 12
    f_r = torch.randn(B, C, h, w, generator=g) * 0.3
    f_v = torch.randn(B, C, 7, 9, generator=g) * 0.3
    mask = torch.zeros(B, 1, 7, 9)
    targets = [(2, 3), (7, 10), (5, 0)]
    for b, (ti, tj) in enumerate(targets):
        pat = torch.randn(C, 2, 3, generator=g) * 3.0   # a 2x3-bin target pattern
        mi, mj = 3, 4                                     # where it sits in the visual map
        f_v[b, :, mi:mi + 2, mj:mj + 3] = pat
        mask[b, 0, mi:mi + 2, mj:mj + 3] = 1.0
        # plant it in the radio map so that the kernel centre (1, 1) of the 2x3 crop lands on (ti, tj)
        for di in range(2):
            for dj in range(3):
                r, c = ti + di - 1, tj + dj - 1
                if 0 <= r < h and 0 <= c < w:
                    f_r[b, :, r, c] = pat[:, di, dj]
    att = cross_modal_attention(f_r, f_v, mask)
    r, c, score = argmax_2d(att)
    assert [(int(a), int(b)) for a, b in zip(r, c)] == targets
    assert att.shape == (B, h, w) and torch.all(score > 0)


def test_attention_empty_mask_is_zero_map():
    att = cross_modal_attention(torch.randn(1, 4, 5, 5), torch.randn(1, 4, 5, 5), torch.zeros(1, 1, 5, 5))
    assert torch.all(att == 0)


def test_mask_grid_centred_windows():
    m = torch.zeros(1, 1, 16, 16)
    m[0, 0, 4, 8] = 1.0  # pixel (4, 8) belongs to the bin centred on it: stride 4 -> bin (1, 2)
    g = mask_to_feature_grid(m, (4, 4), stride=(4, 4))
    assert g.shape == (1, 1, 4, 4)
    assert torch.nonzero(g[0, 0]).tolist() == [[1, 2]]


def test_rescaling_exact():
    # nominal: bin n of a stride-s map covers [n s, (n+1) s) -> centre n s + (s-1)/2
    r, c = feature_to_heatmap(np.array([0.0, 1.0, 3.5]), np.array([0.0, 2.0, 0.25]), (16, 8), (128, 64))
    np.testing.assert_allclose(r, [3.5, 11.5, 31.5])
    np.testing.assert_allclose(c, [3.5, 19.5, 5.5])
    # explicit centres (stride*i + offset geometry) with linear extrapolation, clipped to the map
    rc = np.arange(16) * 8.0
    r, _ = feature_to_heatmap(np.array([2.25, -0.25, 15.5]), np.array([0.0, 0, 0]), (16, 8), (128, 64),
                              row_centres=rc, col_centres=np.arange(8) * 8.0)
    np.testing.assert_allclose(r, [18.0, 0.0, 124.0])


@pytest.mark.parametrize("true", [(4.3, 6.8), (5.0, 5.0), (3.62, 7.45)])
def test_parabolic_exact_on_quadratic_peak(true):
    h, w = 10, 12
    rr, cc = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                            indexing="ij")
    att = (10 - 0.7 * (rr - true[0]) ** 2 - 1.3 * (cc - true[1]) ** 2)[None]
    r, c = refine_peak(att, "parabolic")
    assert float(r) == pytest.approx(true[0], abs=1e-9) and float(c) == pytest.approx(true[1], abs=1e-9)
    r0, c0 = refine_peak(att, "none")
    assert (float(r0), float(c0)) == (round(true[0]), round(true[1]))


def test_softargmax_and_parabolic_on_gaussian_peak():
    h, w = 12, 12
    rr, cc = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                            indexing="ij")
    errs = {"parabolic": [], "softargmax": [], "none": []}
    for tr, tc in [(5.3, 6.2), (4.7, 5.9), (6.45, 4.1)]:
        att = torch.exp(-0.5 * ((rr - tr) ** 2 + (cc - tc) ** 2) / 1.2 ** 2)[None]
        for m in errs:
            r, c = refine_peak(att, m)
            errs[m].append(np.hypot(float(r) - tr, float(c) - tc))
    assert max(errs["parabolic"]) < 0.1          # near-exact on a smooth peak
    assert np.mean(errs["softargmax"]) < np.mean(errs["none"])  # better than the integer argmax
    assert max(errs["softargmax"]) < 0.5


def test_parabolic_no_shift_on_border():
    att = torch.zeros(1, 5, 5)
    att[0, 0, 4] = 1.0
    att[0, 1, 4] = 0.5
    r, c = refine_peak(att, "parabolic")
    assert (float(r), float(c)) == (0.0, 4.0)


def test_receptive_field_centres_of_pretrain_backbone():
    from radiovisual.pretrain.backbones import SpatialBackbone

    torch.manual_seed(0)
    bb = SpatialBackbone(1, channels=8, widths=(8, 8), blocks=1, coord_channels=True, groups=4).eval()
    x = torch.randn(4, 1, 64, 48)
    rf = receptive_field_centres(bb, x, stride=(4, 4), offset=(0.0, 0.0))
    assert rf["rows"].shape == (16,) and rf["cols"].shape == (12,)
    # a diagnostic, not an exact measurement: monotone and within one stride of the stated geometry
    # stride*i (GroupNorm leaks a global gradient that pulls the estimates towards the map centre)
    assert np.all(np.diff(rf["rows"][2:-2]) > 0) and np.all(np.diff(rf["cols"][2:-2]) > 0)
    np.testing.assert_allclose(rf["rows"][2:-2], np.arange(2, 14) * 4.0, atol=4.0)
    np.testing.assert_allclose(rf["cols"][2:-2], np.arange(2, 10) * 4.0, atol=4.0)


def test_temporal_jitter():
    seq = np.array([0, 0, 0, 0, 1, 1, 1])
    frm = np.array([0, 1, 2, 3, 0, 1, 2])
    smooth = np.stack([np.arange(7.0), np.zeros(7)], 1)
    assert temporal_jitter(smooth, seq, frm)["rms_m"] == pytest.approx(0.0)
    noisy = smooth.copy()
    noisy[1, 1] = 1.0
    j = temporal_jitter(noisy, seq, frm)
    assert j["n_triplets"] == 3 and j["rms_m"] > 0.5


def _tiny_backbones():
    from radiovisual.pretrain.backbones import SpatialBackbone

    torch.manual_seed(0)
    kw = dict(channels=8, widths=(8, 8), blocks=1, coord_channels=True, groups=4)
    return (SpatialBackbone(1, **kw).eval(), SpatialBackbone(3, **kw).eval(),
            {"stride": [4, 4], "offset": [0.0, 0.0], "loss": {"mask_pad_px": 0, "mask_source": "mask"}})


def test_run_selflabel_store(toy_dataset, tmp_path):
    from radiovisual.dataset.format import open_dataset
    from radiovisual.selflabel import load_labels, open_labels, run_selflabel

    out = run_selflabel(_tiny_backbones(), toy_dataset, split="train", out=tmp_path / "sl.zarr",
                        refine="auto", export_attention=4, progress=False)
    ds = open_dataset(toy_dataset, labels=False)
    n = len(ds.split("train"))
    lab = load_labels(out)
    assert lab.shape == (n, 2) and np.isfinite(lab).all()
    rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
    assert lab[:, 0].min() >= rb.min() - 1e-6 and lab[:, 0].max() <= rb.max() + 1e-6
    assert lab[:, 1].min() >= ab.min() - 1e-6 and lab[:, 1].max() <= ab.max() + 1e-6
    g = open_labels(out)
    assert g["attention"].shape == (4, 8, 8) and g["bins"].shape == (n, 2) and g["score"].shape == (n,)
    attrs = dict(g.attrs)
    assert attrs["refine_chosen"] in ("parabolic", "softargmax", "none")
    assert set(attrs["refine_jitter_m"]) == {"parabolic", "softargmax", "none"}
    assert attrs["calibration"]["method"].startswith("stated backbone geometry")
    np.testing.assert_allclose(attrs["calibration"]["row_centres"], np.arange(8) * 4.0)
    # polar is exactly bins mapped through the dataset's bin centres
    from radiovisual.dataset.format import bins_to_polar

    np.testing.assert_allclose(lab, bins_to_polar(g["bins"][...], rb, ab), atol=1e-4)
    # idempotent: same inputs -> returns without rewriting
    mtime = (out / "zarr.json").stat().st_mtime_ns
    run_selflabel(_tiny_backbones(), toy_dataset, split="train", out=out, refine="auto", export_attention=4,
                  progress=False)
    assert (out / "zarr.json").stat().st_mtime_ns == mtime
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_selflabel_is_label_free(toy_dataset, tmp_path, monkeypatch):
    """Self-labelling never reads GT: make every GT read explode and run it anyway."""
    from radiovisual.dataset import format as fmt
    from radiovisual.selflabel import run_selflabel

    orig = fmt.SplitView.array

    def guarded(self, name):
        if name in fmt.GT_ARRAYS:
            raise LabelAccessError(f"read {name}")
        return orig(self, name)

    monkeypatch.setattr(fmt.SplitView, "array", guarded)
    run_selflabel(_tiny_backbones(), toy_dataset, split="val", out=tmp_path / "v.zarr", progress=False)


def test_bad_inputs(toy_dataset, tmp_path):
    from radiovisual.selflabel import load_labels, run_selflabel

    with pytest.raises(RadiovisualError, match="not found"):
        run_selflabel(tmp_path / "nope", toy_dataset)
    with pytest.raises(RadiovisualError, match="unknown refine"):
        run_selflabel(_tiny_backbones(), toy_dataset, refine="cubic")
    with pytest.raises(RadiovisualError, match="not a self-label store"):
        load_labels(tmp_path)


def test_debias_attention_removes_shared_bias_and_picks_reflector_sign():
    from radiovisual.selflabel.calibrate import debias_attention

    rng = np.random.default_rng(0)
    n, h, w = 200, 8, 6
    bias = np.zeros((h, w))
    bias[0, -1] = 50.0  # a position preference every sample shares
    tr, tc = rng.integers(0, h, n), rng.integers(0, w, n)
    att = np.tile(bias, (n, 1, 1)) + 0.1 * rng.standard_normal((n, h, w))
    power = rng.standard_normal((n, h, w))
    att[np.arange(n), tr, tc] -= 5.0  # the target shows as a NEGATIVE response (arbitrary sign)
    power[np.arange(n), tr, tc] += 20.0  # ... and is a strong reflector
    centred, sign, info = debias_attention(att, power)
    assert sign == -1.0 and info["uses_ground_truth"] is False
    peaks = centred.reshape(n, -1).argmax(1)
    assert np.mean(peaks == tr * w + tc) > 0.95
    # without debiasing the shared bias wins everywhere
    assert np.mean(att.reshape(n, -1).argmax(1) == 0 * w + (w - 1)) > 0.95


def test_selflabel_stage_refuses_a_change_unless_force(toy_dataset, tmp_path):
    """One stage contract: a changed config or other backbones are refused in one line; force replaces."""
    from radiovisual.errors import StageChangedError
    from radiovisual.selflabel import open_labels, run_selflabel

    out = run_selflabel(_tiny_backbones(), toy_dataset, split="val", out=tmp_path / "s.zarr", progress=False)
    with pytest.raises(StageChangedError, match=r"config.centroid_db 6.0 -> 5.0"):
        run_selflabel(_tiny_backbones(), toy_dataset, split="val", out=out, centroid_db=5, progress=False)
    other = _tiny_backbones()
    torch.nn.init.zeros_(next(other[0].parameters()))
    with pytest.raises(StageChangedError, match="inputs.run.in_memory_weights"):
        run_selflabel(other, toy_dataset, split="val", out=out, progress=False)
    run_selflabel(_tiny_backbones(), toy_dataset, split="val", out=out, centroid_db=5, progress=False, force=True)
    assert dict(open_labels(out).attrs)["config"]["centroid_db"] == 5 and (out / "done.json").is_file()
