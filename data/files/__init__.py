"""Files people bring, and the jobs that run on them.

Reading them: vector files (GeoJSON, GPKG, Shapefile, … via pyogrio: ``vector``), OSM
``.osm.pbf`` extracts (buildings and stations via pyrosm: ``osm``; the walking network:
``network``) and CSV; importing them into PostGIS (``importers``, ``network``), which
stores through the repositories at the top of ``data``; and the offline jobs that need no
database at all (``assign``: a CSV's points to grids; ``coverage``: walk distances from
files). Nothing at the top of ``data`` imports from here but ``sample_loader``, which
imports the bundled sample city's files.
"""
