// Sportello's service worker, served at /sw.js so that its scope is the
// whole host of one Comune. The site fills in the two constants below
// (version and precache list) for each Comune; everything else is the
// same for every host. See tenant/site/DESIGN.md ("PWA") for why the
// rules are what they are.
'use strict';

// VERSION changes with the embedded assets, this script and the Comune's
// branding: a deploy or a new logo installs a new worker and a new cache.
const VERSION = __VERSION__;
// PRECACHE is the offline page and the shell it needs (CSS, fonts, the
// registration script, the icons), as versioned URLs.
const PRECACHE = __PRECACHE__;

const PREFIX = 'sportello-';
const CACHE = PREFIX + 'shell-' + VERSION;
// TICKETS holds the page address of each ticket the citizen follows, for
// notification clicks. It outlives versions: a deploy must not forget
// where a waiting citizen's ticket is.
const TICKETS = PREFIX + 'biglietti';
const MAX_TICKETS = 20;
const OFFLINE_URL = '/offline';
const GENERIC_TITLE = 'Aggiornamento dal Comune';
const TICKET_ID = /^[A-Za-z0-9_-]{1,64}$/;

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // cache: 'reload' skips the HTTP cache, so the copy stored is the
    // current deploy's.
    await cache.addAll(PRECACHE.map((u) => new Request(u, { cache: 'reload' })));
    // Asset URLs are versioned, so an old page keeps working under a new
    // worker: no reason to wait for every tab to close.
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names
      .filter((n) => n.startsWith(PREFIX) && n !== CACHE && n !== TICKETS)
      .map((n) => caches.delete(n)));
    await self.clients.claim();
  })());
});

// neverCached lists the paths the worker leaves entirely to the network:
// the API and live data, the back office and the logins (personal data,
// sessions), the demo tools and this script.
function neverCached(path) {
  return path.startsWith('/api/') ||
    path === '/gestione' || path.startsWith('/gestione/') ||
    path === '/_auth' || path.startsWith('/_auth/') ||
    path === '/_demo' || path.startsWith('/_demo/') ||
    path === '/sw.js';
}

// storable reports whether an answer may be kept: a complete, same-origin
// 200 that the server did not mark no-store or private.
function storable(res) {
  if (!res || res.status !== 200 || res.type !== 'basic') {
    return false;
  }
  const cc = (res.headers.get('Cache-Control') || '').toLowerCase();
  return !cc.includes('no-store') && !cc.includes('private');
}

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET' || req.headers.has('Range')) {
    return;
  }
  const url = new URL(req.url);
  if (url.origin !== self.location.origin || neverCached(url.pathname)) {
    return;
  }
  if ((req.headers.get('Accept') || '').includes('text/event-stream')) {
    return;
  }
  if (req.mode === 'navigate') {
    event.respondWith(networkFirst(req));
    return;
  }
  if (url.pathname.startsWith('/static/') || url.pathname.startsWith('/icons/')) {
    event.respondWith(cacheFirst(req));
  }
  // Anything else (JSON, event streams, forms' answers) goes to the
  // network as if there were no worker.
});

// networkFirst answers a page from the network; only when the network
// fails does it fall back to a stored copy of the page (if the server let
// it be stored) or to the offline page.
async function networkFirst(req) {
  try {
    const res = await fetch(req);
    if (storable(res) && !res.redirected) {
      const copy = res.clone();
      caches.open(CACHE).then((c) => c.put(req, copy)).catch(() => {});
    }
    return res;
  } catch (err) {
    const cache = await caches.open(CACHE);
    const stored = await cache.match(req);
    if (stored) {
      return stored;
    }
    const offline = await cache.match(OFFLINE_URL);
    return offline || Response.error();
  }
}

// cacheFirst answers versioned assets and icons from the cache: their
// URLs change when their content does.
async function cacheFirst(req) {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(req);
  if (hit) {
    return hit;
  }
  const res = await fetch(req);
  if (storable(res)) {
    const copy = res.clone();
    cache.put(req, copy).catch(() => {});
  }
  return res;
}

