"""The procedural car family: >= 50 distinct base shapes, the AABB contract, and the v0.2 models 0..9 unchanged."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from radiovisual.dataset.config import SYNTH_PRESETS, resolve_synth_config
from radiovisual.scene import cars
from radiovisual.scene.cars import N_BASE_MODELS, car_model, write_car_meshes

# The first ten rows of scene.cars._BASE as they were before the family grew (stores draw from them).
ORIGINAL_BASE = (
    ("sedan",     4.70, 1.85, 1.45, 0.52, (0.18, 0.78, 0.30, 0.62)),
    ("hatchback", 4.10, 1.78, 1.48, 0.50, (0.04, 0.72, 0.08, 0.55)),
    ("suv",       4.80, 1.95, 1.75, 0.55, (0.04, 0.74, 0.06, 0.62)),
    ("van",       5.20, 2.00, 2.10, 0.45, (0.02, 0.90, 0.02, 0.82)),
    ("pickup",    5.40, 2.00, 1.85, 0.55, (0.42, 0.80, 0.44, 0.70)),
    ("estate",    4.80, 1.85, 1.50, 0.52, (0.04, 0.76, 0.05, 0.60)),
    ("compact",   3.60, 1.65, 1.50, 0.48, (0.05, 0.75, 0.10, 0.58)),
    ("coupe",     4.50, 1.85, 1.30, 0.53, (0.20, 0.75, 0.35, 0.60)),
    ("minivan",   5.00, 1.95, 1.80, 0.48, (0.03, 0.86, 0.04, 0.74)),
    ("microcar",  2.70, 1.55, 1.55, 0.45, (0.04, 0.84, 0.08, 0.70)),
)


def _original_model(row):
    """The v0.2 ``car_model`` for a base row (k = 0), as it was written before the shape options existed."""
    name, L, W, H, sill, (cb0, cb1, ct0, ct1) = row
    r = 0.30 + 0.04 * (H > 1.7)
    clear = 0.8 * r
    z_sill = sill * H
    roof_t = 0.06 * H
    x = lambda f: -L / 2 + f * L  # noqa: E731
    inset = 0.06 * W
    parts = [(*cars._slab(-L / 2, L / 2, -W / 2, W / 2, clear, z_sill), "body"),
             (*cars._slab(x(cb0), x(cb1), -W / 2 + inset, W / 2 - inset, z_sill, H - roof_t, top_x=(x(ct0), x(ct1))),
              "glass"),
             (*cars._slab(x(ct0), x(ct1), -W / 2 + inset, W / 2 - inset, H - roof_t, H), "body")]
    ww = 0.22
    for fx in (0.17, 0.83):
        for sy in (-1, 1):
            cx, cy = x(fx), sy * (W / 2 - ww / 2)
            parts.append((*cars._slab(cx - r, cx + r, cy - ww / 2, cy + ww / 2, 0.0, 2 * r), "wheel"))
    return name, (float(L), float(W), float(H)), parts


def _digest(m) -> str:
    h = hashlib.sha1()
    for v, f, role in m.parts:
        h.update(np.ascontiguousarray(v, "<f4").tobytes() + np.ascontiguousarray(f, "<i4").tobytes() + role.encode())
    return h.hexdigest()


def test_first_ten_models_unchanged():
    assert cars._BASE[:10] == ORIGINAL_BASE
    for i, row in enumerate(ORIGINAL_BASE):
        name, size, parts = _original_model(row)
        m = car_model(i)
        assert m.name == name and m.size == size and len(m.parts) == len(parts)
        for (v, f, role), (v0, f0, role0) in zip(m.parts, parts):
            assert role == role0 and np.array_equal(v, v0) and np.array_equal(f, f0)


def test_presets_draw_only_the_original_models():
    # the presets (and the default) draw models 0..7: the appended shapes change no existing store
    assert resolve_synth_config("quick").scene.n_car_models == 8
    for preset in SYNTH_PRESETS:
        assert resolve_synth_config(preset).scene.n_car_models <= 10, preset


def test_at_least_fifty_distinct_shapes():
    assert N_BASE_MODELS >= 50
    models = [car_model(i) for i in range(N_BASE_MODELS)]
    assert len({m.name for m in models}) == N_BASE_MODELS
    assert len({m.size for m in models}) == N_BASE_MODELS                    # every (L, W, H) differs
    assert len({_digest(m) for m in models}) == N_BASE_MODELS                # and every mesh
    props = {(round(m.size[0] / m.size[1], 2), round(m.size[2] / m.size[0], 2)) for m in models}
    assert len(props) >= 45                                                  # proportions, not a rescaled few
    L = np.array([m.size[0] for m in models])
    H = np.array([m.size[2] for m in models])
    assert L.min() < 3.0 and L.max() > 5.4 and H.min() < 1.25 and H.max() > 2.5   # microcars to camper vans
    assert L[10:].max() <= 5.6 + 1e-9     # the parking lot's 6 m rows still hold every car


def _wheels(m):
    return [v for v, _, role in m.parts if role == "wheel"]


def test_shapes_vary_beyond_their_size():
    models = [car_model(i) for i in range(N_BASE_MODELS)]
    radii = {round(float(np.ptp(w[:, 2])) / 2, 3) for m in models for w in _wheels(m)}
    assert len(radii) >= 8                                                   # wheel sizes
    axles = {round(float(np.mean([w[:, 0].mean() for w in _wheels(m) if w[:, 0].mean() > 0])) / m.size[0], 3)
             for m in models}
    assert len(axles) >= 5                                                   # front axle positions
    n_body = [sum(role == "body" for _, _, role in m.parts) for m in models]
    assert n_body[:10] == [2] * 10 and sum(n > 2 for n in n_body) >= 5      # cargo boxes and roof boxes
    cabin = {tuple(np.round(cars._BASE[i][5], 2)) for i in range(N_BASE_MODELS)}
    assert len(cabin) >= 40                                                  # cabin positions and rakes


@pytest.mark.parametrize("i", list(range(N_BASE_MODELS)) + [N_BASE_MODELS + 3, 2 * N_BASE_MODELS + 20])
def test_aabb_contract_and_roles(i, tmp_path):
    m = car_model(i)
    L, W, H = m.size
    v = np.concatenate([p[0] for p in m.parts])
    assert np.allclose(v.min(axis=0), [-L / 2, -W / 2, 0.0], atol=1e-5)
    assert np.allclose(v.max(axis=0), [L / 2, W / 2, H], atol=1e-5)
    assert {p[2] for p in m.parts} == {"body", "glass", "wheel"}
    wheels = _wheels(m)
    assert len(wheels) == 4 and all(abs(float(w[:, 2].min())) < 1e-6 for w in wheels)   # on the ground
    body = [p[0] for p in m.parts if p[2] == "body"]
    glass = [p[0] for p in m.parts if p[2] == "glass"]
    assert min(float(b[:, 2].min()) for b in body) > 0.1                    # ground clearance
    assert float(glass[0][:, 2].max()) - float(glass[0][:, 2].min()) > 0.3  # a window band of some height
    if i >= N_BASE_MODELS:
        assert m.name.endswith(f"-{i // N_BASE_MODELS}") and m.size[0] > car_model(i % N_BASE_MODELS).size[0]
    parts, hull = write_car_meshes(tmp_path, i)
    assert [r for _, r in parts] == ["body", "glass", "wheel"] and hull.exists()
