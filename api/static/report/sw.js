/* The report page's service worker (scope /report): keeps the page and its assets so the page
 * opens without network; reports themselves wait in the page's IndexedDB queue. API calls
 * always go to the network. */
"use strict";
var CACHE = "gridmap-report-v1";
var SHELL = [
  "/report",
  "/static/report/report.js",
  "/static/report/report.css",
  "/static/vendor/leaflet-1.9.4/lib/leaflet.js",
  "/static/vendor/leaflet-1.9.4/lib/leaflet.css",
  "/static/vendor/leaflet-1.9.4/lib/images/marker-icon.png",
  "/static/vendor/leaflet-1.9.4/lib/images/marker-icon-2x.png",
  "/static/vendor/leaflet-1.9.4/lib/images/marker-shadow.png",
];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (c) { return c.addAll(SHELL); }).then(function () {
    return self.skipWaiting();
  }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("fetch", function (event) {
  var url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname === "/report") {  // the page: fresh when online, the kept copy offline
    event.respondWith(fetch(event.request).then(function (r) {
      var copy = r.clone();
      if (r.ok) caches.open(CACHE).then(function (c) { c.put(event.request, copy); });
      return r;
    }).catch(function () {
      return caches.match(event.request, { ignoreSearch: true });
    }));
  } else if (SHELL.indexOf(url.pathname) >= 0) {
    event.respondWith(caches.match(event.request).then(function (hit) {
      return hit || fetch(event.request);
    }));
  }
});
