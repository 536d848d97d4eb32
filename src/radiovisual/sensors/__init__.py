"""Sensors: the Sionna RT radar and the Mitsuba camera, both fed by one ``scene.World``."""
