"""The bundled sample city: central Nanjing's real streets, buildings and civic POIs with a
fictional 玄武区 street/community/grid hierarchy (© OpenStreetMap contributors, ODbL 1.0;
see ``nanjing/ATTRIBUTION.txt``). Rebuilt by ``python -m data.sample.generate``.
"""

from importlib.resources import files
from importlib.resources.abc import Traversable
from types import MappingProxyType

SAMPLE_FILES = MappingProxyType(
    {
        "regions": "regions.geojson",
        "grids": "grids.geojson",
        "buildings": "buildings.geojson",
        "stations": "stations.geojson",
        "network": "network.geojson",
        "attribution": "ATTRIBUTION.txt",
    }
)
"""Role → file name inside ``sample_dir()``."""


def sample_dir() -> Traversable:
    """The sample's folder as package data (``importlib.resources.as_file`` for a real path)."""
    return files(__name__) / "nanjing"