// ticketKey is the Cache Storage key under which a ticket's page address
// is kept; it is never requested from the network.
function ticketKey(id) {
  return new Request(self.location.origin + '/__sportello/biglietto/' + id);
}

// sameOrigin returns path, query and fragment of a same-origin URL, or ''
// for anything else: a message must not make a notification open another
// site.
function sameOrigin(raw) {
  if (typeof raw !== 'string' || raw === '') {
    return '';
  }
  let u;
  try {
    u = new URL(raw, self.location.origin);
  } catch (err) {
    return '';
  }
  if (u.origin !== self.location.origin) {
    return '';
  }
  return u.pathname + u.search + u.hash;
}

async function rememberTicket(id, raw) {
  const url = sameOrigin(raw);
  if (typeof id !== 'string' || !TICKET_ID.test(id) || url === '') {
    return;
  }
  const cache = await caches.open(TICKETS);
  await cache.put(ticketKey(id), new Response(JSON.stringify({ url: url }), {
    headers: { 'Content-Type': 'application/json' },
  }));
  // Keep only the newest few: keys come back in insertion order.
  const keys = await cache.keys();
  for (let i = 0; i < keys.length - MAX_TICKETS; i++) {
    await cache.delete(keys[i]);
  }
}

async function rememberedTicket(id) {
  if (!TICKET_ID.test(id)) {
    return '';
  }
  try {
    const cache = await caches.open(TICKETS);
    const res = await cache.match(ticketKey(id));
    if (!res) {
      return '';
    }
    const data = await res.json();
    return sameOrigin(data && data.url);
  } catch (err) {
    return '';
  }
}

self.addEventListener('message', (event) => {
  const d = event.data;
  if (d && d.type === 'remember-ticket') {
    event.waitUntil(rememberTicket(d.id, d.url));
  }
});

function text(v) {
  return typeof v === 'string' ? v : '';
}

// notice turns a push payload into showNotification's arguments. A
// payload that is not the JSON object the server sends still shows a
// notice, in Italian: the citizen should know that something happened.
function notice(event) {
  let data = null;
  try {
    data = event.data ? event.data.json() : null;
  } catch (err) {
    data = null;
  }
  if (!data || typeof data !== 'object' || Array.isArray(data)) {
    data = {};
  }
  const title = text(data.title) || GENERIC_TITLE;
  const ticket = TICKET_ID.test(text(data.ticket_id)) ? data.ticket_id : '';
  const options = {
    body: text(data.body),
    lang: text(data.lang) || 'it',
    icon: '/icons/icon-192.png',
    badge: '/icons/badge-96.png',
    data: { ticket_id: ticket, kind: text(data.kind), tag: text(data.tag) },
  };
  // Chromium refuses renotify without a tag; with one, a second notice
  // for the same ticket replaces the first and still alerts.
  if (text(data.tag)) {
    options.tag = data.tag;
    options.renotify = true;
  }
  return { title: title, options: options };
}

self.addEventListener('push', (event) => {
  const n = notice(event);
  event.waitUntil(self.registration.showNotification(n.title, n.options));
});

// isTicketWindow reports whether a window shows the ticket (or a call,
// where a called citizen is).
function isTicketWindow(client, id, remembered) {
  let u;
  try {
    u = new URL(client.url);
  } catch (err) {
    return false;
  }
  if (u.origin !== self.location.origin) {
    return false;
  }
  if (id && u.pathname === '/coda/biglietto/' + id) {
    return true;
  }
  if (remembered && u.pathname === new URL(remembered, self.location.origin).pathname) {
    return true;
  }
  return u.pathname.startsWith('/chiamata/');
}

async function openTicket(id) {
  const remembered = id ? await rememberedTicket(id) : '';
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  if (id) {
    // The ticket's own page first, then a call page.
    const exact = windows.find((c) => isTicketWindow(c, id, remembered) && !new URL(c.url).pathname.startsWith('/chiamata/'));
    const any = exact || windows.find((c) => isTicketWindow(c, id, remembered));
    if (any) {
      return any.focus();
    }
  }
  return self.clients.openWindow(remembered || '/');
}

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const d = event.notification.data || {};
  event.waitUntil(openTicket(text(d.ticket_id)));
});
