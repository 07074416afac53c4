// The semcache console: a small single-page app over the admin API. No build step, no
// dependencies. Every value from the server is put in the page as text, never as HTML.
"use strict";

const KEY = "semcache.adminKey";
const SVG = "http://www.w3.org/2000/svg";
const app = document.getElementById("app");

// ---- DOM helpers ----

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

function show(...nodes) {
  app.replaceChildren(...nodes);
}

// ---- formatting ----

const fmt = {
  int: (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en")),
  pct: (r) => (r === null || r === undefined ? "–" : `${(r * 100).toFixed(1)}%`),
  ms: (v) => (v === null || v === undefined ? "–" : `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`),
  sim: (s) => (s === null || s === undefined ? "–" : s.toFixed(3)),
  time: (ms) => new Date(ms).toLocaleString("en-GB", { hour12: false }),
  clock: (ms, step) => {
    const d = new Date(ms);
    const hm = d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", hour12: false });
    return step >= 3600000 ? `${d.getDate()}/${d.getMonth() + 1} ${hm}` : hm;
  },
};

// ---- the admin API ----

class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(KEY) || ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    sessionStorage.removeItem(KEY);
    route();
    throw new ApiError(401, "signed out");
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data && data.detail);
  return data;
}

const enc = encodeURIComponent;

// ---- routing ----

function route() {
  const signedIn = Boolean(sessionStorage.getItem(KEY));
  document.getElementById("logout").hidden = !signedIn;
  if (!signedIn) return loginView();
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (parts[0] === "caches" && parts[1]) return cacheView(parts[1], parts[2] || "overview");
  return cachesView();
}

function crumbs(...items) {
  document.getElementById("crumbs").replaceChildren(
    ...items.flatMap((item, i) => [i ? " / " : "", item]),
  );
}

function failed(error) {
  if (error.status === 401) return;
  show(el("div", { class: "card" }, el("p", { class: "error", text: error.message })));
}

// ---- sign in ----

function loginView() {
  crumbs();
  const input = el("input", {
    type: "password",
    name: "adminKey",
    autocomplete: "off",
    placeholder: "sc_…",
    required: true,
  });
  const error = el("p", { class: "error", role: "alert" });
  const form = el(
    "form",
    { class: "stack", id: "login" },
    el("label", {}, "Admin key", input),
    el("button", { type: "submit" }, "Sign in"),
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    const response = await fetch("/admin/v1/caches", { headers: { Authorization: `Bearer ${key}` } });
    if (response.ok) {
      sessionStorage.setItem(KEY, key);
      location.hash = "#/";
      route();
    } else {
      error.textContent =
        response.status === 403 ? "This is not an admin key." : "Sign-in failed: the key was not accepted.";
    }
  });
  show(
    el(
      "div",
      { class: "card login" },
      el("h1", {}, "Sign in"),
      el("p", { class: "muted" }, "The admin key is in semcache-data/admin.key."),
      form,
    ),
  );
  input.focus();
}

// ---- the list of caches ----

async function cachesView() {
  crumbs(el("a", { href: "#/" }, "Caches"));
  try {
    const [{ caches }, stats] = await Promise.all([
      api("GET", "/admin/v1/caches"),
      api("GET", "/admin/v1/stats?window=day"),
    ]);
    const byId = Object.fromEntries(stats.caches.map((s) => [s.cacheId, s]));
    const rows = caches.map((cache) => {
      const s = byId[cache.id] || {};
      return el(
        "tr",
        { "data-cache": cache.id },
        el("td", {}, el("a", { href: `#/caches/${enc(cache.id)}` }, cache.name || "(no name)")),
        el("td", { class: "mono" }, cache.id),
        el("td", { class: "num" }, fmt.int(s.items)),
        el("td", { class: "num" }, fmt.int(s.searches)),
        el("td", { class: "num" }, fmt.pct(s.hitRatio)),
        el("td", { class: "num" }, fmt.ms(s.p95LatencyMs)),
      );
    });
    show(
      el(
        "div",
        { class: "card" },
        el("h1", {}, "Caches"),
        el(
          "table",
          { id: "caches" },
          el(
            "thead",
            {},
            el(
              "tr",
              {},
              el("th", {}, "Name"),
              el("th", {}, "ID"),
              el("th", { class: "num" }, "Entries"),
              el("th", { class: "num" }, "Searches (24 h)"),
              el("th", { class: "num" }, "Hit ratio (24 h)"),
              el("th", { class: "num" }, "p95 latency (24 h)"),
            ),
          ),
          el("tbody", {}, rows),
        ),
      ),
      newCacheForm(),
    );
  } catch (e) {
    failed(e);
  }
}

