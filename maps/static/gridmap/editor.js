/* gridmap's boundary editor (/admin/grids/edit): one community's grids on a Leaflet map, edited
   with Leaflet-Geoman, every shared vertex moved in every grid that has it (no sliver, no gap),
   a live impact preview from POST /api/v1/grids/validate, and commits through
   POST /api/v1/grids/redraw. Coordinates are kept exactly as the API sends them (full double
   precision) and written back the same way: never through Leaflet's toGeoJSON, which rounds.
   Every text from the server goes into the page as text, never as markup. */
(function () {
  "use strict";

  const CONFIG = JSON.parse(document.getElementById("editor-config").textContent);
  const API = CONFIG.api;
  const KEY_STORE = "gridmap.editor.key";
  const SAME = 1e-9; // degrees: vertices closer than this are one vertex (~0.1 mm)
  const STYLE = { color: "#1f5fbf", weight: 2, fillOpacity: 0.08 };
  const SELECTED = { color: "#d95f02", weight: 3, fillOpacity: 0.15 };
  const CHANGED = { color: "#1a9641", weight: 2.5, fillOpacity: 0.12 };
  const $ = (id) => document.getElementById(id);

  const state = {
    key: sessionStorage.getItem(KEY_STORE) || "",
    communities: [],
    community: null,
    grids: new Map(), // code (or "new-N") -> grid record
    selected: null,
    undo: [],
    current: null, // the snapshot after the last completed edit
    drag: null, // {refs: [LatLng of neighbours at the dragged vertex], codes}
    mode: null, // "split" | "merge" | "retire"
    seq: 0,
    timer: null,
    fresh: 0,
    report: null,
  };

  // --- page plumbing ---------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function fill(id, ...children) {
    const node = $(id);
    node.replaceChildren(...children.filter((c) => c !== null && c !== undefined));
    node.classList.remove("hint");
    return node;
  }

  function message(text, kind) {
    const node = $("message");
    node.replaceChildren(...[].concat(text).map((line) => el("div", {}, line)));
    node.className = kind || "";
  }

  async function api(path, options) {
    const { method = "GET", body } = options || {};
    const headers = {};
    if (state.key) headers["X-API-Key"] = state.key;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(API + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      return { status: 0, ok: false, data: { detail: "网络错误 network error: " + err } };
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (err) {
      data = { detail: text };
    }
    return { status: response.status, ok: response.ok, data };
  }

  function problemText(r) {
    const detail = (r.data && (r.data.detail || r.data.title)) || "";
    const known = {
      401: "密钥无效 unknown key",
      403: "需要管理员密钥 an admin key is needed",
      429: "请求过多，请稍候 too many requests, wait a moment",
    };
    return `${known[r.status] || "错误 error"} (${r.status}) ${detail}`.trim();
  }

  // Times as wall-clock time where the grids are (GRIDMAP_TIMEZONE), e.g. 2026-12-01 08:00.
  const CLOCK = new Intl.DateTimeFormat("sv-SE", {
    timeZone: CONFIG.timezone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
  });
  const fmtTime = (iso) => (iso ? CLOCK.format(new Date(iso)) : "—");

  // --- the map -----------------------------------------------------------------------------

  const map = L.map("map", { zoomControl: true, maxZoom: 19, boxZoom: false });
  for (const t of CONFIG.tiles) {
    L.tileLayer(t.url, {
      attribution: t.attribution,
      subdomains: t.subdomains,
      maxZoom: 19,
      maxNativeZoom: t.maxZoom,
    }).addTo(map);
  }
  if (CONFIG.tilesNote) map.attributionControl.addAttribution(CONFIG.tilesNote);
  map.setView([32.05, 118.79], 14);
  const gridLayer = L.featureGroup().addTo(map);
  const previewLayer = L.featureGroup().addTo(map);
  const historyLayer = L.featureGroup().addTo(map);
  map.pm.setGlobalOptions({ snappable: false });

  function toLatLngs(geometry) {
    const ring = (coords) => coords.slice(0, -1).map(([x, y]) => L.latLng(y, x));
    if (geometry.type === "Polygon") return geometry.coordinates.map(ring);
    return geometry.coordinates.map((polygon) => polygon.map(ring));
  }

  function ringCoords(ring) {
    const coords = ring.map((ll) => [ll.lng, ll.lat]);
    if (coords.length) coords.push([ring[0].lng, ring[0].lat]);
    return coords;
  }

  function geometryOf(layer) {
    const latlngs = layer.getLatLngs();
    if (latlngs.length && latlngs[0].length && latlngs[0][0] instanceof L.LatLng) {
      return { type: "Polygon", coordinates: latlngs.map(ringCoords) };
    }
    return { type: "MultiPolygon", coordinates: latlngs.map((p) => p.map(ringCoords)) };
  }

  // Every ring of a layer (Polygon: rings; MultiPolygon: polygons of rings).
  function rings(layer) {
    const latlngs = layer.getLatLngs();
    if (!latlngs.length) return [];
    if (latlngs[0].length && latlngs[0][0] instanceof L.LatLng) return latlngs;
    return latlngs.flat();
  }

  const same = (a, b) => Math.abs(a.lat - b.lat) <= SAME && Math.abs(a.lng - b.lng) <= SAME;

  function alive() {
    return [...state.grids.values()].filter((g) => !g.retired);
  }

  // --- grids -------------------------------------------------------------------------------

  function labelOf(g) {
    const flag = outOfRange(g.households) ? " ⚠" : "";
    const box = el("div", { class: "grid-label" }, el("b", {}, g.isNew ? "新 new" : g.code.slice(-3)));
    if (!g.isNew) {
      box.append(el("div", {}, `${g.households}户${flag}`));
      if (g.open_incidents) box.append(el("div", { class: "inc" }, `${g.open_incidents}件`));
    }
    return box;
  }

  function outOfRange(households) {
    return households < CONFIG.workload.min || households > CONFIG.workload.max;
  }

  function addGrid(g, latlngs) {
    g.layer = L.polygon(latlngs, { ...STYLE, pmIgnore: false });
    g.layer.on("click", () => onGridClick(g.code));
    g.layer.bindTooltip(labelOf(g), { permanent: true, direction: "center", className: "grid-tip" });
    g.layer.on("pm:markerdragstart", onDragStart);
    g.layer.on("pm:markerdrag", onDrag);
    g.layer.on("pm:markerdragend", onDragEnd);
    g.layer.on("pm:vertexadded", onVertexAdded);
    g.layer.on("pm:vertexremoved", onVertexRemoved);
    g.layer.addTo(gridLayer);
    state.grids.set(g.code, g);
  }

  async function loadCommunity(code, options) {
    const { select = null, keepMessage = false } = options || {};
    const r = await api(`/editor/grids?community=${encodeURIComponent(code)}`);
    if (!r.ok) {
      message(problemText(r), "error");
      return;
    }
    state.community = code;
    state.selected = null;
    state.mode = null;
    state.grids.clear();
    gridLayer.clearLayers();
    previewLayer.clearLayers();
    historyLayer.clearLayers();
    for (const f of r.data.features) {
      const p = f.properties;
      addGrid(
        { ...p, original: JSON.stringify(f.geometry.coordinates), isNew: false, retired: false },
        toLatLngs(f.geometry)
      );
    }
    state.undo = [];
    state.current = snapshot();
    if (!keepMessage) message("");
    fill("grid-info", "未选择 none").classList.add("hint");
    fill("history", "—").classList.add("hint");
    if (gridLayer.getLayers().length) map.fitBounds(gridLayer.getBounds(), { padding: [10, 10], animate: false });
    renderList();
    renderPreview(null);
    updateButtons();
    if (select && state.grids.has(select)) selectGrid(select);
    document.body.dataset.loaded = `${code}:${Date.now()}`;
  }

  function renderList() {
    const rows = alive()
      .filter((g) => !g.isNew)
      .map((g) =>
        el(
          "tr",
          {
            class: (outOfRange(g.households) ? "flag " : "") + (g.code === state.selected ? "sel" : ""),
            "data-code": g.code,
            onclick: () => {
              selectGrid(g.code);
              map.fitBounds(g.layer.getBounds(), { maxZoom: map.getZoom() });
            },
          },
          el("td", {}, g.code),
          el("td", {}, g.name),
          el("td", { class: "num" }, g.households, outOfRange(g.households) ? " ⚠" : ""),
          el("td", { class: "num" }, g.open_incidents)
        )
      );
    const head = el(
      "tr",
      {},
      el("th", {}, "编码 code"),
      el("th", {}, "名称 name"),
      el("th", {}, "户 hh"),
      el("th", {}, "事件 open")
    );
    fill(
      "grids-list",
      el("div", { class: "hint" }, `工作量范围 workload ${CONFIG.workload.min}–${CONFIG.workload.max} 户 households`),
      el("table", { class: "list" }, el("thead", {}, head), el("tbody", {}, ...rows))
    );
  }

  function restyle() {
    const changed = new Set(changes().map((c) => c.code).filter(Boolean));
    for (const g of alive()) {
      const style = g.code === state.selected ? SELECTED : changed.has(g.code) || g.isNew ? CHANGED : STYLE;
      g.layer.setStyle(style);
    }
  }

  function onGridClick(code) {
    if (state.mode === "split" || state.mode === "draw") return; // clicks while drawing
    if (state.mode === "merge" || state.mode === "retire") {
      mergeWith(code);
      return;
    }
    selectGrid(code);
  }

  function selectGrid(code) {
    const previous = state.grids.get(state.selected);
    if (previous && previous.layer.pm.enabled()) previous.layer.pm.disable();
    state.selected = code;
    const g = state.grids.get(code);
    g.layer.pm.enable({ snappable: false, draggable: false, allowSelfIntersection: true });
    restyle();
    g.layer.bringToFront();
    for (const row of document.querySelectorAll("#grids-list tr[data-code]")) {
      row.classList.toggle("sel", row.dataset.code === code);
    }
    fill(
      "grid-info",
      el("div", {}, el("b", {}, g.isNew ? "新网格 new grid" : g.code), " ", g.isNew ? "" : g.name),
      g.isNew
        ? null
        : el(
            "div",
            {},
            `户数 households ${g.households} · 建筑 buildings ${g.buildings} · 未结事件 open incidents ${g.open_incidents}`
          ),
      g.worker_name ? el("div", {}, `网格员 worker ${g.worker_name}`) : null
    );
    updateButtons();
    if (!g.isNew) loadHistory(code);
    else fill("history", "—").classList.add("hint");
  }

  // --- shared vertices ---------------------------------------------------------------------

  // The LatLng objects of every other live grid at ``at``.
  function coincident(at, except) {
    const refs = [];
    for (const g of alive()) {
      if (g.layer === except) continue;
      for (const ring of rings(g.layer)) {
        for (const ll of ring) if (same(ll, at)) refs.push({ ll, g });
      }
    }
    return refs;
  }

  function vertexAt(layer, indexPath) {
    let node = layer.getLatLngs();
    for (const i of indexPath) node = node[i];
    return node;
  }

  function onDragStart(e) {
    const at = vertexAt(e.target, e.indexPath);
    state.drag = { refs: coincident(at, e.target) };
  }

  function onDrag(e) {
    if (!state.drag) return;
    const to = e.markerEvent.target.getLatLng();
    const touched = new Set();
    for (const { ll, g } of state.drag.refs) {
      ll.lat = to.lat;
      ll.lng = to.lng;
      touched.add(g);
    }
    for (const g of touched) g.layer.redraw();
    schedule(700);
  }

  function onDragEnd(e) {
    if (!state.drag) return;
    const to = e.markerEvent.target.getLatLng();
    const touched = new Set([state.grids.get(state.selected)]);
    for (const { ll, g } of state.drag.refs) {
      ll.lat = to.lat;
      ll.lng = to.lng;
      touched.add(g);
    }
    for (const g of touched) if (g) g.layer.setLatLngs(g.layer.getLatLngs());
    state.drag = null;
    completed();
  }

  // A vertex added on an edge: the grids sharing that edge get it too.
  function onVertexAdded(e) {
    const ring = vertexAt(e.target, e.indexPath.slice(0, -1));
    const i = e.indexPath[e.indexPath.length - 1];
    const prev = ring[(i + ring.length - 1) % ring.length];
    const next = ring[(i + 1) % ring.length];
    for (const g of alive()) {
      if (g.layer === e.target) continue;
      let hit = false;
      for (const other of rings(g.layer)) {
        for (let k = 0; k < other.length; k++) {
          const a = other[k];
          const b = other[(k + 1) % other.length];
          if ((same(a, prev) && same(b, next)) || (same(a, next) && same(b, prev))) {
            other.splice(k + 1, 0, L.latLng(e.latlng.lat, e.latlng.lng));
            hit = true;
            break;
          }
        }
      }
      if (hit) g.layer.setLatLngs(g.layer.getLatLngs());
    }
    if (!(e.marker && e.marker._dragging)) completed(); // a drag completes it at its end
  }

  // A vertex removed: the grids that have it lose it too (rings keep three vertices at least).
  function onVertexRemoved(e) {
    const at = e.marker.getLatLng();
    for (const g of alive()) {
      if (g.layer === e.target) continue;
      let hit = false;
      for (const ring of rings(g.layer)) {
        const k = ring.findIndex((ll) => same(ll, at));
        if (k >= 0 && ring.length > 3) {
          ring.splice(k, 1);
          hit = true;
        }
      }
      if (hit) g.layer.setLatLngs(g.layer.getLatLngs());
    }
    completed();
  }

  // Vertices of ``g`` lying on another grid's edge (where a cut line met it) are inserted
  // into that edge, so the neighbour keeps sharing the boundary vertex for vertex.
  function weld(g) {
    for (const v of rings(g.layer).flat()) {
      for (const other of alive()) {
        if (other === g) continue;
        let hit = false;
        for (const ring of rings(other.layer)) {
          if (ring.some((ll) => same(ll, v))) continue;
          for (let k = 0; k < ring.length; k++) {
            if (onSegment(v, ring[k], ring[(k + 1) % ring.length])) {
              ring.splice(k + 1, 0, L.latLng(v.lat, v.lng));
              hit = true;
              break;
            }
          }
        }
        if (hit) other.layer.setLatLngs(other.layer.getLatLngs());
      }
    }
  }

  function onSegment(p, a, b) {
    const dx = b.lng - a.lng;
    const dy = b.lat - a.lat;
    const len2 = dx * dx + dy * dy;
    if (len2 === 0) return false;
    const t = ((p.lng - a.lng) * dx + (p.lat - a.lat) * dy) / len2;
    if (t <= 0 || t >= 1) return false;
    const cross = Math.abs((p.lng - a.lng) * dy - (p.lat - a.lat) * dx) / Math.sqrt(len2);
    return cross <= SAME;
  }

  // --- edits, undo -------------------------------------------------------------------------

  function snapshot() {
    const copy = (node) => (node instanceof L.LatLng ? [node.lat, node.lng] : node.map(copy));
    return [...state.grids.values()].map((g) => {
      const { layer, ...record } = g;
      return { record: { ...record }, latlngs: copy(layer.getLatLngs()) };
    });
  }

  function restore(shot) {
    const selected = state.selected;
    const previous = state.grids.get(selected);
    if (previous && previous.layer.pm.enabled()) previous.layer.pm.disable();
    state.grids.clear();
    gridLayer.clearLayers();
    const build = (node) =>
      typeof node[0] === "number" ? L.latLng(node[0], node[1]) : node.map(build);
    for (const { record, latlngs } of shot) {
      addGrid({ ...record }, build(latlngs));
      if (record.retired) gridLayer.removeLayer(state.grids.get(record.code).layer);
    }
    state.selected = null;
    const g = state.grids.get(selected);
    if (g && !g.retired) selectGrid(selected);
  }

  function completed() {
    state.undo.push(state.current);
    state.current = snapshot();
    restyle();
    updateButtons();
    schedule(300);
  }

  function undo() {
    if (!state.undo.length) return;
    state.current = state.undo.pop();
    restore(state.current);
    restyle();
    renderList();
    updateButtons();
    schedule(0);
  }

  function discard() {
    if (!state.undo.length) return;
    state.current = state.undo[0];
    state.undo = [];
    restore(state.current);
    restyle();
    updateButtons();
    schedule(0);
  }

  function changes() {
    const out = [];
    for (const g of state.grids.values()) {
      if (g.isNew) {
        if (!g.retired) {
          out.push({ code: null, community: state.community, geometry: geometryOf(g.layer) });
        }
      } else if (g.retired) {
        out.push({ code: g.code, etag: g.etag, retire: true });
      } else {
        const geometry = geometryOf(g.layer);
        if (JSON.stringify(geometry.coordinates) !== g.original) {
          out.push({ code: g.code, etag: g.etag, geometry });
        }
      }
    }
    return out;
  }

  function updateButtons() {
    const g = state.grids.get(state.selected);
    const pending = state.undo.length > 0;
    $("undo").disabled = !pending;
    $("discard").disabled = !pending;
    $("split").disabled = !g;
    $("merge").disabled = !g;
    $("retire").disabled = !g || g.isNew;
    $("draw").disabled = !state.community;
    $("commit").disabled = !changes().length;
    for (const id of ["split", "merge", "retire", "draw"]) $(id).classList.toggle("on", state.mode === id);
  }

  function setMode(mode, hint) {
    if (state.mode === "split" || state.mode === "draw") map.pm.disableDraw();
    state.mode = state.mode === mode ? null : mode;
    $("tool-hint").textContent = state.mode
      ? hint
      : "点击网格选中，拖动顶点修改边界 · click a grid, drag its vertices";
    if (state.mode === "split") {
      map.pm.enableDraw("Line", { snappable: true, snapDistance: 12, finishOn: "dblclick" });
    }
    if (state.mode === "draw") map.pm.enableDraw("Polygon", { snappable: true, snapDistance: 12 });
    updateButtons();
  }

  map.on("pm:create", async (e) => {
    map.removeLayer(e.layer);
    if (state.mode === "draw") {
      await drawn(e.layer);
      return;
    }
    if (state.mode !== "split") return;
    setMode("split"); // off
    const g = state.grids.get(state.selected);
    const line = { type: "LineString", coordinates: e.layer.getLatLngs().map((ll) => [ll.lng, ll.lat]) };
    const r = await api("/editor/split", { method: "POST", body: { geometry: geometryOf(g.layer), line } });
    if (!r.ok) {
      message(`无法拆分 cannot split: ${problemText(r)}`, "error");
      return;
    }
    const parts = r.data.parts.map((p) => toLatLngs(p));
    const area = (latlngs) => Math.abs(shoelace(latlngs[0]));
    parts.sort((a, b) => area(b) - area(a));
    g.layer.pm.disable();
    g.layer.setLatLngs(parts[0]);
    for (const part of parts.slice(1)) newGrid(part);
    for (const x of alive()) if (x === g || x.isNew) weld(x);
    selectGrid(g.code);
    completed();
  });

  function newGrid(latlngs) {
    state.fresh += 1;
    const g = {
      code: `new-${state.fresh}`,
      name: "新网格 new grid",
      households: 0,
      open_incidents: 0,
      buildings: 0,
      isNew: true,
      retired: false,
    };
    addGrid(g, latlngs);
    return g;
  }

  // A grid drawn by hand: snapped onto the grids under it and cut out of them (server side).
  async function drawn(layer) {
    setMode("draw"); // off
    const bounds = layer.getBounds();
    const under = alive().filter((g) => g.layer.getBounds().intersects(bounds));
    const ring = layer.getLatLngs()[0];
    const body = {
      drawn: { type: "Polygon", coordinates: [ringCoords(ring)] },
      grids: under.map((g) => geometryOf(g.layer)),
    };
    if (!under.length) {
      message("新网格须画在本社区网格上 · draw the new grid over this community's grids", "error");
      return;
    }
    const r = await api("/editor/carve", { method: "POST", body });
    if (!r.ok) {
      message(`无法新建网格 cannot draw this grid: ${problemText(r)}`, "error");
      return;
    }
    const previous = state.grids.get(state.selected);
    if (previous && previous.layer.pm.enabled()) previous.layer.pm.disable();
    under.forEach((g, k) => {
      const rest = r.data.grids[k];
      if (rest) {
        g.layer.setLatLngs(toLatLngs(rest));
      } else {
        g.retired = true;
        gridLayer.removeLayer(g.layer);
        if (g.isNew) state.grids.delete(g.code);
      }
    });
    const g = newGrid(toLatLngs(r.data.geometry));
    for (const x of [g, ...under]) if (!x.retired) weld(x);
    state.selected = null;
    selectGrid(g.code);
    renderList();
    completed();
  }

  function shoelace(ring) {
    let sum = 0;
    for (let k = 0; k < ring.length; k++) {
      const a = ring[k];
      const b = ring[(k + 1) % ring.length];
      sum += a.lng * b.lat - b.lng * a.lat;
    }
    return sum / 2;
  }

  // Merge: the selected grid takes the clicked neighbour (which retires); retire: the
  // selected grid retires into the clicked neighbour.
  async function mergeWith(code) {
    const mode = state.mode;
    const selected = state.grids.get(state.selected);
    const other = state.grids.get(code);
    setMode(mode); // off
    if (!selected || !other || other === selected) return;
    const [keep, gone] = mode === "merge" ? [selected, other] : [other, selected];
    const body = { geometries: [geometryOf(keep.layer), geometryOf(gone.layer)] };
    const r = await api("/editor/merge", { method: "POST", body });
    if (!r.ok) {
      message(`无法合并 cannot merge: ${problemText(r)}`, "error");
      return;
    }
    if (selected.layer.pm.enabled()) selected.layer.pm.disable();
    keep.layer.setLatLngs(toLatLngs(r.data.geometry));
    gone.retired = true;
    gridLayer.removeLayer(gone.layer);
    if (gone.isNew) state.grids.delete(gone.code);
    state.selected = null;
    selectGrid(keep.code);
    renderList();
    completed();
  }

  // --- the live preview --------------------------------------------------------------------

  function schedule(ms) {
    clearTimeout(state.timer);
    state.timer = setTimeout(validate, ms);
  }

  async function validate() {
    const body = { changes: changes() };
    const seq = ++state.seq;
    if (!body.changes.length) {
      renderPreview(null);
      updateButtons();
      return;
    }
    $("preview").classList.add("busy");
    const r = await api("/grids/validate", { method: "POST", body });
    if (seq !== state.seq) return; // a newer edit is being checked
    $("preview").classList.remove("busy");
    if (r.status === 412) {
      await stale(body.changes);
      return;
    }
    if (!r.ok) {
      renderPreview(null);
      fill("preview-body", el("div", { class: "error" }, problemText(r)));
      return;
    }
    renderPreview(r.data);
    updateButtons();
  }

  const KINDS = {
    gap: "缺口 gap",
    overlap: "重叠 overlap",
    invalid: "无效 invalid",
    outside_community: "超出社区 outside community",
  };

  function nameOf(code) {
    if (code === null || code === undefined) return "—";
    return code;
  }

  function renderPreview(report) {
    state.report = report;
    previewLayer.clearLayers();
    document.body.dataset.previewed = String(state.seq);
    if (!report) {
      fill("preview-body", "尚无修改 · no changes yet").classList.add("hint");
      return;
    }
    const parts = [];
    parts.push(
      el(
        "div",
        { class: report.ok ? "ok" : "error" },
        report.ok ? "✓ 无缺口无重叠 no gaps or overlaps" : `✗ ${report.problems.length} 个问题 problem(s)`
      )
    );
    for (const p of report.problems) {
      const label = `${KINDS[p.kind] || p.kind} ${p.area_m2.toFixed(1)} m² (${p.codes.join(", ")})`;
      parts.push(el("div", { class: "problem" }, label));
      L.geoJSON(p.where, {
        style: { color: "#e41a1c", weight: 2, fillColor: "#e41a1c", fillOpacity: 0.6 },
        pointToLayer: (f, ll) => L.circleMarker(ll, { radius: 8, color: "#e41a1c" }),
      })
        .bindTooltip(label)
        .addTo(previewLayer);
    }
    const impact = report.impact;
    const moved = (title, items, colour) => {
      parts.push(el("h3", {}, `${title}: ${items.length}`));
      const shown = items.slice(0, 100);
      if (shown.length) {
        parts.push(
          el(
            "table",
            { class: "list moved" },
            el("tbody", {}, ...shown.map((m) => el("tr", {}, el("td", {}, `#${m.id}`), el("td", {}, `${nameOf(m.from)} → ${nameOf(m.to)}`))))
          )
        );
      }
      if (items.length > shown.length) parts.push(el("div", { class: "hint" }, `… +${items.length - shown.length}`));
      for (const m of items) {
        if (m.lon === undefined) continue;
        L.circleMarker([m.lat, m.lon], { radius: 5, color: colour, fillOpacity: 0.9, weight: 1 })
          .bindTooltip(`#${m.id} ${nameOf(m.from)} → ${nameOf(m.to)}`)
          .addTo(previewLayer);
      }
    };
    moved("移动的建筑 buildings moved", impact.buildings_moved, "#7b3294");
    moved("移动的未结事件 open incidents moved", impact.incidents_moved, "#d7191c");
    parts.push(el("h3", {}, "户数 households (前 before → 后 after)"));
    const rows = impact.grids.map((g) => {
      const flag = outOfRange(g.households_after) && g.households_after > 0;
      return el(
        "tr",
        { class: flag ? "flag" : "" },
        el("td", {}, g.code),
        el("td", { class: "num" }, `${g.households_before} → ${g.households_after}`, flag ? " ⚠" : ""),
        el("td", { class: "num" }, `${g.open_incidents_before} → ${g.open_incidents_after}件`)
      );
    });
    parts.push(el("table", { class: "list loads" }, el("tbody", {}, ...rows)));
    if (impact.grids.some((g) => outOfRange(g.households_after) && g.households_after > 0)) {
      parts.push(
        el(
          "div",
          { class: "hint flagnote" },
          `⚠ 超出工作量范围 outside the workload range ${CONFIG.workload.min}–${CONFIG.workload.max}`
        )
      );
    }
    fill("preview-body", ...parts);
  }

  // --- commit ------------------------------------------------------------------------------

  async function commit() {
    const list = changes();
    if (!list.length) return;
    const reason = $("reason").value.trim();
    if (!reason) {
      message("请填写修改原因 · please give a reason", "error");
      $("reason").focus();
      return;
    }
    const body = { changes: list, reason };
    const when = $("valid-from").value;
    if (when) body.valid_from = when.length === 16 ? `${when}:00` : when;
    $("commit").disabled = true;
    const r = await api("/grids/redraw", { method: "POST", body });
    if (r.status === 200) {
      const codes = r.data.codes.filter(Boolean).join(", ");
      await loadCommunity(state.community, { keepMessage: true });
      message(
        [
          `已提交，版本 ${r.data.version} · committed as version ${r.data.version}`,
          `网格 grids: ${codes}`,
          r.data.valid_from ? `生效 effective ${fmtTime(r.data.valid_from)}` : null,
        ].filter(Boolean),
        "ok"
      );
      $("reason").value = "";
      return;
    }
    if (r.status === 412) {
      await stale(list);
      return;
    }
    if (r.status === 422 && r.data && r.data.problems) {
      renderPreview(r.data);
      message("提交被拒：边界有问题，见地图红色区域 · refused: the problems are shown in red on the map", "error");
      updateButtons();
      return;
    }
    message(problemText(r), "error");
    updateButtons();
  }

  // Someone changed the grids since they were loaded: say who and why, reload them.
  async function stale(list) {
    const lines = ["他人已修改这些网格，已重新载入当前边界，您的修改未提交 · someone else changed these grids: the current boundaries are reloaded and your edit was not committed"];
    for (const c of list) {
      if (!c.code) continue;
      const h = await api(`/grids/${encodeURIComponent(c.code)}/history`);
      if (!h.ok) continue;
      const last = h.data.versions[h.data.versions.length - 1];
      if (last.etag === c.etag && !last.valid_to) continue;
      if (last.valid_to && last.etag === c.etag) {
        lines.push(`网格 ${c.code}: 已于 ${fmtTime(last.valid_to)} 撤销 retired`);
      } else {
        lines.push(
          `网格 ${c.code}: ${last.author} 于 ${fmtTime(last.valid_from)} 修改 changed it — 原因 reason: ${last.reason}`
        );
      }
    }
    await loadCommunity(state.community, { keepMessage: true });
    message(lines, "warn");
  }

  // --- history -----------------------------------------------------------------------------

  async function loadHistory(code) {
    const r = await api(`/grids/${encodeURIComponent(code)}/history`);
    if (state.selected !== code) return;
    if (!r.ok) {
      fill("history", el("div", { class: "error" }, problemText(r)));
      return;
    }
    const versions = [...r.data.versions].reverse();
    const rows = versions.map((v, k) =>
      el(
        "tr",
        {},
        el("td", {}, `${fmtTime(v.valid_from)} – ${v.valid_to ? fmtTime(v.valid_to) : "至今 now"}`),
        el("td", {}, v.author),
        el("td", {}, v.reason),
        el(
          "td",
          {},
          k === 0 && !v.valid_to
            ? "当前 current"
            : el("button", { type: "button", class: "show", onclick: () => showVersion(code, v) }, "显示 show")
        )
      )
    );
    const head = el("tr", {}, el("th", {}, "有效期 valid"), el("th", {}, "作者 author"), el("th", {}, "原因 reason"), el("th", {}, ""));
    fill("history", el("table", { class: "list history" }, el("thead", {}, head), el("tbody", {}, ...rows)));
  }

  async function showVersion(code, version) {
    const at = encodeURIComponent(version.valid_from);
    const r = await api(`/grids/${encodeURIComponent(code)}?at=${at}`);
    historyLayer.clearLayers();
    if (!r.ok) {
      message(problemText(r), "error");
      return;
    }
    const label = `旧版本 old version ${code} ${fmtTime(version.valid_from)} · ${version.reason}`;
    L.geoJSON(r.data, { style: { color: "#ff7f00", weight: 3, dashArray: "6 5", fill: false } })
      .bindTooltip(label, { sticky: true })
      .addTo(historyLayer);
    inset(r.data, code, label);
  }

  // The old version beside the current one: a small map of both in the corner.
  let insetMap = null;
  function inset(old, code, label) {
    const box = $("inset");
    box.hidden = false;
    $("inset-title").textContent = label;
    if (!insetMap) {
      insetMap = L.map("inset-map", { zoomControl: false, attributionControl: false });
    }
    insetMap.eachLayer((l) => insetMap.removeLayer(l));
    const g = state.grids.get(code);
    const now = g ? L.polygon(g.layer.getLatLngs(), { color: "#1f5fbf", weight: 2, fillOpacity: 0.1 }) : null;
    const then = L.geoJSON(old, { style: { color: "#ff7f00", weight: 2, dashArray: "5 4", fillOpacity: 0.05 } });
    const bounds = now ? then.getBounds().extend(now.getBounds()) : then.getBounds();
    insetMap.invalidateSize();
    insetMap.fitBounds(bounds, { padding: [6, 6], animate: false }); // a view before layers
    then.addTo(insetMap);
    if (now) now.addTo(insetMap);
  }

  // --- picking a community -----------------------------------------------------------------

  async function loadCommunities() {
    const r = await api("/editor/communities");
    if (!r.ok) {
      $("key-state").textContent = problemText(r);
      $("key-state").className = "error";
      return false;
    }
    $("key-state").textContent = "密钥已接受（仅本标签页）· key accepted (this tab only)";
    $("key-state").className = "ok";
    state.communities = r.data.communities;
    const streets = new Map();
    for (const c of state.communities) {
      if (!streets.has(c.street || "")) streets.set(c.street || "", c.street_name || "—");
    }
    $("street").replaceChildren(
      ...[...streets].map(([code, name]) => el("option", { value: code }, `${name} ${code}`))
    );
    fillCommunities();
    return true;
  }

  function fillCommunities() {
    const street = $("street").value;
    const options = state.communities
      .filter((c) => (c.street || "") === street)
      .map((c) => el("option", { value: c.code }, `${c.name} ${c.code} (${c.grids})`));
    $("community").replaceChildren(el("option", { value: "" }, "— 选择 pick —"), ...options);
  }

  async function findCode() {
    const code = $("code-search").value.trim();
    if (!code) return;
    const r = await api(`/grids/${encodeURIComponent(code)}`);
    if (!r.ok) {
      message(r.status === 404 ? `没有网格 no grid ${code}` : problemText(r), "error");
      return;
    }
    const community = r.data.properties.community;
    const c = state.communities.find((x) => x.code === community);
    if (c) {
      $("street").value = c.street || "";
      fillCommunities();
      $("community").value = community;
    }
    await loadCommunity(community, { select: code });
  }

  async function useKey() {
    state.key = $("api-key").value.trim();
    if (state.key) sessionStorage.setItem(KEY_STORE, state.key);
    else sessionStorage.removeItem(KEY_STORE);
    await loadCommunities();
  }

  // --- wiring ------------------------------------------------------------------------------

  const insetBox = el(
    "div",
    { id: "inset", hidden: "" },
    el("div", { id: "inset-title" }),
    el("div", { id: "inset-map" }),
    el("button", { type: "button", id: "inset-close", onclick: () => { $("inset").hidden = true; historyLayer.clearLayers(); } }, "关闭 close")
  );
  $("map").append(insetBox);
  L.DomEvent.disableClickPropagation(insetBox);
  L.DomEvent.disableScrollPropagation(insetBox);

  $("key-use").addEventListener("click", useKey);
  $("api-key").addEventListener("keydown", (e) => {
    if (e.key === "Enter") useKey();
  });
  $("street").addEventListener("change", fillCommunities);
  $("community").addEventListener("change", () => {
    if ($("community").value) loadCommunity($("community").value);
  });
  $("code-go").addEventListener("click", findCode);
  $("code-search").addEventListener("keydown", (e) => {
    if (e.key === "Enter") findCode();
  });
  $("undo").addEventListener("click", undo);
  $("discard").addEventListener("click", discard);
  $("commit").addEventListener("click", commit);
  $("split").addEventListener("click", () =>
    setMode("split", "在地图上画一条穿过所选网格的线，双击结束 · draw a line across the grid, double-click to end")
  );
  $("merge").addEventListener("click", () =>
    setMode("merge", "点击要并入本网格的相邻网格 · click the neighbour to merge into this grid")
  );
  $("draw").addEventListener("click", () =>
    setMode("draw", "逐点画出新网格，点击起点结束；将吸附并切出所覆盖的网格 · click its corners, end on the first; it snaps to and is cut out of the grids under it")
  );
  $("retire").addEventListener("click", () =>
    setMode("retire", "点击接收本网格的相邻网格 · click the neighbour that takes this grid over")
  );
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === "z" && !/INPUT|TEXTAREA/.test(e.target.tagName)) {
      e.preventDefault();
      undo();
    }
  });

  if (state.key) {
    $("api-key").value = state.key;
    loadCommunities();
  }
  // For tests and scripts: the editor's state, read-only use.
  window.gridmapEditor = { map, state, changes, geometryOf };
})();
