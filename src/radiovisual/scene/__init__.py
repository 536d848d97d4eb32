"""Scene stage: the ``World`` both sensors see -- built from a scenario layout (parking lot, suburban, street
canyon: ``build_world``), from the user's own scene file and tracks (``build_user_world``, docs/scenes.md), or
by hand from ``Body`` / ``Part`` objects.

``World``, ``Body`` and ``Part`` are imported here (numpy only); the builders load on first use, so importing
this package pulls in no simulator.
"""

from __future__ import annotations

from typing import Any

from .world import Body, Part, World, world_to_radar_polar

__all__ = ["Body", "Part", "World", "world_to_radar_polar", "build_world", "build_user_world", "load_scene_xml",
           "load_tracks"]
_LAZY = {"build_world": "layouts", "build_user_world": "user", "load_scene_xml": "user", "load_tracks": "user"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