function newCacheForm() {
  const name = el("input", { name: "name", placeholder: "docs" });
  const threshold = el("input", { name: "threshold", type: "number", step: "0.01", min: "0", max: "1" });
  const ttl = el("input", { name: "ttl", type: "number", min: "1", placeholder: "never" });
  const attributes = el("input", { name: "attributes", placeholder: "any (or: lang, user)" });
  const error = el("p", { class: "error" });
  const form = el(
    "form",
    { class: "row", id: "new-cache" },
    el("label", {}, "Name", name),
    el("label", {}, "Threshold", threshold),
    el("label", {}, "TTL (ms)", ttl),
    el("label", {}, "Attributes", attributes),
    el("button", { type: "submit" }, "Create cache"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: name.value.trim() };
    if (threshold.value) body.similarityThreshold = Number(threshold.value);
    if (ttl.value) body.ttlMillis = Number(ttl.value);
    const names = attributes.value.split(",").map((s) => s.trim()).filter(Boolean);
    if (names.length) body.attributes = names;
    try {
      const cache = await api("POST", "/admin/v1/caches", body);
      location.hash = `#/caches/${enc(cache.id)}`;
    } catch (e) {
      error.textContent = e.message;
    }
  });
  return el("div", { class: "card" }, el("h2", {}, "New cache"), form, error);
}

// ---- one cache ----

const TABS = [
  ["overview", "Overview"],
  ["playground", "Playground"],
  ["entries", "Entries"],
  ["keys", "Keys"],
];

async function cacheView(cacheId, tab) {
  let cache;
  try {
    cache = await api("GET", `/admin/v1/caches/${enc(cacheId)}`);
  } catch (e) {
    return failed(e);
  }
  crumbs(el("a", { href: "#/" }, "Caches"), cache.name || cache.id);
  const remove = el("button", { class: "danger", id: "delete-cache" }, "Delete cache");
  remove.addEventListener("click", async () => {
    if (!confirm(`Delete cache ${cache.id} with all its entries and keys?`)) return;
    await api("DELETE", `/admin/v1/caches/${enc(cache.id)}`);
    location.hash = "#/";
  });
  const body = el("div", { id: "tab" });
  show(
    el(
      "div",
      { class: "head" },
      el(
        "div",
        {},
        el("h1", {}, cache.name || "(no name)"),
        el(
          "div",
          { class: "meta" },
          el("span", { class: "mono" }, cache.id),
          el("span", {}, `embedder ${cache.embedder}`),
          el("span", {}, `threshold ${cache.similarityThreshold ?? "default"}`),
          el("span", {}, `${fmt.int(cache.entries)} entries`),
        ),
      ),
      remove,
    ),
    el(
      "nav",
      { class: "tabs" },
      TABS.map(([id, label]) =>
        el("a", { href: `#/caches/${enc(cache.id)}/${id}`, class: id === tab ? "on" : null }, label),
      ),
    ),
    body,
  );
  const views = { overview: overviewTab, playground: playgroundTab, entries: entriesTab, keys: keysTab };
  try {
    await (views[tab] || overviewTab)(cache, body);
  } catch (e) {
    if (e.status !== 401) body.replaceChildren(el("p", { class: "error", text: e.message }));
  }
}

// ---- overview: statistics and charts ----

