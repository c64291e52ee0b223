"""Pure slicing values: extents, points, regions (with their text grammar) and value meshes."""

from __future__ import annotations

from meshtrio.slicing.extent import Extent, Point
from meshtrio.slicing.region import Region
from meshtrio.slicing.value_mesh import ValueMesh

__all__ = ["Extent", "Point", "Region", "ValueMesh"]
