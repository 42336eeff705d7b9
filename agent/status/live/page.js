// The registry's live page (service-registrator status --serve). One query, /api/view, asked again as soon as it
// answers: it answers at once when the registry changed since the version shown, else after a long poll.
// Every name comes from etcd and is untrusted: it is only ever set as text (textContent), never parsed as HTML.
"use strict";

const state = { tab: "hosts", search: "", page: 1, version: 0, pages: 1, controller: null, generation: 0 };
const byId = (id) => document.getElementById(id);

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function row(cells, className) {
  const tr = element("tr", null, className);
  for (const cell of cells) {
    const td = cell instanceof Node ? element("td") : element("td", cell);
    if (cell instanceof Node) td.appendChild(cell);
    tr.appendChild(td);
  }
  return tr;
}

function table(headings, rows) {
  const node = element("table");
  const head = element("tr");
  for (const heading of headings) head.appendChild(element("th", heading));
  node.appendChild(head);
  for (const tr of rows) node.appendChild(tr);
  return node;
}

function secondsLeft(host) {
  if (host.seconds_left === null) return "-";
  return host.seconds_left < 0 ? "gone" : host.seconds_left + "s";
}

function containerList(items) {
  const list = element("div", null, "containers");
  for (const item of items) {
    const chip = element("span", item.name || '""', "container");
    chip.appendChild(element("span", item.id.slice(0, 12), "id"));
    chip.title = item.id;
    list.appendChild(chip);
  }
  return list;
}

function hostRows(hosts) {
  const rows = [];
  for (const host of hosts) {
    const healthy = host.state === "running" && host.seconds_left !== -1;
    const status = element("span", host.state, healthy ? "state-ok" : "state-warn");
    const cells = [host.host || '""', status, host.version || "-", host.started || "-", host.lease || "-",
      secondsLeft(host),
      host.containers, host.backends, host.servers, host.routers, host.address || "-", host.anomalies];
    const tr = row(cells, "host" + (host.anomalies > 0 ? " anomalous" : ""));
    tr.dataset.host = host.host;
    rows.push(tr);
    const inner = row([element("span"), containerList(host.items)], "host-containers");
    inner.lastChild.colSpan = 11;
    rows.push(inner);
  }
  return table(["host", "state", "version", "started", "lease", "TTL left", "containers", "backends", "servers", "routers",
    "address", "anomalies"], rows);
}

function lines(items, render) {
  const box = element("div");
  for (const item of items) box.appendChild(element("div", render(item)));
  return box;
}

function serviceRows(services) {
  const rows = services.map((service) => row([
    service.service || '""',
    lines(service.backends, (b) => `${b.group}/${b.container} = ${b.address}` + (b.host ? ` (${b.host})` : "")),
    lines(Object.entries(service.ports), ([group, port]) => `${group}: ${port}`),
    lines(service.servers, (s) => `${s.proto} ${s.server} ${s.at}` + (s.host ? ` (${s.host})` : "")),
    lines(service.routes, (r) => `${r.proto} ${r.router}: ${r.rule}`),
  ], "service"));
  return table(["service", "backends", "ports", "traefik servers", "traefik routers"], rows);
}

function anomalyRows(anomalies) {
  const rows = anomalies.map((item) => {
    const key = element("code", item.key);
    return row([item.kind, item.host || "-", key, item.detail], "anomaly");
  });
  return table(["kind", "host", "key", "detail"], rows);
}

const RENDER = { hosts: hostRows, services: serviceRows, anomalies: anomalyRows };

function counted(count, one, many) {
  return `${count.toLocaleString()} ${count === 1 ? one : (many || one + "s")}`;
}

function show(view) {
  state.version = view.version;
  state.pages = view.pages;
  state.page = view.page;
  const states = Object.entries(view.states).map(([name, count]) => `${count.toLocaleString()} ${name}`).join(", ");
  byId("summary").textContent = view.version === 0
    ? `reading the registry… ${view.reading.toLocaleString()} keys`
    : `${counted(view.counts.hosts, "host")} (${states || "none"}), ${counted(view.counts.services, "service")}, ` +
      `${counted(view.counts.anomalies, "anomaly", "anomalies")} at revision ${view.revision}`;
  for (const tab of Object.keys(view.counts)) {
    const count = byId("count-" + tab);
    count.textContent = view.counts[tab].toLocaleString();
    count.classList.toggle("alarm", tab === "anomalies" && view.counts[tab] > 0);
  }
  const problem = byId("problem");
  problem.hidden = !view.problem;
  problem.textContent = view.problem;
  const shown = view.rows.length ? RENDER[view.tab](view.rows)
    : element("p", view.version === 0 ? "" : (view.search ? "nothing matches the search" : `no ${view.tab}`), "muted");
  byId("rows").replaceChildren(shown);
  byId("pages").textContent = `page ${view.page} of ${view.pages} (${view.matched} ${view.tab})`;
  byId("previous").disabled = view.page <= 1;
  byId("next").disabled = view.page >= view.pages;
  const live = byId("live");
  live.className = "ok";
  live.textContent = "live, updated " + new Date().toLocaleTimeString();
}

async function follow(generation) {
  while (generation === state.generation) {
    const controller = new AbortController();
    state.controller = controller;
    const query = new URLSearchParams({ tab: state.tab, q: state.search, page: state.page, after: state.version });
    try {
      const answer = await fetch("/api/view?" + query, { signal: controller.signal, cache: "no-store" });
      if (!answer.ok) throw new Error(answer.status + " " + answer.statusText);
      const view = await answer.json();
      if (generation === state.generation) show(view);
    } catch (error) {
      if (generation !== state.generation) return;
      const live = byId("live");
      live.className = "waiting";
      live.textContent = "disconnected, trying again";
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

function restart() {
  state.generation += 1;
  state.version = 0;
  if (state.controller) state.controller.abort();
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("chosen", tab.dataset.tab === state.tab);
  follow(state.generation);
}

function start() {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => { state.tab = tab.dataset.tab; state.page = 1; restart(); });
  }
  let typing = null;
  byId("search").addEventListener("input", (event) => {
    clearTimeout(typing);
    typing = setTimeout(() => { state.search = event.target.value; state.page = 1; restart(); }, 150);
  });
  byId("previous").addEventListener("click", () => { state.page -= 1; restart(); });
  byId("next").addEventListener("click", () => { state.page += 1; restart(); });
  restart();
}

document.addEventListener("DOMContentLoaded", start);