async function overviewTab(cache, body, window = "day") {
  const stats = await api("GET", `/admin/v1/caches/${enc(cache.id)}/stats?window=${window}`);
  const windows = el(
    "div",
    { class: "windows" },
    ["hour", "day", "week"].map((w) =>
      el("button", { class: w === window ? "on" : null, onclick: () => overviewTab(cache, body, w) }, `Last ${w}`),
    ),
  );
  const tile = (label, value, name) =>
    el("div", { class: "tile", "data-stat": name }, el("div", { class: "value" }, value), el("div", { class: "label" }, label));
  const points = stats.points;
  const step = stats.stepMillis;
  body.replaceChildren(
    windows,
    el(
      "div",
      { class: "tiles" },
      tile("Searches", fmt.int(stats.searches), "searches"),
      tile("Hit ratio", fmt.pct(stats.hitRatio), "hitRatio"),
      tile("Average latency", fmt.ms(stats.avgLatencyMs), "avgLatencyMs"),
      tile("p95 latency", fmt.ms(stats.p95LatencyMs), "p95LatencyMs"),
      tile("Entries", fmt.int(stats.items), "items"),
    ),
    el(
      "div",
      { class: "charts" },
      chart("searches", "Searches", `${fmt.int(stats.searches)} in all`, barChart(points, step, (p) => p.searches, fmt.int, "searches")),
      chart("hit-ratio", "Hit ratio", fmt.pct(stats.hitRatio), lineChart(points, step, [(p) => p.hitRatio], fmt.pct, 1)),
      chart(
        "latency",
        "Latency",
        "average and p95",
        lineChart(points, step, [(p) => p.avgLatencyMs, (p) => p.p95LatencyMs], fmt.ms),
        el("div", { class: "legend" }, el("span", {}, el("i", { class: "key" }), "average"), el("span", {}, el("i", { class: "key second" }), "p95")),
      ),
      chart("items", "Entries", fmt.int(stats.items), lineChart(carried(points), step, [(p) => p.items], fmt.int, null, true)),
      chart(
        "similarity",
        "Nearest similarity on each search",
        `threshold ${stats.threshold === null ? "–" : stats.threshold}`,
        similarityChart(stats.similarity, stats.threshold),
        null,
        true,
      ),
    ),
  );
}

function carried(points) {
  let last = null;
  return points.map((p) => {
    if (p.items !== null) last = p.items;
    return { ...p, items: last };
  });
}

function chart(name, title, note, graphic, legend, wide) {
  return el(
    "figure",
    { class: wide ? "chart wide" : "chart", "data-chart": name },
    el("figcaption", {}, title, el("span", {}, note)),
    graphic,
    legend,
  );
}

const W = 520;
const H = 180;
const PAD = { left: 52, right: 10, top: 10, bottom: 24 };

function frame(maxValue, format, points, step) {
  const g = svg("g", {});
  for (let i = 0; i <= 4; i++) {
    const y = PAD.top + ((H - PAD.top - PAD.bottom) * i) / 4;
    g.append(
      svg("line", { class: "grid", x1: PAD.left, x2: W - PAD.right, y1: y, y2: y }),
      svg("text", { class: "axis", x: PAD.left - 6, y: y + 3, "text-anchor": "end" }, format(maxValue * (1 - i / 4))),
    );
  }
  const ticks = 4;
  for (let i = 0; i <= ticks && points.length; i++) {
    const index = Math.min(points.length - 1, Math.round(((points.length - 1) * i) / ticks));
    g.append(
      svg(
        "text",
        { class: "axis", x: xOf(index, points.length), y: H - 6, "text-anchor": i === ticks ? "end" : "middle" },
        fmt.clock(points[index].start, step),
      ),
    );
  }
  return g;
}

function xOf(index, count) {
  const width = W - PAD.left - PAD.right;
  return PAD.left + (count <= 1 ? width / 2 : (width * (index + 0.5)) / count);
}

function yOf(value, maxValue) {
  const height = H - PAD.top - PAD.bottom;
  return PAD.top + height * (1 - (maxValue ? value / maxValue : 0));
}

