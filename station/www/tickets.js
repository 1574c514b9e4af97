// SPDX-License-Identifier: MIT
// The ticket kiosk: a button per service (GET /api/v1/services), a priority
// choice, and the ticket issued (POST /api/v1/tickets): number, service, time,
// people ahead and a QR to follow the queue (GET /api/v1/tickets/{id}/qr.png
// when the gateway serves one).
"use strict";
(() => {
  const S = Station, { $, el, L } = S;
  let priority = null, timer = null, busy = false;
  const waitingBy = {};

  function services(j) {
    // {"services":[{code|id, name}]} or a list of names
    const list = Array.isArray(j) ? j : (j && j.services) || [];
    return list.map((s) => typeof s === "string" ? { code: s, name: s, name_en: s } :
      { code: s.code || s.id || s.service || s.name, name: s.name || s.service_name || s.code || s.id,
        name_en: s.name_en || s.name || s.code });
  }
  function renderPriorities() {
    const box = $("#priorities");
    box.replaceChildren(...S.PRIORITIES.map(([k, vi, en]) => el("button", {
      type: "button", "data-priority": k, "aria-pressed": String(priority === k),
      onclick: () => { priority = priority === k ? null : k; renderPriorities(); },
    }, L(vi, en))));
  }
  function renderServices(list) {
    const box = $("#services");
    box.replaceChildren(...list.map((s) => {
      const n = waitingBy[s.code];
      return el("button", { type: "button", "data-service": s.code, onclick: () => take(s) },
        L(s.name, s.name_en), el("span", { class: "count" }, L("Đang chờ: " + (n || 0), "waiting: " + (n || 0))));
    }));
  }
  let current = [];
  async function load() {
    try {
      current = services(await S.api.get("/api/v1/services"));
      try {
        const q = await S.api.get("/api/v1/queue");
        for (const w of q.waiting || []) waitingBy[w.service] = w.count;
      } catch (e) { /* the counts are a help, not needed */ }
      renderServices(current);
      $("#error").textContent = "";
    } catch (e) {
      $("#error").textContent = S.errText(e);
    }
  }
  async function take(s) {
    if (busy) return;
    busy = true;
    try {
      const body = { service: s.code };
      if (priority) body.priority = priority;
      const t = await S.api.post("/api/v1/tickets", body);
      show(t, s);
    } catch (e) {
      $("#error").textContent = S.errText(e);
    } finally {
      busy = false;
    }
  }
  async function show(t, s) {
    $("#t-number").textContent = S.ticketNo(t.number);
    $("#t-service").replaceChildren(L(t.service_name || s.name, s.name_en));
    const p = S.PRIORITIES.find((x) => x[0] === t.priority);
    $("#t-priority").replaceChildren(p ? L("Ưu tiên: " + p[1], "Priority: " + p[2]) : "");
    $("#t-time").textContent = S.hhmm(t.issued_at) + " " + S.dmy(t.issued_at).split(" ")[0];
    $("#t-ahead").textContent = t.ahead === undefined || t.ahead === null ? "–" : String(t.ahead);
    $("#choose").classList.add("hidden");
    $("#ticket").classList.remove("hidden");
    $("#ticket").dataset.ticket = String(t.id);
    const qr = $("#t-qr");
    qr.replaceChildren();
    try {
      qr.append(el("img", { src: await S.api.blobUrl("/api/v1/tickets/" + t.id + "/qr.png"), alt: "QR" }));
    } catch (e) {
      // no QR route on this gateway: the ticket goes without one (nothing for the citizen to read here)
      qr.dataset.missing = S.errText(e);
    }
    clearTimeout(timer);
    timer = setTimeout(back, 30000);
  }
  function back() {
    clearTimeout(timer);
    priority = null;
    renderPriorities();
    $("#ticket").classList.add("hidden");
    $("#choose").classList.remove("hidden");
    load();
  }
  document.addEventListener("DOMContentLoaded", () => {
    renderPriorities();
    $("#done").addEventListener("click", back);
    load();
    let pending = null;
    S.follow((type) => {
      if (!type.startsWith("ticket.") || pending) return;
      pending = setTimeout(() => { pending = null; if (!$("#choose").classList.contains("hidden")) load(); }, 300);
    }, S.netState);
  });
})();
