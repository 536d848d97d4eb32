"""Procedural low-poly pedestrians and cyclists, and the limb scatterers that give them micro-Doppler.

Same conventions as ``scene.cars``: local frame x = length axis (front / walking direction at +x),
origin at the centre of the ground footprint, z up from 0, every model's AABB exactly
[-L/2, L/2] x [-W/2, W/2] x [0, H]; meshes are boxes and x-sheared boxes (``cars._slab``).

Roles and the radio materials suggested for them (``SUGGESTED_RADIO_MATERIAL``): no ITU material
fits a human body (lossy, water-like tissue), so "skin"/"clothes" get "itu_wood" as a weak dielectric
stand-in for the camera/clutter geometry only -- the radar echo of a person is meant to come from the
TR 38.901 'human' sensing target (and ``limb_scatterers``), not from the mesh material. The bike
"frame" is "itu_metal"; the "wheel" mesh is a solid disc standing in for tyre + spokes, and as metal
it would be a ~0.4 m^2 broadside mirror far brighter than a real spoked wheel, hence "itu_wood" too.

Body proportions are fractions of the stature H from Winter's anthropometric segment table
(D. A. Winter, "Biomechanics and Motor Control of Human Movement", 4th ed. 2009, Fig. 4.1):
hip joint 0.530 H, shoulder 0.818 H, wrist 0.485 H, knee 0.285 H, shoulder width 0.259 H.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cars import _slab, cached_ply
from .meshes import merge

Mesh = tuple[np.ndarray, np.ndarray]
PartList = list[tuple[np.ndarray, np.ndarray, str]]

CLASSES = ("pedestrian", "cyclist")
ROLES = ("clothes", "skin", "frame", "wheel")
SUGGESTED_RADIO_MATERIAL = {"clothes": "itu_wood", "skin": "itu_wood", "frame": "itu_metal", "wheel": "itu_wood"}

# Speed ranges [m/s]. Pedestrians: 0.5 (slow elderly walkers/strolling; 15th-percentile elderly crossing
# speed is ~0.97 m/s, Knoblauch et al. 1996, TRR 1538) to 2.0 (brisk walking; the walk-run transition is
# at ~2 m/s, Thorstensson & Roberthson 1987). Cyclists: 2.0 (starting/slow riding, ~7 km/h) to 7.0
# (~25 km/h, the EU pedelec assistance cut-off of EN 15194; urban means are ~4-5 m/s, e.g. ~15.5 km/h
# in Copenhagen).
SPEED_MPS = {"pedestrian": (0.5, 2.0), "cyclist": (2.0, 7.0)}

# Gait (pedestrian). Boulic, Thalmann & Thalmann 1990 ("A global human walking model with real-time
# kinematic personification", The Visual Computer 6:344-358), also used in V. C. Chen, "The
# Micro-Doppler Effect in Radar" (Artech House 2011): with leg length H_t (hip-joint height),
# relative velocity RV = v / H_t [1/s] and relative cycle length RL = 1.346 sqrt(RV), so the cycle
# (stride = two steps) length is RL * H_t and the cycle frequency f = v / (RL H_t) = sqrt(RV) / 1.346.
# (v = 1.4 m/s, H = 1.75 m: f = 0.91 Hz, i.e. 1.8 steps/s, the usual cadence.) Boulic fitted walking up
# to RV ~ 2.3 /s; a child (H_t ~ 0.55 m) walking faster than ~1.3 m/s is an extrapolation.
LEG_FRACTION = 0.530           # hip-joint height / stature (Winter)
SHOULDER_FRACTION = 0.818      # shoulder height / stature (Winter)
BOULIC_RL = 1.346
# Arm swing amplitude relative to the leg's: shoulder flexion range in normal walking is roughly 60 % of
# the hip range (reasoned approximation, ~+-15 deg vs ~+-25 deg at 1.4 m/s).
ARM_SWING_RATIO = 0.6

# Cycling. Crank 170-175 mm is the standard length; 700c wheels are ~0.70 m in diameter; a mid gear of a
# city bike (e.g. 40/16 teeth) has a ratio ~2.5, so one crank turn moves the bike 2.5 wheel circumferences:
# cadence = v / (pi D gear) -> 5 m/s gives 0.91 rev/s = 55 rpm (cyclists shift gears; one ratio is a
# simplification).
CRANK_RADIUS_M = 0.17
WHEEL_DIAMETER_M = 0.70
GEAR_RATIO = 2.5
BOTTOM_BRACKET_M = (-0.10, 0.28)   # crank axle (x, z) in the bike's local frame [m]
PEDAL_Y_M = 0.12                   # lateral offset of each pedal/foot from the centre plane [m]

# Per-scatterer RCS [m^2], approximate. The whole-body mean RCS of TR 38.901 Table 7.9.2.1-1 is
# 10lg(sigma_M) = -1.37 dBsm (0.73 m^2, Sionna's ``_TABLE_1_HUMAN``); measured pedestrians at 77 GHz are
# around -8 dBsm (0.16 m^2; e.g. Yamada et al. 2005, Belgiovane & Chen 2017). Limbs are thin and carry
# a small share: a lower leg ~-13 dBsm, a hand/forearm ~-17 dBsm, a shoe on a metal pedal ~-15 dBsm.
LEG_RCS_M2 = 0.05
ARM_RCS_M2 = 0.02
PEDAL_RCS_M2 = 0.03


@dataclass(frozen=True)
class PersonModel:
    name: str
    cls: str                                   # "pedestrian" | "cyclist"
    size: tuple[float, float, float]           # (L, W, H) [m]
    parts: PartList                            # (vertices [V,3] float32, faces [F,3] int32, role)
    # pedestrians: where the limbs are, for ``Gait.deform`` (body frame after centring) [m]; None otherwise
    rig: dict | None = None


# name, stature H [m], shoulder width over the arms [m], torso depth [m], head height / H, hip height / H
_PEDESTRIANS = (
    ("man",    1.80, 0.48, 0.24, 0.13, LEG_FRACTION),
    ("woman",  1.65, 0.42, 0.22, 0.13, LEG_FRACTION),
    ("tall",   1.95, 0.52, 0.25, 0.13, LEG_FRACTION),
    ("short",  1.50, 0.40, 0.21, 0.13, LEG_FRACTION),
    ("stocky", 1.72, 0.56, 0.30, 0.13, LEG_FRACTION),
    ("child",  1.20, 0.32, 0.17, 0.17, 0.46),      # children have relatively larger heads, shorter legs
)
# name, rider stature [m], bike length [m], handlebar width [m], trunk lean from vertical [deg]
_CYCLISTS = (
    ("city",   1.75, 1.75, 0.60, 20.0),
    ("road",   1.80, 1.72, 0.44, 45.0),
    ("trek",   1.68, 1.78, 0.62, 30.0),
    ("tall",   1.85, 1.80, 0.58, 35.0),
)


def _check_cls(cls: str) -> None:
    if cls not in CLASSES:
        raise ValueError(f"class must be one of {CLASSES}, got {cls!r}")


def _variant(i: int, base: tuple) -> tuple[tuple, int, float]:
    """(base row, variant number k, build factor): beyond the base set, broader builds (+5..20 %)."""
    if i < 0:
        raise ValueError(f"model index must be >= 0, got {i}")
    k = i // len(base)
    return base[i % len(base)], k, 1.0 + 0.05 * ((k - 1) % 4 + 1) if k else 1.0


def _leaning(x_bot: float, x_top: float, y: float, dx: float, dy: float, z0: float, z1: float) -> Mesh:
    """Box of cross-section dx x dy [m] from z0 to z1, its x centre sheared from x_bot to x_top (a tilted limb)."""
    return _slab(x_bot - dx / 2, x_bot + dx / 2, y - dy / 2, y + dy / 2, z0, z1, top_x=(x_top - dx / 2, x_top + dx / 2))


def _finish(name: str, cls: str, parts: PartList, rig: dict | None = None) -> PersonModel:
    """Centre the footprint on the origin and take the size from the exact AABB of all parts."""
    v = np.concatenate([p[0] for p in parts]).astype(np.float64)
    lo, hi = v.min(axis=0), v.max(axis=0)
    shift = np.array([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]])
    parts = [((pv + shift).astype(np.float32), pf, role) for pv, pf, role in parts]
    L, W, H = (hi - lo).tolist()
    # rounded to 1 um: the float32 vertices carry ~1e-7 m of noise that would otherwise show in the size
    if rig is not None:
        rig = {**rig, "shift": shift.tolist()}
    return PersonModel(name=name, cls=cls, size=(round(L, 6), round(W, 6), round(H, 6)), parts=parts, rig=rig)


def pedestrian_model(i: int) -> PersonModel:
    """Pedestrian ``i`` (any i >= 0), frozen mid-stride: left leg and right arm forward."""
    (name, H, sw, td, head, hipf), k, g = _variant(i, _PEDESTRIANS)
    name, sw, td = (f"{name}-{k}" if k else name), sw * g, td * g
    hip, sh = hipf * H, SHOULDER_FRACTION * H
    leg_w, arm_w = 0.075 * H * g, 0.05 * H
    tw = sw - 2 * arm_w                                 # torso width [m]
    s = 0.10 * H                       # foot offset from under the hip (half a short step) [m]
    parts: PartList = [(*_slab(-td / 2, td / 2, -tw / 2, tw / 2, hip - 0.03 * H, sh + 0.01 * H), "clothes")]
    z_head = H - head * H
    nk = 0.35 * tw                                      # neck width [m]
    parts.append((*_slab(-0.04 * H, 0.04 * H, -nk / 2, nk / 2, sh, z_head), "skin"))
    parts.append((*_slab(-0.065 * H, 0.065 * H, -0.055 * H, 0.055 * H, z_head, H), "skin"))
    wrist, hand = 0.485 * H, 0.40 * H
    for side in (1, -1):                                # +1 = left (+y)
        y_leg = side * (tw / 2 - leg_w / 2)
        parts.append((*_leaning(side * s, 0.0, y_leg, leg_w, leg_w, 0.0, hip), "clothes"))
        y_arm = side * (tw / 2 + arm_w / 2)
        a = -side * 0.5 * s                             # arms swing against the same-side leg
        x_w = a * (sh - wrist) / (sh - hand)            # the arm and the hand lie on one straight line
        parts.append((*_leaning(x_w, 0.0, y_arm, arm_w, arm_w, wrist, sh), "clothes"))
        parts.append((*_leaning(a, x_w, y_arm, arm_w, arm_w, hand, wrist), "skin"))
    return _finish(name, "pedestrian", parts, rig={"hip": hip, "torso_bottom": hip - 0.03 * H, "shoulder": sh,
                                                    "hand": hand, "torso_half_width": tw / 2, "stride0": s})


def _tube(a: tuple[float, float], b: tuple[float, float], d: float) -> Mesh:
    """Low-poly tube of thickness d [m] between points a and b (x, z) [m] in the centre plane y = 0."""
    (x0, z0), (x1, z1) = sorted((a, b), key=lambda p: p[1])
    if abs(z1 - z0) < abs(x1 - x0) / 2:   # flat-ish: a sheared box would be a thin sheet, use a plain box
        return _slab(min(x0, x1), max(x0, x1), -d / 2, d / 2, z0 - d / 2, z1 + d / 2)
    return _leaning(x0, x1, 0.0, d, d, z0 - d / 2, z1 + d / 2)


def _wheel(cx: float, r: float, d: float) -> list[Mesh]:
    """Octagonal wheel (3 slabs: trapezoid, box, trapezoid) of radius r, thickness d, centred at x = cx [m]."""
    c = r * np.tan(np.pi / 8)                           # half side of the regular octagon
    return [_slab(cx - c, cx + c, -d / 2, d / 2, 0.0, r - c, top_x=(cx - r, cx + r)),
            _slab(cx - r, cx + r, -d / 2, d / 2, r - c, r + c),
            _slab(cx - r, cx + r, -d / 2, d / 2, r + c, 2 * r, top_x=(cx - c, cx + c))]


def _bike(L: float, bar_w: float, saddle_h: float) -> tuple[PartList, tuple[float, float], tuple[float, float]]:
    """Bike frame and wheels, saddle ``saddle_h`` [m] above the crank axle.

    Returns (parts, saddle top (x, z), handlebar grip (x, z)) [m].
    """
    r, d = WHEEL_DIAMETER_M / 2, 0.04                  # wheel radius, tube thickness [m]
    xr, xf = -L / 2 + r, L / 2 - r                      # rear and front axles
    xb, zb = BOTTOM_BRACKET_M
    saddle = (xb - 0.29 * saddle_h, zb + saddle_h)      # seat tube at ~73 deg (cos 73 = 0.29)
    head = (xf - 0.14, zb + 0.55)                       # top of the head tube
    t = d / 2
    parts: PartList = [(*m, "wheel") for cx in (xr, xf) for m in _wheel(cx, r, d)]
    seat_top = (saddle[0] + 0.02, saddle[1] - 0.06)
    for a, b in (((xr, r), (xb, zb)), ((xr, r), seat_top), ((xb, zb), seat_top),   # stays, seat tube
                 ((xb, zb), head), ((xf, r), head), (seat_top, head)):             # down tube, fork, top tube
        parts.append((*_tube(a, b, d), "frame"))
    parts.append((*_slab(saddle[0] - 0.12, saddle[0] + 0.12, -0.08, 0.08, saddle[1] - 0.05, saddle[1]), "frame"))
    grip = (head[0] - 0.05, head[1] + 0.12)
    parts.append((*_slab(grip[0] - t, grip[0] + t, -bar_w / 2, bar_w / 2, grip[1] - d, grip[1]), "frame"))
    parts.append((*_slab(grip[0] - t, grip[0] + t, -t, t, head[1] - d, grip[1]), "frame"))  # stem
    return parts, saddle, grip


def cyclist_model(i: int) -> PersonModel:
    """Cyclist ``i`` (any i >= 0): an adult seated on a bike, left crank forward, right crank back."""
    (name, Hr, L, bar_w, lean), k, g = _variant(i, _CYCLISTS)
    name = f"{name}-{k}" if k else name
    # saddle above the crank axle: 0.883 x inseam (LeMond's rule), inseam ~0.45 x stature
    parts, (xs, zs), (xg, zg) = _bike(L, bar_w, 0.883 * 0.45 * Hr)
    lean = np.deg2rad(lean)
    tw, td, limb = 0.22 * Hr * g, 0.12 * Hr * g, 0.06 * Hr * g
    trunk = 0.30 * Hr                                   # hip to shoulder [m]
    xsh, zsh = xs + trunk * np.sin(lean), zs + trunk * np.cos(lean)
    parts.append((*_leaning(xs, xsh, 0.0, td, tw, zs, zsh), "clothes"))
    z_head = zsh + 0.04 * Hr
    parts.append((*_slab(xsh - 0.065 * Hr, xsh + 0.065 * Hr, -0.055 * Hr, 0.055 * Hr, z_head, z_head + 0.13 * Hr),
                  "skin"))
    parts.append((*_slab(xsh - 0.03 * Hr, xsh + 0.03 * Hr, -0.04 * Hr, 0.04 * Hr, zsh - 0.02, z_head), "skin"))
    xb, zb = BOTTOM_BRACKET_M
    for side, crank in ((1, np.pi / 2), (-1, -np.pi / 2)):   # crank angle from +z towards +x
        xp, zp = xb + CRANK_RADIUS_M * np.sin(crank), zb + CRANK_RADIUS_M * np.cos(crank)
        y = side * PEDAL_Y_M
        parts.append((*_leaning(xp, xs, y, limb, limb, zp, zs), "clothes"))             # leg: pedal to saddle
        ya = side * (tw / 2 - limb / 2)
        parts.append((*_leaning(xg, xsh, ya, limb, limb, zg, zsh), "clothes"))         # arm: grip to shoulder
    return _finish(name, "cyclist", parts)


def write_person_meshes(cache_dir: str | Path, model: PersonModel) -> tuple[list[tuple[Path, str]], Path]:
    """Content-named PLYs of ``model``: per-role parts [(path, role)] (one file per role) and the merged hull.

    Prefixes "ped-<name>-<role>" / "cyc-<name>-<role>" (and "-hull"); the hull is the sensing-target mesh.
    """
    _check_cls(model.cls)
    pre = "ped" if model.cls == "pedestrian" else "cyc"
    by_role: dict[str, list[Mesh]] = {}
    for v, f, role in model.parts:
        by_role.setdefault(role, []).append((v, f))
    parts = []
    for role in (r for r in ROLES if r in by_role):
        v, f = merge(*by_role[role])
        parts.append((cached_ply(cache_dir, f"{pre}-{model.name}-{role}", v, f), role))
    v, f = merge(*[(v, f) for v, f, _ in model.parts])
    return parts, cached_ply(cache_dir, f"{pre}-{model.name}-hull", v, f)


def gait_frequency_hz(speed_mps: float, height_m: float) -> float:
    """Gait-cycle (stride) frequency [Hz] of Boulic et al. 1990: sqrt(v / H_t) / 1.346, H_t = 0.53 H."""
    return float(np.sqrt(max(speed_mps, 0.0) / (LEG_FRACTION * height_m)) / BOULIC_RL)


def leg_swing_amplitude_rad(speed_mps: float, height_m: float) -> float:
    """Hip swing amplitude [rad]: a leg of length H_t sweeps one step (half a Boulic cycle) per stance,
    2 H_t sin(A) = cycle length / 2, so sin(A) = RL / 4 (about 25 deg at 1.4 m/s)."""
    rv = max(speed_mps, 0.0) / (LEG_FRACTION * height_m)
    return float(np.arcsin(min(BOULIC_RL * np.sqrt(rv) / 4.0, 1.0)))


def cadence_hz(speed_mps: float, wheel_diameter_m: float = WHEEL_DIAMETER_M, gear: float = GEAR_RATIO) -> float:
    """Crank revolutions per second [Hz]: v / (pi D gear)."""
    return float(max(speed_mps, 0.0) / (np.pi * wheel_diameter_m * gear))


def _pedestrian_rig(height_m: float, speed: float) -> tuple[np.ndarray, ...]:
    """Per scatterer (left leg, right leg, left arm, right arm): pivot (x, y, z) [K,3] [m], radius [K] [m],
    amplitude [K] [rad], phase offset [K] [rad], rcs [K] [m^2]. Pivots/radii match the meshes' limbs."""
    H = height_m
    hip, sh = LEG_FRACTION * H, SHOULDER_FRACTION * H
    a_leg = leg_swing_amplitude_rad(speed, H)
    pivot = np.array([[0, 0.05 * H, hip], [0, -0.05 * H, hip], [0, 0.11 * H, sh], [0, -0.11 * H, sh]])
    radius = np.array([hip - 0.20 * H] * 2 + [sh - 0.43 * H] * 2)     # lower shin at 0.20 H, hand at 0.43 H
    amp = np.array([a_leg, a_leg, ARM_SWING_RATIO * a_leg, ARM_SWING_RATIO * a_leg])
    offs = np.array([0.0, np.pi, np.pi, 0.0])         # legs in anti-phase, each arm against its own leg
    rcs = np.array([LEG_RCS_M2] * 2 + [ARM_RCS_M2] * 2)
    return pivot, radius, amp, offs, rcs


