"""Writes the meshes of the mini scene (``mini.xml`` names them): a concrete ground slab, a brick building, a
glass building and a metal pole, as binary PLY files in ``meshes/``. World frame of docs/scenes.md: metres,
z up, the ground top at z = 0, the radar at the origin's mast looking along +x.

Run once from anywhere: ``python examples/scenes/mini/make_mini.py``. Any tool that writes PLY (Blender's
Mitsuba exporter, trimesh, ...) does the same job; ``radiovisual.scene.meshes`` is just at hand here.
"""

from pathlib import Path

from radiovisual.scene.meshes import box, write_ply

HERE = Path(__file__).resolve().parent

# name: (length along x, width along y, height, centre (x, y), bottom z) [m]
BOXES = {
    "ground": (40.0, 40.0, 0.1, (15.0, 0.0), -0.1),        # x -5..35, y -20..20, top at z = 0
    "brick_building": (8.0, 8.0, 8.0, (22.0, 11.0), 0.0),   # front wall 18 m ahead, to the left
    "glass_building": (6.0, 8.0, 6.0, (21.0, -11.0), 0.0),  # front wall 18 m ahead, to the right
    "pole": (0.2, 0.2, 5.0, (13.0, -4.5), 0.0),             # a lamp post behind the road
}

if __name__ == "__main__":
    (HERE / "meshes").mkdir(exist_ok=True)
    for name, (L, W, H, centre, z0) in BOXES.items():
        print(write_ply(HERE / "meshes" / f"{name}.ply", *box(L, W, H, z0=z0, center_xy=centre)))
