"""15-minute service circles: the stable import path of ``walk_distances``.

``from geo.coverage import walk_distances`` is a documented entry point (docs/design.md,
"Python API") that outside checks rely on, so it keeps working now that the code lives in
modules of one job each; code in this repository imports from those directly:

* ``geo.walk`` — walk distances and nearest sources along the network (the distance rule),
  covered within a walking time;
* ``geo.groups`` — covered buildings, households and population, and gaps, per group;
* ``geo.isochrones`` — each station's walking isochrone polygons;
* ``geo.siting`` — greedy siting of new stations.
"""

from __future__ import annotations

from geo.walk import walk_distances

__all__ = ["walk_distances"]