function niceMax(values, integer) {
  const max = Math.max(0, ...values.filter((v) => v !== null && v !== undefined));
  const steps = integer ? [4, 8, 20] : [1, 2, 2.5, 5, 10];
  if (max <= 0) return integer ? 4 : 1;
  const magnitude = 10 ** Math.floor(Math.log10(max));
  return [...steps.map((m) => m * magnitude), ...steps.map((m) => m * magnitude * 10)].find((m) => m >= max);
}

function barChart(points, step, value, format, unit) {
  const maxValue = niceMax(points.map(value), true);
  const width = ((W - PAD.left - PAD.right) / Math.max(points.length, 1)) * 0.8;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" }, frame(maxValue, format, points, step));
  points.forEach((p, i) => {
    const v = value(p) || 0;
    if (!v) return;
    const y = yOf(v, maxValue);
    root.append(
      svg(
        "rect",
        { class: "bar", x: xOf(i, points.length) - width / 2, y, width, height: H - PAD.bottom - y, "data-value": v },
        svg("title", {}, `${fmt.clock(p.start, step)}: ${format(v)} ${unit}`),
      ),
    );
  });
  return root;
}

function lineChart(points, step, series, format, fixedMax, integer) {
  const maxValue = fixedMax || niceMax(series.flatMap((s) => points.map(s)), integer);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" }, frame(maxValue, format, points, step));
  const dots = [];
  series.forEach((s, k) => {
    const segments = [[]];
    points.forEach((p, i) => {
      const v = s(p);
      if (v === null || v === undefined) {
        segments.push([]);
        return;
      }
      const x = xOf(i, points.length);
      const y = yOf(v, maxValue);
      segments[segments.length - 1].push(`${x.toFixed(1)},${y.toFixed(1)}`);
      dots.push(
        svg(
          "circle",
          { class: k ? "dot second" : "dot", cx: x, cy: y, r: 2.2, "data-value": v },
          svg("title", {}, `${fmt.clock(p.start, step)}: ${format(v)}`),
        ),
      );
    });
    const d = segments.filter((seg) => seg.length).map((seg) => `M${seg.join("L")}`).join(" ");
    if (d) root.append(svg("path", { class: k ? "line second" : "line", d }));
  });
  root.append(...dots);
  return root;
}

function similarityChart(similarity, threshold) {
  const counts = similarity.counts;
  const maxValue = niceMax(counts, true);
  const wide = 2 * W + 20;
  const root = svg("svg", { viewBox: `0 0 ${wide} ${H}`, role: "img" });
  const width = wide - PAD.left - PAD.right;
  const xAt = (s) => PAD.left + width * s;
  for (let i = 0; i <= 4; i++) {
    const y = PAD.top + ((H - PAD.top - PAD.bottom) * i) / 4;
    root.append(
      svg("line", { class: "grid", x1: PAD.left, x2: wide - PAD.right, y1: y, y2: y }),
      svg("text", { class: "axis", x: PAD.left - 6, y: y + 3, "text-anchor": "end" }, fmt.int(maxValue * (1 - i / 4))),
    );
  }
  for (let s = 0; s <= 10; s += 2) {
    root.append(svg("text", { class: "axis", x: xAt(s / 10), y: H - 6, "text-anchor": "middle" }, (s / 10).toFixed(1)));
  }
  counts.forEach((count, i) => {
    const low = i / counts.length;
    const high = similarity.bounds[i];
    if (!count) return;
    const y = yOf(count, maxValue);
    const below = threshold !== null && high <= threshold;
    root.append(
      svg(
        "rect",
        { class: below ? "bar low" : "bar", x: xAt(low) + 1, y, width: xAt(high) - xAt(low) - 2, height: H - PAD.bottom - y, "data-value": count },
        svg("title", {}, `${low.toFixed(2)}–${high.toFixed(2)}: ${fmt.int(count)} searches`),
      ),
    );
  });
  if (threshold !== null) {
    const x = xAt(threshold);
    root.append(
      svg("line", { class: "threshold", x1: x, x2: x, y1: PAD.top, y2: H - PAD.bottom, "data-threshold": threshold }),
      svg("text", { class: "threshold-label", x: x - 4, y: PAD.top + 10, "text-anchor": "end" }, `threshold ${threshold}`),
    );
  }
  return root;
}

