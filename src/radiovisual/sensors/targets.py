"""Sionna RT sensing targets of the road users (``scene.objects``) and the radio environment of a World:
TR 38.901 models per class, micro-Doppler scatterer points, fixed per-class slots (kernel reuse), ITU
materials outside ITU-R P.2040's bands, and the weather's specific attenuation. Used by ``sionna_radar``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..scene.meshes import write_ply

SENSING_OBJECT_TYPE = "vehicle-multi-sp"
# TR 38.901 §7.9 sensing-target model per road-user class (scene.objects): a cyclist is a human on a
# metal frame, i.e. the 'human' target on the rider plus the frame and pedals as constant-RCS points
# (the body's ``scatterers``, scene.people).
OBJECT_TYPES = {None: SENSING_OBJECT_TYPE, "car": SENSING_OBJECT_TYPE, "pedestrian": "human", "cyclist": "human"}
SCATTERER_SIZE_M = 0.08   # edge of the cuboid carrying a limb / pedal scattering point (absorber extent)


def sensing_target(b, pos, yaw):
    """The TR 38.901 sensing target of a radar-target body (its class's model on its hull), posed."""
    from sionna.rt.rcs import TR38901SensingTarget

    from .sionna_jit import Poser

    st = TR38901SensingTarget(name=b.name, object_type=OBJECT_TYPES[b.object_class], fname=str(b.hull_mesh),
                              random_phases=True)
    poser = Poser(st)
    poser.set(pos, yaw)
    # The velocity is handed to the RCS solver directly (sionna_jit.OpaqueRCSSolver),
    # not through Sionna's per-shape "velocity" texture, whose value would be baked
    # into every kernel. Equivalent: a sensing target is an absorber for PathSolver
    # and for the legs of RCSSolver paths, so only the scattering event uses it.
    st._rv_velocity = tuple(float(v) for v in b.velocity)
    return st, poser


def slot_order(cfg, world) -> list:
    """Road users in a fixed slot order: per class of ``scene.objects`` (config order), its road users, then
    the class's name for each empty slot up to the class's maximum; road users of other classes last.

    Why: Dr.Jit's kernels depend on the number of shapes and on the list of distinct RCS callables in
    order, so a sequence with one pedestrian fewer compiled ~25 new kernels (2 s). With every slot
    filled, the kernels are the same for every sequence of a config. () = the target alone (v0.2)."""
    from ..scene.objects import parse_objects

    movers = list(world.movers)
    order: list = []
    for cls, _, hi in parse_objects(tuple(getattr(cfg.scene, "objects", ()) or ())):
        mine = [b for b in movers if (b.object_class or "car") == cls]
        order += mine[:hi] + [cls] * max(0, hi - len(mine))
    return order + [b for b in movers if b not in order]


def placeholder(cls: str, k: int, tmp: Path) -> list:
    """Sensing targets of an empty ``cls`` slot, parked 1 km below the ground (no ray reaches them):
    the class's TR 38.901 model on a PLY box (a PLY like a real hull: Mitsuba's ``cube`` is another
    shape class, and a different mix of shape classes compiles other kernels), plus its scatterers'
    constant-RCS points (scene.people)."""
    from ..scene.meshes import box
    from sionna.rt.rcs import ConstantRCSSensingTarget, TR38901SensingTarget

    from ..scene import people
    from ..scene.objects import BIKE_FRAME_RCS_M2
    from .sionna_jit import Poser

    hull = tmp / "slot.ply"
    if not hull.exists():
        write_ply(hull, *box(0.5, 0.5, 0.5))
    out = [TR38901SensingTarget(name=f"slot{k}", object_type=OBJECT_TYPES[cls], fname=str(hull),
                                random_phases=True)]
    if cls != "car":
        rcs = list(people.limb_scatterers(cls, 1.7, np.zeros((1, 2)), np.zeros(1), np.zeros((1, 2)), 0.1)[2])
        rcs += [BIKE_FRAME_RCS_M2] if cls == "cyclist" else []
        e = SCATTERER_SIZE_M
        out += [ConstantRCSSensingTarget(name=f"slot{k}-sp{i}", sigma=float(sg), length=e, width=e, height=e)
                for i, sg in enumerate(rcs)]
    for j, st in enumerate(out):
        st._rv_velocity = (0.0, 0.0, 0.0)
        Poser(st).set((0.0, 0.0, -1000.0), 0.0)
    return out


def scatterer_targets(body, objs: list) -> list:
    """Constant-RCS sensing targets for a road user's micro-Doppler scatterers (limbs, pedals, frame):
    one small cuboid each, posed per frame at the scatterer with its own velocity (``pose_mover``)."""
    from sionna.rt.rcs import ConstantRCSSensingTarget

    from .sionna_jit import Poser

    sc = body.scatterers
    if not sc:
        return []
    out = []
    for k, sigma in enumerate(np.asarray(sc["rcs_m2"], np.float64)):
        e = SCATTERER_SIZE_M
        st = ConstantRCSSensingTarget(name=f"{body.name}-sp{k}", sigma=float(sigma), length=e, width=e, height=e)
        st._rv_velocity = tuple(float(v) for v in sc["velocities"][0, k])
        poser = Poser(st)
        poser.set(sc["points"][0, k], 0.0)
        objs.append(st)
        out.append((poser, body, k))
    return out


def pose_mover(poser, body, k: int | None, frame: int) -> None:
    """Move a road user's sensing target (``k`` None) to its footprint pose at ``frame``, or its k-th
    scatterer to its point (opaque transforms: no new kernel per pose, see ``sionna_jit``). A hull's
    AABB centre, Sionna's ``position``, is the footprint centre lifted by H/2 for any yaw (hull AABB
    [-L/2,L/2]x[-W/2,W/2]x[0,H]); a scatterer's cuboid is centred on its point."""
    if k is None:
        pos, yaw = body.pose(frame)
        poser.set(pos, yaw)
        # a turning car's velocity changes per frame (Doppler of its scattering points)
        poser.obj._rv_velocity = tuple(float(v) for v in body.velocity_at(frame))
        return
    sc = body.scatterers
    i = min(frame, len(sc["points"]) - 1)
    poser.set(sc["points"][i, k], 0.0)
    poser.obj._rv_velocity = tuple(float(v) for v in sc["velocities"][i, k])


def itu_band(itu: str, carrier_hz: float) -> tuple[float, float, float, float, float]:
    """(frequency [GHz] the ITU-R P.2040 model is evaluated at, a, b, c, d) of material ``itu``.

    Inside one of the recommendation's bands: the carrier itself. Outside every band (brick at 77 GHz:
    P.2040 defines 1-40 and 110-330 GHz): the nearest band edge, i.e. the material's properties are held
    constant beyond its last measured frequency instead of extrapolating the power law (eqs. 28-29).
    """
    from sionna.rt.radio_materials.itu import ITU_MATERIALS_PROPERTIES

    f = carrier_hz / 1e9
    bands = ITU_MATERIALS_PROPERTIES[itu]
    for (lo, hi), prm in bands.items():
        if lo <= f <= hi:
            return (f, *prm)
    (lo, hi), prm = min(bands.items(), key=lambda kv: min(abs(f - kv[0][0]), abs(f - kv[0][1])))
    return (lo if abs(f - lo) < abs(f - hi) else hi, *prm)


def radio_material(itu: str, carrier_hz: float, scattering: float):
    """Sionna radio material of ITU type ``itu`` at the carrier: Sionna's own ``ITURadioMaterial`` where
    P.2040 covers the carrier, else a fixed-property ``RadioMaterial`` at the nearest band edge (``itu_band``)."""
    from sionna.rt import RadioMaterial
    from sionna.rt.radio_materials import ITURadioMaterial

    f, a, b, c, d = itu_band(itu, carrier_hz)
    if abs(f - carrier_hz / 1e9) < 1e-9:
        return ITURadioMaterial(name=f"rv-{itu}", itu_type=itu, thickness=0.1, scattering_coefficient=scattering)
    return RadioMaterial(name=f"rv-{itu}", thickness=0.1, relative_permittivity=float(a * f ** b),
                         conductivity=float(c * f ** d), scattering_coefficient=scattering)


def weather_db_per_km(world, carrier_hz: float) -> float:
    """Specific attenuation [dB/km] of the world's weather at the carrier (0 when clear or unset)."""
    from .weather import Weather

    return float(Weather.of_world(world).radio_db_per_km(carrier_hz))
