"""Sionna RT radar, tiny real scenes: target position/sign in the heatmap, reproducibility,
parked-car vs target strength, Doppler of an approaching car."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("sionna.rt")

from radiovisual.dataset.config import resolve_synth_config  # noqa: E402
from radiovisual.scene.layouts import _car, _ground  # noqa: E402
from radiovisual.scene.world import World, world_to_radar_polar  # noqa: E402
from radiovisual.sensors import radar as rp  # noqa: E402

H_BS = 4.0


@pytest.fixture(scope="module")
def cfg():
    c = resolve_synth_config("smoke")
    return replace(c, radio=replace(c.radio, clutter_samples_per_src=2000, rcs_samples_per_sp=200))


@pytest.fixture(scope="module")
def sim(cfg):
    from radiovisual.sensors.sionna_radar import RadarSimulator

    return RadarSimulator(cfg)


def _world(cache, cars, n_frames=2):
    """cars: list of (name, kind, model, track [T,2] or [2], yaw, velocity)."""
    bodies = [_ground(cache, -5.0, 40.0, 30.0, "itu_concrete")]
    for name, kind, model, xy, yaw, vel in cars:
        bodies.append(_car(name, kind, cache, model, (0.5, 0.5, 0.5), xy, yaw, velocity=vel))
    radar = np.array([0.0, 0.0, H_BS])
    look = np.array([12.0, 0.0, 0.0])
    return World("parking_lot", bodies, "target", n_frames, 0.2, radar, look, radar, look)


def _gt(world, name, frame=0):
    b = world.body(name)
    p, _ = b.pose(frame)
    return world_to_radar_polar(p + [0, 0, b.size[2] / 2], world.radar_position)


def _peak(h, rb, ab, r0, az0, dr=1.5, daz=np.deg2rad(10)):
    m = (np.abs(rb - r0) <= dr)[:, None] & (np.abs(ab - az0) <= daz)[None]
    return np.max(np.where(m, h, -np.inf))


def test_target_lands_at_its_range_and_azimuth(cfg, sim, tmp_path):
    # broadside car (side facing the radar), to the RIGHT of boresight (world y < 0)
    w = _world(tmp_path, [("target", "target", 0, np.array([[12.0, -3.0], [12.0, -2.8]]), np.pi / 2,
                           (0.0, 1.0, 0.0))])
    out = sim.simulate(w, seed=11)
    rb, ab = rp.range_bins_m(cfg.radio), rp.azimuth_bins_rad(cfg.radio)
    assert out["radar"].shape == (2, len(rb), len(ab)) and out["radar"].dtype == np.float32
    assert out["range_doppler"].shape == (2, len(rb), cfg.radio.doppler_symbols)
    daz = ab[1] - ab[0]
    for f in range(2):
        r0, az0 = _gt(w, "target", f)
        assert az0 > 0
        h = out["radar"][f].copy()
        h[rb < 6.0] = -np.inf      # near range: ground below the mast
        i, j = np.unravel_index(np.argmax(h), h.shape)
        assert abs(rb[i] - r0) <= max(1.0, 2 * cfg.radio.range_resolution_m), (rb[i], r0)
        assert abs(ab[j] - az0) <= 2 * daz, (np.rad2deg(ab[j]), np.rad2deg(az0))
        assert ab[j] > 0           # right of centre, as the dataset convention requires
        assert h[i, j] > np.median(out["radar"][f]) + 20.0   # well above the noise/clutter floor


def test_same_seed_same_bytes(cfg, sim, tmp_path):
    w = _world(tmp_path, [("target", "target", 2, np.array([[10.0, 2.0], [10.4, 2.0]]), 0.0, (2.0, 0.0, 0.0))])
    a = sim.simulate(w, seed=5)
    b = sim.simulate(w, seed=5)
    c = sim.simulate(w, seed=6)
    for k in a:
        assert a[k].tobytes() == b[k].tobytes()
    assert not np.array_equal(a["radar"], c["radar"])


def test_parked_car_and_target_comparable(cfg, sim, tmp_path):
    # mirror-image pair: same model and aspect, left and right of boresight
    w = _world(tmp_path, [("parked_00", "parked_car", 1, np.array([14.0, 3.5]), np.pi / 2, (0.0, 0.0, 0.0)),
                          ("target", "target", 1, np.array([[14.0, -3.5], [14.0, -3.5]]), np.pi / 2,
                           (0.0, 0.0, 0.0))], n_frames=1)
    out = sim.simulate(w, seed=3)
    rb, ab = rp.range_bins_m(cfg.radio), rp.azimuth_bins_rad(cfg.radio)
    h = out["radar"][0]
    pt = _peak(h, rb, ab, *_gt(w, "target"))
    pp = _peak(h, rb, ab, *_gt(w, "parked_00"))
    assert abs(pt - pp) < 10.0, (pt, pp)
    assert min(pt, pp) > np.median(h) + 15.0


def test_doppler_of_approaching_car(cfg, sim, tmp_path):
    v = 6.0
    track = np.array([[14.0, -1.0], [14.0 - v * 0.2, -1.0]])
    w = _world(tmp_path, [("target", "target", 0, track, np.pi, (-v, 0.0, 0.0))])
    out = sim.simulate(w, seed=2)
    rb, vb = rp.range_bins_m(cfg.radio), rp.doppler_bins_mps(cfg.radio)
    p, _ = w.target_body.pose(0)
    d = p + [0, 0, 0.75] - w.radar_position
    v_app = -np.dot(w.target_body.velocity, d / np.linalg.norm(d))   # approaching > 0
    rd = out["range_doppler"][0].copy()
    rd[:, np.abs(vb) < 1.5 * (vb[1] - vb[0])] = -np.inf              # remove static clutter
    i, j = np.unravel_index(np.argmax(rd), rd.shape)
    assert abs(j - np.argmin(np.abs(vb - v_app))) <= 1, (vb[j], v_app)
    assert abs(rb[i] - _gt(w, "target")[0]) <= 3.0                    # nose is L/2 nearer than the centre
    attrs = sim.attrs()
    assert np.allclose(attrs["doppler_bins_mps"], vb) and attrs["radio"]["heatmap_units"].startswith("dBm")


def test_csi_is_consistent_with_heatmap(cfg, tmp_path):
    from radiovisual.sensors.sionna_radar import RadarSimulator

    c2 = replace(cfg, radio=replace(cfg.radio, save_csi=True))
    w = _world(tmp_path, [("target", "target", 0, np.array([[12.0, -3.0]]), np.pi / 2, (0.0, 0.0, 0.0))], 1)
    out = RadarSimulator(c2).simulate(w, seed=1)
    r = c2.radio
    assert out["csi"].shape == (1, r.array_cols, r.n_subcarriers) and out["csi"].dtype == np.complex64
    x = np.fft.ifft(rp.hann(r.n_subcarriers) * out["csi"][0].astype(np.complex128), axis=-1)[:, rp.range_rows(r)].T
    assert np.allclose(rp.to_db(x @ rp.beamformer(r)), out["radar"][0], atol=1e-2)


def test_clutter_once_per_sequence_matches_exact_at_the_target(cfg, sim, tmp_path):
    from radiovisual.sensors.sionna_radar import RadarSimulator

    w = _world(tmp_path, [("target", "target", 0, np.array([[12.0, -3.0], [12.0, -2.8]]), np.pi / 2,
                           (0.0, 1.0, 0.0))])
    exact = sim.simulate(w, seed=11)["radar"]
    fast_sim = RadarSimulator(cfg)
    fast_sim._clutter_every_frame = False   # what radio.clutter_every_frame=False selects
    fast = fast_sim.simulate(w, seed=11)["radar"]
    assert fast.shape == exact.shape
    for f in range(2):
        assert np.argmax(fast[f]) == np.argmax(exact[f])
        assert abs(fast[f].max() - exact[f].max()) < 0.5