// ---- playground: explain a search ----

async function playgroundTab(cache, body) {
  const prompt = el("textarea", { name: "prompt", required: true, placeholder: "Type a prompt to search for" });
  const threshold = el("input", { name: "threshold", type: "number", step: "0.01", min: "0", max: "1", placeholder: "cache's" });
  const maxResults = el("input", { name: "maxResults", type: "number", min: "1", max: "100", value: "1" });
  const exact = el("input", { type: "checkbox", name: "exact" });
  const semantic = el("input", { type: "checkbox", name: "semantic", checked: true });
  const attributes = el("input", { name: "attributes", placeholder: "name=value, …" });
  const out = el("div", { id: "explanation" });
  const form = el(
    "form",
    { class: "stack", id: "playground" },
    el("label", {}, "Prompt", prompt),
    el(
      "div",
      { class: "row" },
      el("label", {}, "Threshold", threshold),
      el("label", {}, "Max results", maxResults),
      el("label", {}, "Attributes", attributes),
      el("label", {}, el("span", {}, exact, " exact"), el("span", {}, semantic, " semantic")),
    ),
    el("div", {}, el("button", { type: "submit" }, "Search")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const request = { prompt: prompt.value, maxResults: Number(maxResults.value || 1), candidates: 10 };
    if (threshold.value) request.similarityThreshold = Number(threshold.value);
    request.searchStrategies = [exact.checked && "exact", semantic.checked && "semantic"].filter(Boolean);
    const pairs = attributes.value.split(",").map((s) => s.trim()).filter(Boolean);
    if (pairs.length) request.attributes = Object.fromEntries(pairs.map((p) => p.split("=").map((s) => s.trim())));
    try {
      out.replaceChildren(explanation(await api("POST", `/admin/v1/caches/${enc(cache.id)}/explain`, request)));
    } catch (e) {
      out.replaceChildren(el("p", { class: "error", text: e.message }));
    }
  });
  body.replaceChildren(el("div", { class: "card" }, form), out);
}

function explanation(result) {
  const t = result.timings;
  const rows = result.candidates.map((c, i) =>
    el(
      "tr",
      { "data-decision": c.decision },
      el("td", { class: "num" }, i + 1),
      el("td", { class: "num" }, el("span", { class: "simbar", "data-width": c.similarity || 0 }), fmt.sim(c.similarity)),
      el("td", { class: "num muted" }, fmt.sim(c.cosine)),
      el("td", {}, el("span", { class: `pill ${c.decision}` }, c.decision)),
      el("td", {}, c.searchStrategy),
      el("td", { class: "clip" }, c.prompt),
      el("td", { class: "clip" }, c.response),
    ),
  );
  const node = el(
    "div",
    { class: "card" },
    el("div", { class: `decision ${result.decision}`, id: "decision" }, result.decision === "hit" ? "Hit" : "Miss"),
    el(
      "p",
      { class: "muted" },
      `threshold ${result.threshold ?? "–"} · embedding ${fmt.ms(t.embeddingMs)} · search ${fmt.ms(t.searchMs)} · verification ${fmt.ms(t.verificationMs)} · total ${fmt.ms(t.totalMs)}`,
    ),
    result.candidates.length
      ? el(
          "table",
          { id: "candidates" },
          el(
            "thead",
            {},
            el("tr", {}, el("th", { class: "num" }, "#"), el("th", { class: "num" }, "Similarity"), el("th", { class: "num" }, "Cosine"), el("th", {}, "Decision"), el("th", {}, "Strategy"), el("th", {}, "Prompt"), el("th", {}, "Response")),
          ),
          el("tbody", {}, rows),
        )
      : el("p", { class: "muted" }, "No candidates: the cache holds no entry that matches."),
  );
  for (const bar of node.querySelectorAll(".simbar")) bar.style.width = `${Math.round(Number(bar.dataset.width) * 80)}px`;
  return node;
}

// ---- entries: browse and delete ----

