/* The resident report page (随手拍).
 *
 * A report is first put in IndexedDB (the queue) with its own client_id, then sent; it leaves
 * the queue only when the server has answered (stored: 200/201, or refused for good: 4xx
 * other than 408/429). Without network it waits there and is sent when the network returns
 * (the online event, page load, and a retry timer). The server files a client_id once, so a
 * report sent twice is stored once. Photos are shrunk in the browser to at most 1600 px. */
(function () {
  "use strict";
  var MAX_SIDE = 1600;
  var TOKEN_KEY = "gridmap.report.token";
  var form = document.getElementById("report");
  var maxPhotos = Number(form.dataset.maxPhotos) || 3;
  var photos = []; // {blob, name, url}
  var point = null; // {lon, lat, accuracy}
  var flushing = null;

  function $(id) { return document.getElementById(id); }
  function show(el, html, cls) {
    el.hidden = !html;
    el.className = el.className.replace(/\b(error|queued)\b/g, "").trim();
    if (cls) el.classList.add(cls);
    el.innerHTML = html || "";
  }
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var a = new Uint8Array(16);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }
  function localTime(d) {
    var off = -d.getTimezoneOffset();
    var pad = function (n) { return String(Math.floor(Math.abs(n))).padStart(2, "0"); };
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) +
      (off >= 0 ? "+" : "-") + pad(off / 60) + ":" + pad(off % 60);
  }

  /* ---- the queue (IndexedDB) ------------------------------------------------------------ */
  var dbPromise = new Promise(function (resolve, reject) {
    var open = indexedDB.open("gridmap-report", 1);
    open.onupgradeneeded = function () { open.result.createObjectStore("queue", { keyPath: "client_id" }); };
    open.onsuccess = function () { resolve(open.result); };
    open.onerror = function () { reject(open.error); };
  });
  function store(mode, work) {
    return dbPromise.then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction("queue", mode);
        var result = work(tx.objectStore("queue"));
        tx.oncomplete = function () { resolve(result && "result" in result ? result.result : undefined); };
        tx.onerror = function () { reject(tx.error); };
      });
    });
  }
  var queue = {
    add: function (item) { return store("readwrite", function (s) { return s.put(item); }); },
    all: function () { return store("readonly", function (s) { return s.getAll(); }); },
    remove: function (id) { return store("readwrite", function (s) { return s.delete(id); }); },
  };

  /* ---- the device token ------------------------------------------------------------------ */
  var asking = null; // one token request at a time
  function token() {
    var t = localStorage.getItem(TOKEN_KEY);
    if (t) return Promise.resolve(t);
    if (!asking) asking = askToken().then(function (tok) { asking = null; return tok; },
      function (e) { asking = null; throw e; });
    return asking;
  }
  function askToken() {
    return fetch("/api/v1/report/tokens", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: "{}",
    }).then(function (r) {
      if (!r.ok) throw new Error("token " + r.status);
      return r.json();
    }).then(function (body) {
      localStorage.setItem(TOKEN_KEY, body.token);
      return body.token;
    });
  }

  /* ---- photos ----------------------------------------------------------------------------- */
  function shrink(file) {
    return createImageBitmap(file).then(function (bitmap) {
      var scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(bitmap.width * scale);
      canvas.height = Math.round(bitmap.height * scale);
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", 0.85); });
    });
  }
  function drawThumbs() {
    var box = $("thumbs");
    box.innerHTML = "";
    photos.forEach(function (p, i) {
      var fig = document.createElement("figure");
      var img = document.createElement("img");
      img.src = p.url;
      img.alt = "照片 photo " + (i + 1);
      var del = document.createElement("button");
      del.type = "button";
      del.textContent = "×";
      del.title = "删除 remove";
      del.onclick = function () { URL.revokeObjectURL(p.url); photos.splice(i, 1); drawThumbs(); };
      fig.appendChild(img);
      fig.appendChild(del);
      box.appendChild(fig);
    });
    $("photo-button").hidden = photos.length >= maxPhotos;
  }
  $("photo").addEventListener("change", function (e) {
    var file = e.target.files[0];
    e.target.value = "";
    if (!file) return;
    show($("photo-error"), "");
    shrink(file).then(function (blob) {
      if (!blob) throw new Error("no blob");
      photos.push({ blob: blob, name: (file.name || "photo").replace(/\.[^.]*$/, "") + ".jpg", url: URL.createObjectURL(blob) });
      drawThumbs();
    }).catch(function () {
      show($("photo-error"), "“" + esc(file.name) + "” 不是可用的图片，请拍照或选择 JPEG/PNG/WebP 图片。" +
        " <small>Not an image we can use: take a photo or pick a JPEG, PNG or WebP.</small>");
    });
  });

  /* ---- the map and the location ---------------------------------------------------------- */
  var map = L.map("map", { zoomControl: true }).setView([32.05, 118.79], 15);
  if (form.dataset.tiles) {
    L.tileLayer(form.dataset.tiles, {
      attribution: form.dataset.tilesAttribution, subdomains: form.dataset.tilesSubdomains, maxZoom: 18,
    }).addTo(map);
  }
  var pin = L.marker(map.getCenter(), { draggable: true, title: "拖动调整位置 drag to adjust" }).addTo(map);
  var circle = L.circle(map.getCenter(), { radius: 0, weight: 1, fillOpacity: 0.1 }).addTo(map);
  var outline = null;

  function place(lon, lat, accuracy, how) {
    point = { lon: lon, lat: lat, accuracy: accuracy };
    pin.setLatLng([lat, lon]);
    circle.setLatLng([lat, lon]).setRadius(accuracy || 0);
    $("accuracy").innerHTML = how === "drag"
      ? "已手动调整位置 <small>placed by hand</small>"
      : "定位精度 ±" + Math.round(accuracy) + " 米 <small>accuracy ±" + Math.round(accuracy) + " m</small>";
    lookup("lon=" + lon + "&lat=" + lat);
  }
  function lookup(query) {
    var box = $("place");
    return fetch("/api/v1/report/grid?" + query).then(function (r) {
      if (r.status === 404) {
        box.innerHTML = "此处不在任何网格内 <small>This place is in no grid</small>";
        return null;
      }
      if (!r.ok) throw new Error(String(r.status));
      return r.json().then(function (body) {
        var g = body.grid;
        box.innerHTML = "将派往 <small>Goes to</small>: <b>" + esc(g.name) + "</b> <small>" + esc(g.code) + "</small><br>" +
          "网格员 <small>Grid worker</small>: <b>" + esc(g.worker || "—") + "</b>";
        box.dataset.code = g.code;
        drawOutline(g.code, body.geometry);
        return body;
      });
    }).catch(function () {
      box.innerHTML = "离线：发送时再确定网格 <small>Offline: the grid is found when the report is sent</small>";
      return null;
    });
  }
  function drawOutline(code, geometry) {
    if (outline && outline.code === code) return;
    if (outline) map.removeLayer(outline);
    outline = L.geoJSON(geometry, { style: { color: "#c0392b", weight: 2, fillOpacity: 0.05 }, interactive: false }).addTo(map);
    outline.code = code;
    if (!point) {
      map.fitBounds(outline.getBounds());
      pin.setLatLng(outline.getBounds().getCenter());
    }
  }
  pin.on("dragend", function () {
    var p = pin.getLatLng();
    place(p.lng, p.lat, 0, "drag");
  });
  function locate() {
    if (!navigator.geolocation) {
      $("accuracy").innerHTML = "无法定位，请拖动图钉 <small>No location: drag the pin</small>";
      return;
    }
    $("accuracy").innerHTML = "正在定位… <small>locating…</small>";
    navigator.geolocation.getCurrentPosition(function (pos) {
      place(pos.coords.longitude, pos.coords.latitude, pos.coords.accuracy, "gps");
      map.setView([pos.coords.latitude, pos.coords.longitude], 17);
    }, function () {
      $("accuracy").innerHTML = "无法定位，请拖动图钉到问题所在处 <small>Location unavailable: drag the pin to the place</small>";
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 });
  }
  $("locate").addEventListener("click", locate);

  /* ---- sending ----------------------------------------------------------------------------- */
  var REFUSED = "refused", SENT = "sent", WAIT = "wait";

  function send(item, tok) {
    var data = new FormData();
    data.append("client_id", item.client_id);
    Object.keys(item.fields).forEach(function (k) {
      if (item.fields[k] !== null && item.fields[k] !== "") data.append(k, item.fields[k]);
    });
    item.photos.forEach(function (p) { data.append("photos", p.blob, p.name); });
    return fetch("/api/v1/report", { method: "POST", headers: { "X-Device-Token": tok }, body: data })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (body) {
          if (r.ok) return { state: SENT, body: body };
          if (r.status === 401) localStorage.removeItem(TOKEN_KEY);
          if (r.status >= 500 || r.status === 408 || r.status === 429 || r.status === 401) {
            return { state: WAIT, body: body };
          }
          return { state: REFUSED, status: r.status, body: body };
        });
      }, function () { return { state: WAIT }; });
  }

  function refusal(result) {
    var detail = (result.body && result.body.detail) || "";
    var head = result.status === 413
      ? "照片太大，未提交 <small>Photo too large: not sent</small>"
      : result.status === 422 && /photo/.test(detail)
        ? "照片不是可用的图片，未提交 <small>Not a usable image: not sent</small>"
        : "未能提交 <small>Not sent</small>";
    return head + "<br><small>" + esc(detail) + "</small>";
  }

  /* Send every queued report once (one flush at a time); reports what became of `mine`. */
  function flush(mine) {
    if (flushing) return flushing.then(function () { return flush(mine); });
    var outcome = null;
    flushing = queue.all().then(function (items) {
      if (!items.length) return;
      return token().then(function (tok) {
        return items.reduce(function (chain, item) {
          return chain.then(function () {
            return send(item, tok).then(function (result) {
              if (item.client_id === mine) outcome = result;
              if (result.state === WAIT) return;
              return queue.remove(item.client_id);
            });
          });
        }, Promise.resolve());
      }, function () { /* no token yet: offline */ });
    }).then(function () {
      flushing = null;
      return refreshQueued().then(loadMine).then(function () { return outcome; });
    }, function (e) { flushing = null; throw e; });
    return flushing;
  }

  function refreshQueued() {
    return queue.all().then(function (items) {
      var el = $("queued");
      el.hidden = !items.length;
      el.innerHTML = items.length
        ? items.length + " 条上报等待联网发送 <small>" + items.length + " waiting for the network</small>"
        : "";
    });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var result = $("result");
    if (!$("category").value) {
      show(result, "请选择问题类别 <small>Choose a category</small>", "error");
      return;
    }
    if (!point) {
      show(result, "请先定位或拖动图钉 <small>Locate yourself or drag the pin first</small>", "error");
      return;
    }
    var item = {
      client_id: uuid(),
      fields: {
        category: $("category").value,
        description: $("description").value,
        lon: String(point.lon),
        lat: String(point.lat),
        accuracy_m: point.accuracy ? String(Math.round(point.accuracy)) : "",
        reported_at: localTime(new Date()),
      },
      photos: photos.map(function (p) { return { blob: p.blob, name: p.name }; }),
    };
    $("send").disabled = true;
    show(result, "正在提交… <small>Sending…</small>");
    queue.add(item).then(function () { return flush(item.client_id); }).then(function (outcome) {
      if (outcome && outcome.state === SENT) {
        var b = outcome.body;
        show(result, "已提交，编号 #" + b.id + " <small>Sent: report #" + b.id + "</small>" +
          (b.grid_code ? "<br>网格 <small>grid</small> " + esc(b.grid_code) : ""));
        clearForm();
      } else if (outcome && outcome.state === REFUSED) {
        show(result, refusal(outcome), "error");
      } else {
        show(result, "已保存在手机上，联网后自动发送 <small>Saved on this phone: it is sent when the network returns</small>", "queued");
        clearForm();
      }
    }).catch(function (err) {
      show(result, "出错了 <small>Something went wrong</small>: " + esc(err), "error");
    }).then(function () { $("send").disabled = false; });
  });

  function clearForm() {
    $("category").value = "";
    $("description").value = "";
    photos.forEach(function (p) { URL.revokeObjectURL(p.url); });
    photos = [];
    drawThumbs();
  }

  /* ---- my reports ------------------------------------------------------------------------ */
  function loadMine() {
    var tok = localStorage.getItem(TOKEN_KEY);
    if (!tok || !navigator.onLine) return Promise.resolve();
    return fetch("/api/v1/report/mine", { headers: { "X-Device-Token": tok } })
      .then(function (r) { return r.ok ? r.json() : { items: [] }; })
      .then(function (body) {
        var list = $("mine-list");
        list.innerHTML = "";
        body.items.forEach(function (it) {
          var li = document.createElement("li");
          li.dataset.id = it.id;
          li.innerHTML = "<b>#" + it.id + "</b> " + esc(it.category_name || it.category) +
            " <span class='status'>" + esc(it.status_label) + "</span><br>" +
            "<small>" + esc(it.grid_name || it.grid_code || "") + " · 期限 due " +
            esc(new Date(it.due_at).toLocaleString()) + "</small>" +
            (it.overdue ? " <span class='overdue'>已超期 overdue</span>" : "") +
            (it.description ? "<br>" + esc(it.description) : "") +
            (it.answer ? "<br>处理答复 <small>Answer</small>: " + esc(it.answer) : "") + "<div></div>";
          it.photos.forEach(function (p) { thumb(li.lastChild, p.thumb_url, tok); });
          list.appendChild(li);
        });
      }).catch(function () {});
  }
  function thumb(box, url, tok) {
    fetch(url, { headers: { "X-Device-Token": tok } }).then(function (r) { return r.ok ? r.blob() : null; })
      .then(function (blob) {
        if (!blob) return;
        var img = document.createElement("img");
        img.src = URL.createObjectURL(blob);
        img.alt = "照片 photo";
        box.appendChild(img);
      }).catch(function () {});
  }

  /* ---- network state ---------------------------------------------------------------------- */
  function network() {
    $("net").hidden = navigator.onLine;
    if (navigator.onLine) {
      token().then(function () { return flush(null); }).catch(function () {});
    }
  }
  window.addEventListener("online", network);
  window.addEventListener("offline", network);
  setInterval(function () { if (navigator.onLine) flush(null).catch(function () {}); }, 10000);
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/report/sw.js", { scope: "/report" }).catch(function () {});
  }

  if (form.dataset.grid) lookup("code=" + encodeURIComponent(form.dataset.grid));
  locate();
  network();
  refreshQueued();
  window.gridmapReport = { flush: flush, queue: queue };
})();
