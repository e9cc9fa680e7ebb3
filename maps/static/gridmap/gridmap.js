/* gridmap: the few Leaflet pieces folium lacks. Loaded after Leaflet (and MarkerCluster and
 * leaflet.heat on incident maps); the Python builders in maps/ emit one call per element. */
(function () {
  "use strict";
  var gridmap = (window.gridmap = window.gridmap || {});

  function escapeHtml(value) {
    return String(value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  // Wall-clock minutes (the data's local time written as if UTC) as "YYYY-MM-DD HH:MM".
  function formatMinutes(minutes) {
    return new Date(minutes * 60000).toISOString().slice(0, 16).replace("T", " ");
  }

  // A box in a map corner holding trusted HTML built by the Python side (legends, notes).
  gridmap.info = function (map, html, options) {
    var control = L.control({ position: options.position });
    control.onAdd = function () {
      var div = L.DomUtil.create("div", "gridmap-info " + (options.className || ""));
      div.innerHTML = html;
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    return control.addTo(map);
  };

  // Unpack {x0, y0, q, xy: [dx, dy, ...]}: integer offsets of q degrees from (x0, y0).
  function unpack(data, i) {
    return L.latLng(data.y0 + data.xy[2 * i + 1] * data.q, data.x0 + data.xy[2 * i] * data.q);
  }

  // Row i of column arrays {name: [values]} as an object.
  function record(columns, i) {
    var row = {};
    for (var name in columns) row[name] = columns[name][i];
    return row;
  }

  function cell(value) {
    if (value === null || value === undefined) return "—";
    return escapeHtml(typeof value === "number" ? value.toLocaleString() : value);
  }

  // "a1,a2,…;b1,b2,…" as paired bars (a grey, b green), one pair per label, as inline SVG.
  function bars(value, labels) {
    if (value === null || value === undefined) return "—";
    var series = String(value).split(";").map(function (s) { return s.split(",").map(Number); });
    var top = Math.max.apply(null, [1].concat(series[0], series[1] || []));
    var w = 14, h = 60, svg = "<svg class='gridmap-bars' width='" + labels.length * w + "' height='" + (h + 14) + "'>";
    labels.forEach(function (label, i) {
      series.forEach(function (s, k) {
        var v = s[i] || 0, bh = Math.round((v / top) * h);
        svg += "<rect x='" + (i * w + k * 6 + 1) + "' y='" + (h - bh) + "' width='5' height='" + bh +
               "' fill='" + (k ? "#31a354" : "#9e9e9e") + "'><title>" + escapeHtml(label) + ": " + v + "</title></rect>";
      });
    });
    var first = labels[0] || "", last = labels[labels.length - 1] || "";
    svg += "<text x='0' y='" + (h + 12) + "' font-size='9'>" + escapeHtml(first) + "</text>";
    svg += "<text x='" + labels.length * w + "' y='" + (h + 12) + "' font-size='9' text-anchor='end'>" + escapeHtml(last) + "</text>";
    return svg + "</svg>";
  }

  function table(properties, fields) {
    return "<table class='gridmap-table'>" + fields.map(function (field) {
      var value = properties[field[0]];
      return "<tr><th>" + escapeHtml(field[1]) + "</th><td>" + (field[2] ? bars(value, field[2]) : cell(value)) + "</td></tr>";
    }).join("") + "</table>";
  }

  // Rings packed by maps/pack.py pack_polygons -> per feature, per part, per ring LatLngs.
  function unpackPolygons(data) {
    var shapes = [], v = 0, r = 0, p = 0;
    for (var f = 0; f < data.feats.length; f++) {
      var parts = [];
      for (var partEnd = p + data.feats[f]; p < partEnd; p++) {
        var rings = [];
        for (var ringEnd = r + data.parts[p]; r < ringEnd; r++) {
          var ring = new Array(data.rings[r]), x = 0, y = 0;
          for (var k = 0; k < ring.length; k++, v += 2) {
            x = k ? x + data.xy[v] : data.xy[v];
            y = k ? y + data.xy[v + 1] : data.xy[v + 1];
            ring[k] = L.latLng(data.y0 + y * data.q, data.x0 + x * data.q);
          }
          rings.push(ring);
        }
        parts.push(rings);
      }
      shapes.push(parts);
    }
    return shapes;
  }

  // A feature group of polygons on the map's renderer (canvas for gridmap maps). Each
  // polygon carries feature.properties (for leaflet-search); tooltips, popups and hover
  // highlight are bound once on the group, as folium does for GeoJson.
  gridmap.polygons = function (data, options) {
    var group = L.featureGroup();
    unpackPolygons(data).forEach(function (parts, i) {
      var style = L.extend({}, options.style);
      if (data.cls) style.fillColor = options.colors[data.cls[i]];
      var layer = L.polygon(parts, style);
      layer.feature = { type: "Feature", properties: record(data.props, i) };
      group.addLayer(layer);
    });
    if (!options.style.interactive) return group;
    if (options.tooltip.length) {
      group.bindTooltip(function (layer) { return table(layer.feature.properties, options.tooltip); },
                        { sticky: true });
    }
    group.bindPopup(function (layer) { return table(layer.feature.properties, options.popup); },
                    { maxWidth: 360 });
    group.on("mouseover", function (e) { e.layer.setStyle(options.highlight); });
    group.on("mouseout", function (e) {
      e.layer.setStyle({ color: options.style.color, weight: options.style.weight });
    });
    return group;
  };

  // Search a polygon group by a property (prefix match: codes nest district > street >
  // community > grid); a hit zooms to the polygon and opens its popup as a click would.
  gridmap.search = function (map, group, options) {
    var control = new L.Control.Search({
      layer: group,
      propertyName: options.property,
      textPlaceholder: options.placeholder,
      position: "topleft",
      collapsed: false,
      marker: false,
      moveToLocation: function (latlng, title, map) {
        map.fitBounds(latlng.layer.getBounds(), { maxZoom: 17, animate: false });
      },
    });
    control.on("search:locationfound", function (e) {
      e.layer.fire("click", { latlng: e.layer.getCenter() }, true);
    });
    map.addControl(control);
    return control;
  };

  // Markers from packed points, each drawn with options.styles[data.style[i]] (an
  // awesome-markers Font Awesome icon and colour), with a tooltip and an optional popup table
  // of data.props. One element for hundreds of stations, where folium would emit several each.
  gridmap.markers = function (data, options) {
    var group = L.featureGroup();
    var icons = options.styles.map(function (style) {
      return L.AwesomeMarkers.icon({ icon: style.icon, markerColor: style.color, prefix: "fa" });
    });
    for (var i = 0; i < data.style.length; i++) {
      var properties = record(data.props, i);
      var marker = L.marker(unpack(data, i), { icon: icons[data.style[i]] });
      var tip = options.tooltip.map(function (name) { return cell(properties[name]); });
      marker.bindTooltip((options.title ? [escapeHtml(options.title)] : []).concat(tip).join(" · "));
      if (options.popup.length) marker.bindPopup(table(properties, options.popup));
      group.addLayer(marker);
    }
    return group;
  };

  // A pane for points painted on tiles: above vector overlays (400), below markers (600), and
  // letting clicks through to the grids under them.
  function pointPane(map, name) {
    if (!map.getPane(name)) {
      var pane = map.createPane(name);
      pane.style.zIndex = 450;
      pane.style.pointerEvents = "none";
    }
    return name;
  }

  // Tens of thousands of points (buildings) painted onto canvas tiles instead of one DOM or
  // vector object each. Points come sorted by longitude (maps/layers.py), so once projected at
  // zoom 0 a tile finds its points by binary search on x; data.cls indexes options.colors,
  // later classes drawn on top.
  gridmap.PointLayer = L.GridLayer.extend({
    options: { colors: ["#3388ff"], pane: "gridmapPoints", updateWhenZooming: false },

    initialize: function (data, options) {
      L.GridLayer.prototype.initialize.call(this, options);
      this._data = data;
    },

    onAdd: function (map) {
      pointPane(map, this.options.pane);
      if (!this._x) this._project(map.options.crs);
      L.GridLayer.prototype.onAdd.call(this, map);
    },

    count: function () {
      return this._data.cls.length;
    },

    _project: function (crs) {
      var n = this.count(), p;
      this._x = new Float64Array(n);
      this._y = new Float64Array(n);
      for (var i = 0; i < n; i++) {
        p = crs.latLngToPoint(unpack(this._data, i), 0);
        this._x[i] = p.x;
        this._y[i] = p.y;
      }
    },

    _firstAtOrAfter: function (x) {
      var lo = 0, hi = this._x.length;
      while (lo < hi) {
        var mid = (lo + hi) >> 1;
        if (this._x[mid] < x) lo = mid + 1; else hi = mid;
      }
      return lo;
    },

    createTile: function (coords) {
      var size = this.getTileSize(), ratio = window.devicePixelRatio || 1;
      var tile = L.DomUtil.create("canvas", "leaflet-tile");
      tile.width = size.x * ratio;
      tile.height = size.y * ratio;
      var ctx = tile.getContext("2d");
      ctx.scale(ratio, ratio);
      var scale = Math.pow(2, coords.z), r = coords.z < 13 ? 1.5 : coords.z < 15 ? 2.5 : 4;
      var left = coords.x * size.x, top = coords.y * size.y;
      var end = this._firstAtOrAfter((left + size.x + r) / scale);
      var byClass = this.options.colors.map(function () { return []; });
      for (var i = this._firstAtOrAfter((left - r) / scale); i < end; i++) {
        var y = this._y[i] * scale - top;
        if (y >= -r && y <= size.y + r) byClass[this._data.cls[i]].push(this._x[i] * scale - left, y);
      }
      byClass.forEach(function (xy, c) {
        if (!xy.length) return;
        ctx.fillStyle = this.options.colors[c];
        ctx.beginPath();
        for (var j = 0; j < xy.length; j += 2) {
          ctx.moveTo(xy[j] + r, xy[j + 1]);
          ctx.arc(xy[j], xy[j + 1], r, 0, 2 * Math.PI);
        }
        ctx.fill();
      }, this);
      return tile;
    },
  });

  gridmap.pointLayer = function (data, options) {
    return new gridmap.PointLayer(data, options);
  };

  // An incident's popup: times in wall-clock minutes, the deadline flagged when passed while
  // the incident is still open; a count row when the dot stands for several.
  function incidentTable(row, open, utcOffset, labels) {
    var overdue = open && row.due !== null && row.due < Date.now() / 60000 + utcOffset;
    var keys = ["id", "category", "status", "priority", "grid", "reported", "due"];
    if (row.count > 1) keys.push("count");
    return table(L.extend({}, row, {
      id: String(row.id),
      reported: formatMinutes(row.reported),
      due: row.due === null ? null : formatMinutes(row.due) + (overdue ? " · " + labels.overdue : ""),
    }), keys.map(function (key) { return [key, labels[key]]; }));
  }

  // Incidents as heat and clustered markers, filtered by status and category checkboxes and a
  // "reported up to" day slider. data: packed points plus column arrays (see maps/incidents.py).
  gridmap.incidents = function (map, heat, cluster, data, labels) {
    var n = data.id.length, markers = new Array(n), i;
    var on = { st: data.statuses.map(function () { return true; }),
               cat: data.categories.map(function () { return true; }) };
    var day = 1440, lo = Infinity, hi = -Infinity;
    for (i = 0; i < n; i++) {
      lo = Math.min(lo, data.t[i]);
      hi = Math.max(hi, data.t[i]);
    }
    var first = Math.floor(lo / day) * day, last = Math.floor(hi / day) * day, until = last + day;

    function popup(k) {
      return incidentTable({
        id: data.id[k],
        category: data.categories[data.cat[k]],
        status: data.statuses[data.st[k]],
        priority: data.priorities[data.pr[k]],
        grid: data.grid[k],
        reported: data.t[k],
        due: data.due[k],
      }, data.open[data.st[k]], data.utcOffset, labels);
    }

    var icons = data.statusColors.map(function (colour) {
      return L.divIcon({
        className: "gridmap-dot",
        html: "<span style='background:" + colour + "'></span>",
        iconSize: [12, 12],
      });
    });
    for (i = 0; i < n; i++) {
      markers[i] = L.marker(unpack(data, i), { icon: icons[data.st[i]] }).bindPopup(popup.bind(null, i));
    }

    function refresh() {
      var shown = [], points = [];
      for (var k = 0; k < n; k++) {
        if (on.st[data.st[k]] && on.cat[data.cat[k]] && data.t[k] < until) {
          shown.push(markers[k]);
          points.push(markers[k].getLatLng());
        }
      }
      cluster.clearLayers();
      cluster.addLayers(shown);
      heat.setLatLngs(points);
      count.textContent = labels.until + " " + formatMinutes(until - day).slice(0, 10) +
        " · " + shown.length + " / " + n;
    }

    function checkboxes(title, names, flags) {
      var html = "<div class='gridmap-filter-title'>" + escapeHtml(title) + "</div>";
      names.forEach(function (name, k) {
        html += "<label><input type='checkbox' checked data-k='" + k + "'> " + escapeHtml(name) + "</label>";
      });
      var box = L.DomUtil.create("div", "gridmap-filter-group");
      box.innerHTML = html;
      box.addEventListener("change", function (e) {
        flags[Number(e.target.getAttribute("data-k"))] = e.target.checked;
        refresh();
      });
      return box;
    }

    var control = L.control({ position: "topright" });
    var count = document.createElement("div");
    control.onAdd = function () {
      var div = L.DomUtil.create("div", "gridmap-info gridmap-filter");
      div.appendChild(checkboxes(labels.status, data.statuses, on.st));
      div.appendChild(checkboxes(labels.category, data.categories, on.cat));
      var slider = L.DomUtil.create("input", "gridmap-slider", div);
      slider.type = "range";
      slider.min = 0;
      slider.max = (last - first) / day;
      slider.value = slider.max;
      slider.addEventListener("input", function () {
        until = first + (Number(slider.value) + 1) * day;
        refresh();
      });
      div.appendChild(count);
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    control.addTo(map);
    refresh();
    return control;
  };

  // Incidents drawn from vector tiles (data/tiles.py), for more than a page can embed: a dot
  // per feature in its status colour (data.colors, else data.other), on canvas tiles that let
  // clicks through to the grids below. Hovering a dot shows its tooltip, a click its popup; the
  // dot is looked up in the features VectorGrid 1.3.0 keeps per tile for setFeatureStyle (hence
  // getFeatureId): it has no query API, and its own interactive canvas tiles would swallow
  // every click that misses a dot (and call L.DomEvent.fakeStop, gone since Leaflet 1.8).
  gridmap.incidentTiles = function (map, url, data, labels) {
    var styles = {};
    styles[data.layer] = function (properties, zoom) {
      return {
        radius: zoom < 15 ? 3.5 : 5,
        weight: 1,
        color: "#ffffff",
        fill: true,
        fillColor: data.colors[properties.status] || data.other,
        fillOpacity: 0.9,
      };
    };
    var layer = L.vectorGrid.protobuf(url, {
      pane: pointPane(map, "gridmapPoints"),
      rendererFactory: L.canvas.tile,
      vectorTileLayerStyles: styles,
      getFeatureId: function (feature) { return feature.properties.id; },
    });

    // The dot under a mouse event, with its incident's properties and position; null when the
    // event is on a control or popup, misses every dot, or ends a drag.
    function dotAt(e) {
      if (!map.hasLayer(layer) || e.target.closest(".leaflet-control, .leaflet-popup")) return null;
      if (map.dragging && (map.dragging.moving() || (e.type === "click" && map.dragging.moved()))) {
        return null;
      }
      var z = Math.round(map.getZoom()), size = layer.getTileSize();
      var point = map.project(map.mouseEventToLatLng(e), z), coords = point.unscaleBy(size).floor();
      coords.z = z;
      var tile = layer._vectorTiles[layer._tileCoordsToKey(coords)];
      var origin = coords.scaleBy(size), best = null, nearest = Infinity;
      for (var id in (tile && tile._features) || {}) {
        var dot = tile._features[id].feature, d = point.subtract(origin).distanceTo(dot._point);
        if (d <= dot._radius + 2 && d < nearest) {
          best = { properties: dot.properties, latlng: map.unproject(origin.add(dot._point), z) };
          nearest = d;
        }
      }
      return best;
    }

    function minutes(iso) {
      return iso ? Date.parse(iso) / 60000 + data.utcOffset : null;
    }

    function incident(p) {
      return {
        id: p.id,
        category: p.category,
        status: data.statuses[p.status] || p.status,
        priority: data.priorities[p.priority] || p.priority,
        grid: p.grid_code,
        reported: minutes(p.reported_at),
        due: minutes(p.due_at),
        count: p.count,
      };
    }

    // Listening in the capture phase on the map's container runs before Leaflet's handlers on
    // the grids' canvas, which would open the popup of the grid under a dot and stop the
    // click there, and show the grid's tooltip while the mouse is on a dot.
    var container = map.getContainer(), tooltip = L.tooltip({ direction: "top", offset: [0, -6] });
    container.addEventListener("click", function (e) {
      var dot = dotAt(e);
      if (!dot) return;
      e.stopPropagation();
      var open = data.openStatuses.indexOf(dot.properties.status) >= 0;
      L.popup({ maxWidth: 360 }).setLatLng(dot.latlng)
        .setContent(incidentTable(incident(dot.properties), open, data.utcOffset, labels))
        .openOn(map);
    }, true);
    container.addEventListener("mousemove", function (e) {
      var dot = dotAt(e), shown = map.hasLayer(tooltip);
      L.DomUtil[dot ? "addClass" : "removeClass"](container, "gridmap-pointer");
      if (!dot) {
        if (shown) map.closeTooltip(tooltip);
        return;
      }
      e.stopPropagation();
      // the grid under the dot loses its hover highlight and tooltip, as under a marker
      if (!shown) e.target.dispatchEvent(new MouseEvent("mouseout"));
      var row = incident(dot.properties);
      tooltip.setLatLng(dot.latlng)
        .setContent([String(row.id), row.category, row.status].map(cell).join(" · "));
      if (!shown) map.openTooltip(tooltip);
    }, true);
    container.addEventListener("mouseleave", function () {
      map.closeTooltip(tooltip);
    });
    return layer;
  };
})();