async function entriesTab(cache, body) {
  const tbody = el("tbody", {});
  const more = el("button", { class: "quiet", id: "more-entries" }, "Load more");
  let cursor = null;
  const load = async () => {
    const query = `limit=50${cursor ? `&cursor=${enc(cursor)}` : ""}`;
    const page = await api("GET", `/admin/v1/caches/${enc(cache.id)}/entries?${query}`);
    for (const entry of page.entries) tbody.append(entryRow(cache, entry));
    cursor = page.nextCursor;
    more.hidden = !cursor;
  };
  more.addEventListener("click", load);
  body.replaceChildren(
    el(
      "div",
      { class: "card" },
      el(
        "table",
        { id: "entries" },
        el("thead", {}, el("tr", {}, el("th", {}, "Created"), el("th", {}, "Prompt"), el("th", {}, "Response"), el("th", {}, "Attributes"), el("th", {}, "Expires"), el("th", {}, ""))),
        tbody,
      ),
      more,
    ),
  );
  await load();
  if (!tbody.children.length) tbody.append(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No entries.")));
}

function entryRow(cache, entry) {
  const remove = el("button", { class: "danger" }, "Delete");
  const row = el(
    "tr",
    { "data-entry": entry.id },
    el("td", {}, fmt.time(entry.createdAt)),
    el("td", { class: "clip" }, entry.prompt),
    el("td", { class: "clip" }, entry.response),
    el("td", { class: "mono" }, Object.entries(entry.attributes).map(([k, v]) => `${k}=${v}`).join(", ")),
    el("td", {}, entry.expiresAt ? fmt.time(entry.expiresAt) : "never"),
    el("td", {}, remove),
  );
  remove.addEventListener("click", async () => {
    remove.disabled = true;
    try {
      await api("DELETE", `/admin/v1/caches/${enc(cache.id)}/entries/${enc(entry.id)}`);
      row.remove();
    } catch (e) {
      remove.disabled = false;
      remove.textContent = e.message;
    }
  });
  return row;
}

// ---- keys ----

async function keysTab(cache, body) {
  const { keys } = await api("GET", `/admin/v1/caches/${enc(cache.id)}/keys`);
  const label = el("input", { name: "label", placeholder: "my-app" });
  const issued = el("div", { id: "issued" });
  const form = el("form", { class: "row", id: "new-key" }, el("label", {}, "Label", label), el("button", { type: "submit" }, "Create key"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = await api("POST", `/admin/v1/caches/${enc(cache.id)}/keys`, { label: label.value.trim() });
    await keysTab(cache, body);
    body.querySelector("#issued").replaceChildren(
      el("div", { class: "notice" }, el("p", {}, "Copy the key now: it is not shown again."), el("div", { class: "secret mono" }, key.apiKey)),
    );
  });
  const rows = keys.map((key) => {
    const revoke = el("button", { class: "danger" }, "Revoke");
    revoke.hidden = Boolean(key.revokedAt);
    revoke.addEventListener("click", async () => {
      await api("DELETE", `/admin/v1/keys/${enc(key.keyId)}`);
      await keysTab(cache, body);
    });
    return el(
      "tr",
      {},
      el("td", { class: "mono" }, key.keyId),
      el("td", {}, key.label),
      el("td", {}, fmt.time(key.createdAt)),
      el("td", {}, key.revokedAt ? `revoked ${fmt.time(key.revokedAt)}` : "active"),
      el("td", {}, revoke),
    );
  });
  body.replaceChildren(
    el("div", { class: "card" }, el("h2", {}, "New key"), form, issued),
    el(
      "div",
      { class: "card" },
      el(
        "table",
        { id: "keys" },
        el("thead", {}, el("tr", {}, el("th", {}, "Key ID"), el("th", {}, "Label"), el("th", {}, "Created"), el("th", {}, "State"), el("th", {}, ""))),
        el("tbody", {}, rows),
      ),
    ),
  );
}

// ---- start ----

document.getElementById("logout").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  location.hash = "#/";
  route();
});
window.addEventListener("hashchange", route);
route();
