// Shared by every page of the dashboard: API calls, building elements, links between pages, formatting, and the
// "could not load" messages. No framework: the pages are small, and the dashboard must work without the internet.
'use strict';

const API = '/api/v1';

// GET an API path; rejects with the API's own error sentence ({"error": ...}) or the HTTP status.
async function api(path) {
  let res;
  try {
    res = await fetch(API + path, {headers: {Accept: 'application/json'}});
  } catch (e) {
    throw new Error('the stats server does not answer');
  }
  let body = null;
  try {
    body = await res.json();
  } catch (e) {
    body = null;
  }
  if (!res.ok) {
    const err = new Error((body && body.error) || 'HTTP ' + res.status);
    err.status = res.status;
    throw err;
  }
  return body;
}

// el('a', {href: 'x', class: 'y'}, 'text', child...): an element; null/undefined children are skipped.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class')
      e.className = v;
    else if (k.startsWith('on'))
      e.addEventListener(k.slice(2), v);
    else
      e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function param(name) {
  return new URLSearchParams(location.search).get(name);
}

function fmt(n, digits) {
  if (n === null || n === undefined || n === '') return '–';
  const x = Number(n);
  if (!Number.isFinite(x)) return String(n);
  return x.toLocaleString('en-US', {maximumFractionDigits: digits === undefined ? 2 : digits});
}

// "dm/mohdm1" -> "Mohdm1", "obj/obj_team2" -> "Team2": as docs/definitions.md names maps for display.
function mapTitle(map) {
  if (!map || map === 'unknown') return 'Unknown map';
  let s = String(map).split('/').pop().replace(/^(dm_|obj_|lib_|mp_)/, '');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

// ts: Unix seconds or an ISO 8601 time (the API answers both, depending on the endpoint).
function when(ts) {
  if (!ts) return '–';
  const t = Number.isFinite(Number(ts)) ? Number(ts) : Date.parse(ts) / 1000;
  if (!Number.isFinite(t)) return String(ts);
  const secs = Math.max(0, Date.now() / 1000 - t);
  if (secs < 90) return Math.round(secs) + ' s ago';
  if (secs < 5400) return Math.round(secs / 60) + ' min ago';
  if (secs < 129600) return Math.round(secs / 3600) + ' h ago';
  return new Date(t * 1000).toISOString().slice(0, 10);
}

function duration(secs) {
  const s = Math.round(Number(secs) || 0);
  return Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');
}

const enc = encodeURIComponent;
function playerLink(guid, name) {
  if (!guid) return name || '–';
  return el('a', {href: 'player.html?guid=' + enc(guid)}, name || guid);
}
function matchLink(id, text) {
  return el('a', {href: 'match.html?id=' + enc(id)}, text || id);
}
function mapLink(map) {
  return el('a', {href: 'map.html?name=' + enc(map || 'unknown')}, mapTitle(map));
}
function serverLink(id, name) {
  return el('a', {href: 'server.html?id=' + enc(id)}, name || id);
}
function weaponLink(w) {
  return el('a', {href: 'weapon.html?name=' + enc(w)}, w);
}

// A table: cols = [{title, cell(row), num}], rows; a message row when there are none.
function table(cols, rows, empty) {
  const head = el('tr', {}, cols.map((c) => el('th', {class: c.num ? 'num' : null}, c.title)));
  const body =
      (rows || []).map((r) => el('tr', {}, cols.map((c) => el('td', {class: c.num ? 'num' : null}, c.cell(r)))));
  if (!body.length) body.push(el('tr', {}, el('td', {colspan: cols.length, class: 'empty'}, empty || 'Nothing yet.')));
  return el('div', {class: 'scroll'}, el('table', {}, el('thead', {}, head), el('tbody', {}, body)));
}

// A row of figure cards: [[label, value, testKey]].
function cards(items) {
  return el(
      'div', {class: 'cards'},
      items.map(
          ([label, value, key]) =>
              el('div', {class: 'card'}, el('div', {class: 'value', 'data-stat': key}, value),
                 el('div', {class: 'label'}, label))));
}

function message(text, kind) {
  return el('p', {class: 'msg ' + (kind || 'info')}, text);
}

// Fill the section #id from fill(box) (async); on failure say what went wrong there, not a blank.
async function section(id, fill) {
  const box = document.getElementById(id);
  box.replaceChildren(message('Loading…'));
  try {
    const content = await fill();
    box.replaceChildren(...[content].flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  } catch (e) {
    const text = e.status === 404 ? 'Not found: ' + e.message :
                                    'Could not load this part: ' + e.message + '. Try again in a moment.';
    box.replaceChildren(message(text, 'error'));
  }
}

// The page: sections load in parallel; when all have settled the page says it is ready (the browser test reads
// data-ready and the time to interactive from it).
async function page(sections) {
  await Promise.all(sections);
  document.documentElement.dataset.ready = String(Math.round(performance.now()));
}

// The navigation of every page.
function nav(current) {
  const links = [
    ['index.html', 'Home'],
    ['leaderboards.html', 'Leaderboards'],
    ['matches.html', 'Matches'],
    ['servers.html', 'Servers'],
    ['maps.html', 'Maps'],
    ['weapons.html', 'Weapons'],
    ['achievements.html', 'Achievements'],
  ];
  const n =
      el('nav', {}, el('a', {href: 'index.html', class: 'brand'}, 'mohstats'),
         links.map(([href, text]) => el('a', {href, class: href === current ? 'current' : null}, text)));
  document.body.prepend(el('header', {}, n));
}

// Draw a line chart with Chart.js when it is there (Debian's libjs-chart.js), else say so.
function lineChart(canvas, labels, series) {
  if (typeof Chart === 'undefined') {
    canvas.replaceWith(message('Charts are unavailable: the chart library is not installed on the server.'));
    return;
  }
  const colors = ['#c0392b', '#2471a3', '#7d8b3a', '#b9770e'];
  new Chart(canvas, {
    type: 'line',
    data: {
      labels,
      datasets: series.map(
          (s, i) => (
              {label: s.label, data: s.data, borderColor: colors[i % 4], backgroundColor: colors[i % 4], tension: 0.2}))
    },
    options: {responsive: true, maintainAspectRatio: false, animation: false, scales: {y: {beginAtZero: true}}},
  });
}

// A heat map of cells {x, y in 0..1, count} on a square grid, drawn on a canvas of our own (no library).
function heatMap(cells, caption) {
  const size = 320,
        canvas = el('canvas', {width: size, height: size, class: 'heat', role: 'img', 'aria-label': caption});
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#1d2326';
  ctx.fillRect(0, 0, size, size);
  ctx.strokeStyle = '#2f3a3f';
  for (let i = 1; i < 8; i++) {
    ctx.beginPath();
    ctx.moveTo(i * size / 8, 0);
    ctx.lineTo(i * size / 8, size);
    ctx.stroke();
    ctx.beginPath();
    ctx.moveTo(0, i * size / 8);
    ctx.lineTo(size, i * size / 8);
    ctx.stroke();
  }
  const max = Math.max(1, ...cells.map((c) => Number(c.count) || 0));
  for (const c of cells) {
    const a = 0.25 + 0.75 * (Number(c.count) || 0) / max;
    ctx.fillStyle = 'rgba(255, ' + Math.round(200 * (1 - a)) + ', 40, ' + a.toFixed(2) + ')';
    ctx.beginPath();
    ctx.arc(8 + c.x * (size - 16), 8 + c.y * (size - 16), 4 + 6 * a, 0, 2 * Math.PI);
    ctx.fill();
  }
  return el('figure', {}, canvas, el('figcaption', {}, caption));
}
