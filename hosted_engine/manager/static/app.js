// Plain JS, no build step: polls the hosts every 2 s, sends actions with the CSRF token.
"use strict";
const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

async function call(method, url, body, headers) {
  const res = await fetch(url, {
    method, credentials: "same-origin",
    headers: Object.assign({"Content-Type": "application/json", "X-CSRF-Token": csrf()}, headers || {}),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (res.status === 401) { location.href = "/login"; }
  return {res, data};
}

function say(text, bad) {
  const el = document.getElementById("message");
  if (el) { el.textContent = text; el.className = bad ? "error" : "notice"; }
}

function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }

function button(label, enabled, fn) {
  const b = document.createElement("button");
  b.textContent = label; b.disabled = !enabled;
  b.addEventListener("click", async () => {
    const {res, data} = await fn();
    say(res.ok ? label + ": done" : (data && data.detail) || res.statusText, !res.ok);
    refreshHosts();
  });
  return b;
}

function renderHosts(state) {
  const banner = document.getElementById("banner");
  if (banner) banner.hidden = !state.global_maintenance;
  const body = document.querySelector("#hosts tbody");
  if (!body) return;
  body.replaceChildren();
  for (const h of state.hosts) {
    const tr = document.createElement("tr");
    tr.dataset.id = h.id;
    const mark = cell(h.engine_vm_here ? "\u2655" : "");
    if (h.engine_vm_here) { mark.className = "crown"; mark.title = "Runs the engine VM"; }
    tr.append(mark, cell(h.name), cell(h.address),
      cell(h.status + (h.out_of_sync ? " (out of sync)" : "")), cell(h.ha_wording),
      cell(h.ha_state || ""), cell(h.data_age === null ? "" : h.data_age.toFixed(1) + " s"));
    const acts = document.createElement("td");
    const a = h.actions;
    acts.append(
      a.maintenance_move
        ? button("Maintenance (move the engine first)", true,
            () => call("POST", `/api/hosts/${h.id}/deactivate`, {move_engine: true}))
        : button("Maintenance", a.maintenance, () => call("POST", `/api/hosts/${h.id}/deactivate`)),
      button("Activate", a.activate, () => call("POST", `/api/hosts/${h.id}/activate`)),
      button("Enable Global HA Maintenance", a.enable_global,
        () => call("POST", "/api/vms/engine/maintenance", {maintenance_enabled: true})),
      button("Disable Global HA Maintenance", a.disable_global,
        () => call("POST", "/api/vms/engine/maintenance", {maintenance_enabled: false})));
    if (a.undeploy) {
      const b = document.createElement("button");
      b.textContent = "Undeploy";
      b.addEventListener("click", () => askUndeploy(h));
      acts.append(b);
    }
    tr.append(acts);
    body.append(tr);
  }
}

async function refreshHosts() {
  try {
    const res = await fetch("/ui/hosts.json", {credentials: "same-origin"});
    if (res.status === 401) { location.href = "/login"; return; }
    if (res.ok) renderHosts(await res.json());
  } catch (e) { /* the manager is failing over: try again at the next tick */ }
}

let etag = null;
async function loadVm() {
  const {res, data} = await call("GET", "/api/vms/engine");
  if (!res.ok) { say((data && data.detail) || res.statusText, true); return; }
  etag = res.headers.get("ETag");
  const form = document.getElementById("vm-form");
  for (const k of ["memSize", "sockets", "coresPerSocket", "threadsPerCore"]) form.elements[k].value = data[k];
  const nics = document.getElementById("nics");
  nics.replaceChildren();
  (data.nics || []).forEach((nic, i) => {
    for (const f of ["macAddr", "network", "model"]) {
      const l = document.createElement("label");
      l.textContent = `nic${i + 1}.${f} `;
      const inp = document.createElement("input");
      inp.name = `nic${i + 1}.${f}`; inp.value = nic[f] || "";
      l.append(inp); nics.append(l);
    }
  });
  document.getElementById("definition").textContent = JSON.stringify(data, null, 2);
}

async function saveVm(ev) {
  ev.preventDefault();
  const changes = {};
  for (const el of ev.target.elements) {
    if (!el.name || el.value === "") continue;
    changes[el.name] = el.type === "number" ? Number(el.value) : el.value;
  }
  const {res, data} = await call("PUT", "/api/vms/engine", changes, {"If-Match": etag || ""});
  say(res.ok ? data.notice : (data && data.detail) || res.statusText, !res.ok);
  if (res.ok) loadVm();
}

function sharedForm() {
  const form = document.getElementById("shared-form");
  const url = () => `/api/shared-config/${encodeURIComponent(form.elements.type.value)}/${encodeURIComponent(form.elements.key.value)}`;
  document.getElementById("shared-get").addEventListener("click", async () => {
    const {res, data} = await call("GET", url());
    if (res.ok) { form.elements.value.value = data.value; say(`${data.key} = ${data.value}`); }
    else say((data && data.detail) || res.statusText, true);
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const {res, data} = await call("PUT", url(), {value: form.elements.value.value});
    say(res.ok ? `${data.key} set to ${data.value}` : (data && data.detail) || res.statusText, !res.ok);
  });
}

document.querySelectorAll("td.time").forEach((td) => {
  td.textContent = new Date(Number(td.dataset.t) * 1000).toISOString().replace("T", " ").slice(0, 19);
});
if (window.INITIAL_HOSTS) { renderHosts(window.INITIAL_HOSTS); }
if (document.getElementById("hosts")) { setInterval(refreshHosts, 2000); }
else { fetch("/ui/hosts.json", {credentials: "same-origin"}).then((r) => r.ok && r.json()).then((s) => s && renderHosts(s)).catch(() => {}); }
if (document.getElementById("vm-form")) { loadVm(); document.getElementById("vm-form").addEventListener("submit", saveVm); }
if (document.getElementById("shared-form")) sharedForm();

// --- New Host: fetch the SSH fingerprint, confirm it, then follow the deploy every second.
function addHostBody(form, fingerprint) {
  const f = new FormData(form);
  const config = {host_id: String(f.get("host_id") || "")};
  for (const line of String(f.get("config") || "").split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) config[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  const body = {
    name: f.get("name"), address: f.get("address"), ssh_port: Number(f.get("ssh_port") || 22),
    ssh_user: f.get("ssh_user") || "root", deploy_hosted_engine: true, hosted_engine_config: config,
  };
  if (f.get("hostd_port")) body.hostd_port = Number(f.get("hostd_port"));
  if (fingerprint) body.host_key_fingerprint = fingerprint;
  return body;
}

async function followDeploy(url) {
  const list = document.getElementById("progress");
  const outcome = document.getElementById("outcome");
  list.replaceChildren(); outcome.textContent = ""; outcome.className = "";
  let after = 0;
  for (;;) {
    const {res, data} = await call("GET", url + "?after=" + after);
    if (!res.ok) { outcome.textContent = "Failed: " + ((data && data.detail) || res.statusText); return; }
    for (const e of data.events) {
      const li = document.createElement("li"); li.textContent = e.text; li.className = e.level;
      list.appendChild(li);
    }
    after = data.next;
    if (data.status !== "running") {
      outcome.textContent = data.status === "complete" ? "Complete" : "Failed: " + data.error;
      outcome.className = data.status === "complete" ? "notice" : "error";
      return;
    }
    await new Promise((done) => setTimeout(done, 1000));
  }
}

function setupAddHost() {
  const form = document.getElementById("add-host");
  if (!form) return;
  const send = async (fingerprint) => {
    const {res, data} = await call("POST", "/api/hosts", addHostBody(form, fingerprint));
    if (res.status === 409 && data && data.host_key_fingerprint) {
      document.getElementById("fingerprint-value").textContent = data.host_key_fingerprint;
      document.getElementById("fingerprint").hidden = false;
      say("Verify the host's SSH fingerprint, then confirm.", false);
    } else if (res.status === 202) {
      document.getElementById("fingerprint").hidden = true;
      say("Installing Host " + form.elements.name.value + ".", false);
      await followDeploy(data.events);
      const done = document.getElementById("done");
      if (done) done.hidden = false;
    } else {
      say((data && data.detail) || res.statusText, true);
    }
  };
  form.addEventListener("submit", (ev) => { ev.preventDefault(); send(null); });
  document.getElementById("confirm").addEventListener("click", () => {
    send(document.getElementById("fingerprint-value").textContent);
  });
}
setupAddHost();

// --- Undeploy (oVirt's hosted engine UNDEPLOY): confirm, maybe the SSH fingerprint too,
// then the same live progress; a Complete run has removed the host from the list.
function askUndeploy(h) {
  const box = document.getElementById("undeploy");
  if (!box) return;
  box.dataset.id = h.id; box.dataset.name = h.name; box.dataset.fingerprint = "";
  document.getElementById("undeploy-name").textContent = h.name;
  document.getElementById("undeploy-fingerprint").hidden = true;
  box.hidden = false;
}

async function sendUndeploy() {
  const box = document.getElementById("undeploy");
  const body = {undeploy_hosted_engine: true};
  if (box.dataset.fingerprint) body.host_key_fingerprint = box.dataset.fingerprint;
  const {res, data} = await call("POST", `/api/hosts/${box.dataset.id}/undeploy`, body);
  if (res.status === 409 && data && data.host_key_fingerprint) {
    box.dataset.fingerprint = data.host_key_fingerprint;
    document.getElementById("undeploy-fingerprint-value").textContent = data.host_key_fingerprint;
    document.getElementById("undeploy-fingerprint").hidden = false;
    say("Verify the host's SSH fingerprint, then confirm.", false);
    return;
  }
  box.hidden = true;
  if (res.status !== 202) { say((data && data.detail) || res.statusText, true); return; }
  say("Undeploying hosted engine from host " + box.dataset.name + ".", false);
  await followDeploy(data.events);
  refreshHosts();
}

function setupUndeploy() {
  const box = document.getElementById("undeploy");
  if (!box) return;
  document.getElementById("undeploy-ok").addEventListener("click", sendUndeploy);
  document.getElementById("undeploy-cancel").addEventListener("click", () => { box.hidden = true; });
}
setupUndeploy();