def _cyclist_rig() -> tuple[np.ndarray, ...]:
    """Pivot [K,3] [m], radius [K] [m], phase offset [K] [rad], rcs [K] [m^2] of the pedals (left, right)."""
    xb, zb = BOTTOM_BRACKET_M
    pivot = np.array([[xb, PEDAL_Y_M, zb], [xb, -PEDAL_Y_M, zb]])
    return pivot, np.full(2, CRANK_RADIUS_M), np.array([0.0, np.pi]), np.full(2, PEDAL_RCS_M2)


def limb_scatterers(cls: str, height_m: float, positions: np.ndarray, yaws: np.ndarray, velocities: np.ndarray,
                    dt_s: float, phase0: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Moving point scatterers of the limbs along a track.

    Returns (points [T,K,3] world [m], velocities [T,K,3] world [m/s], rcs [K] [m^2]).

    positions [T,2] [m] / yaws [T] [rad] / velocities [T,2] [m/s] are the footprint centre's track (world),
    frames dt_s [s] apart; phase0 [rad] is the gait (pedestrian) or crank (cyclist) angle at t = 0.
    Pedestrian, K = 4 (left/right lower shin, left/right hand): pendulums about hip / shoulder,
    theta_k(t) = A_k sin(2 pi f t + phase0 + offset_k) with the Boulic gait frequency and amplitude of
    the track's mean speed (CTRV tracks have constant speed, so the phase is exactly linear in t).
    Cyclist, K = 2 (left/right pedal with the foot; ``height_m`` unused): crank angle
    2 pi cadence t + phase0 (+ pi for the right). Wheel tops (2 v) are left out on purpose: a wheel's
    echo is a continuum from 0 to 2 v along the rim and spokes, not a point, so one point would put a
    spurious line in the spectrum. Velocities are analytic: body velocity + R(yaw) swing velocity
    + yaw rate x arm (the yaw rate from the unwrapped yaws, exact for a constant turn rate).
    """
    _check_cls(cls)
    pos, yaw, vel = np.asarray(positions, np.float64), np.asarray(yaws, np.float64), np.asarray(velocities, np.float64)
    T = len(pos)
    t = np.arange(T) * float(dt_s)
    speed = float(np.linalg.norm(vel, axis=1).mean()) if T else 0.0
    if cls == "pedestrian":
        pivot, radius, amp, offs, rcs = _pedestrian_rig(height_m, speed)
        up = -1.0                                                   # pendulums hang below hip/shoulder
        w = 2 * np.pi * gait_frequency_hz(speed, height_m)
        phase = w * t[:, None] + phase0 + offs                      # [T,K]
        ang, rate = amp * np.sin(phase), amp * w * np.cos(phase)
    else:
        pivot, radius, offs, rcs = _cyclist_rig()
        up = 1.0                                                    # crank angle 0 = pedal at the top
        w = 2 * np.pi * cadence_hz(speed)
        ang = w * t[:, None] + phase0 + offs
        rate = np.full_like(ang, w)
    # local offset: angle from the vertical towards +x (forward), measured from below (up=-1) or above (+1)
    loc = np.stack([pivot[:, 0] + radius * np.sin(ang), np.broadcast_to(pivot[:, 1], ang.shape),
                    pivot[:, 2] + up * radius * np.cos(ang)], -1)
    loc_v = np.stack([radius * np.cos(ang) * rate, np.zeros_like(ang), -up * radius * np.sin(ang) * rate], -1)
    yaw_rate = np.gradient(np.unwrap(yaw), dt_s) if T > 1 else np.zeros(T)
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    wx, wy = c * loc[..., 0] - s * loc[..., 1], s * loc[..., 0] + c * loc[..., 1]   # R(yaw) loc (x, y)
    points = np.stack([pos[:, :1] + wx, pos[:, 1:2] + wy, loc[..., 2]], -1)
    vx = vel[:, :1] + c * loc_v[..., 0] - s * loc_v[..., 1] - yaw_rate[:, None] * wy
    vy = vel[:, 1:2] + s * loc_v[..., 0] + c * loc_v[..., 1] + yaw_rate[:, None] * wx
    return points, np.stack([vx, vy, loc_v[..., 2]], -1), rcs.astype(np.float64)


@dataclass(frozen=True)
class Gait:
    """The camera mesh of a walking pedestrian, frame by frame: legs and arms sheared to the stride of the
    same gait ``limb_scatterers`` gives the radar (Boulic et al. 1990), so camera and radar limbs agree.

    ``stride`` [T]: forward offset [m] of the left foot from under the hip (the right foot mirrors it), i.e.
    hip height x tan(left leg angle); the model is built at ``rig["stride0"]``."""
    rig: dict
    stride: np.ndarray

    def deform(self, local: np.ndarray, frame: int) -> np.ndarray:
        """Body-frame vertices [V,3] of the frozen model -> the same vertices at ``frame``'s stride."""
        r = self.rig
        sx, sy, _ = r["shift"]
        v = np.array(local, np.float64, copy=True)
        x, y, z = v[:, 0] - sx, v[:, 1] - sy, v[:, 2]
        ds = float(self.stride[min(frame, len(self.stride) - 1)]) - r["stride0"]
        side = np.sign(y)                                              # +1 left, -1 right
        legs = z < r["torso_bottom"] - 1e-6                            # only the legs reach below the torso
        v[:, 0] += np.where(legs, side * ds * (1.0 - z / r["hip"]), 0.0)
        arms = (np.abs(y) > r["torso_half_width"] + 1e-6) & (z < r["shoulder"] + 1e-6)
        lever = np.clip((r["shoulder"] - z) / (r["shoulder"] - r["hand"]), 0.0, None)
        v[:, 0] += np.where(arms, -side * 0.5 * ds * lever, 0.0)      # arms swing against the same-side leg
        return v


def walking_gait(model: PersonModel, speed_mps: float, n_frames: int, dt_s: float, phase0: float) -> Gait | None:
    """The ``Gait`` of ``model`` walking at ``speed_mps`` with the gait phase ``phase0`` of ``limb_scatterers``."""
    if model.cls != "pedestrian" or model.rig is None:
        return None
    H = model.size[2]
    w = 2 * np.pi * gait_frequency_hz(speed_mps, H)
    theta = leg_swing_amplitude_rad(speed_mps, H) * np.sin(w * np.arange(n_frames) * dt_s + phase0)  # left leg
    # hip x tan(angle): the sheared leg then points along the radar's pendulum, so the shin scatterer
    # (``limb_scatterers``) lies on the camera's leg axis at every frame
    return Gait(rig=model.rig, stride=model.rig["hip"] * np.tan(theta))
