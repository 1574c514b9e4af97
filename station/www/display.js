// SPDX-License-Identifier: MIT
// The waiting-room display: the number called, the last five calls, people
// waiting per service (GET /api/v1/queue, refreshed on ticket.* events), and
// each call announced by voice (GET /api/v1/tickets/{id}/announce.wav), one
// at a time: calls wait in a queue and the next plays when one has ended.
"use strict";
(() => {
  const S = Station, { $, el, L } = S;
  let lastShown = null;
  const names = {}; // service code → [Vietnamese, English]
  const serviceL = (code, vi) => { const n = names[code]; return n ? L(n[0], n[1]) : L(vi || code || "", vi || code || ""); };

  // ---- the queue of announcements: never two at once ----
  const audioQueue = [];
  let playing = false, soundBlocked = false;
  window.__display = { announced: [], maxPlaying: 0, playing: 0, failed: [] }; // for tests and support
  function announce(ticketId) {
    audioQueue.push(ticketId);
    playNext();
  }
  async function playNext() {
    if (playing || soundBlocked || !audioQueue.length) return;
    playing = true;
    const id = audioQueue.shift();
    let url = null;
    const finish = () => {
      window.__display.playing--;
      if (url) URL.revokeObjectURL(url);
      playing = false;
      playNext();
    };
    try {
      url = await S.api.blobUrl("/api/v1/tickets/" + id + "/announce.wav");
    } catch (e) {
      window.__display.failed.push({ id, error: S.errText(e) });
      playing = false;
      playNext();
      return;
    }
    const a = new Audio(url);
    window.__display.playing++;
    window.__display.maxPlaying = Math.max(window.__display.maxPlaying, window.__display.playing);
    a.addEventListener("ended", finish, { once: true });
    a.addEventListener("error", finish, { once: true });
    try {
      await a.play();
      window.__display.announced.push(id);
    } catch (e) {
      // the browser wants a touch before it plays sound: ask for one
      window.__display.playing--;
      URL.revokeObjectURL(url);
      audioQueue.unshift(id);
      playing = false;
      soundBlocked = true;
      $("#sound").classList.remove("hidden");
    }
  }
  $("#sound").addEventListener("click", () => {
    soundBlocked = false;
    $("#sound").classList.add("hidden");
    playNext();
  });

  // ---- what the screen shows ----
  function showNow(c, flash) {
    $("#now-number").textContent = S.ticketNo(c.number);
    $("#now-counter").replaceChildren(L("Đến quầy " + c.counter, "Please go to counter " + c.counter));
    $("#now-service").replaceChildren(c.service || c.service_name ? serviceL(c.service, c.service_name) : "");
    if (flash) {
      const n = $("#now");
      n.classList.remove("flash"); void n.offsetWidth; n.classList.add("flash");
    }
  }
  function render(q) {
    for (const s of q.services || []) if (s.code) names[s.code] = [s.name || s.code, s.name_en || s.name || s.code];
    const calls = q.called || [];
    $("#calls").replaceChildren(...(calls.length ? calls.map((c) => el("tr", {},
      el("td", { class: "num" }, S.ticketNo(c.number)), el("td", {}, String(c.counter || "")),
      el("td", {}, serviceL(c.service, c.service_name)), el("td", {}, S.hhmm(c.called_at))))
      : [el("tr", {}, el("td", { colspan: 4, class: "muted" }, L("Chưa gọi số nào", "no calls yet")))]));
    if (calls.length) {
      const key = calls[0].number + "@" + calls[0].called_at;
      showNow(calls[0], lastShown !== null && key !== lastShown);
      lastShown = key;
    } else lastShown = "";
    const w = q.waiting || [];
    $("#waiting").replaceChildren(...(w.length ? w.map((s) => el("tr", {},
      el("td", {}, s.service ? serviceL(s.service, s.service_name) : L("Chung", "general")), el("td", { class: "num" }, String(s.count))))
      : [el("tr", {}, el("td", { class: "muted" }, L("Không có ai đang chờ", "nobody waiting")))]));
    document.body.dataset.updated = String(Date.now());
  }
  let pending = null;
  async function refresh() {
    try {
      render(await S.api.get("/api/v1/queue"));
      $("#error").textContent = "";
    } catch (e) {
      $("#error").textContent = S.errText(e);
    }
  }
  function refreshSoon() {
    if (pending) return;
    pending = setTimeout(() => { pending = null; refresh(); }, 100);
  }
  function clock() {
    const d = new Date();
    $("#clock").textContent = S.pad(d.getHours()) + ":" + S.pad(d.getMinutes()) + " · " +
      S.pad(d.getDate()) + "/" + S.pad(d.getMonth() + 1) + "/" + d.getFullYear();
  }
  document.addEventListener("DOMContentLoaded", () => {
    clock(); setInterval(clock, 10000);
    refresh();
    S.follow((type, p) => {
      if (!type.startsWith("ticket.")) return;
      if ((type === "ticket.called" || type === "ticket.recalled") && p && p.id) {
        showNow(p, true);
        announce(p.id);
      }
      refreshSoon();
    }, (ok, err) => { S.netState(ok, err); if (ok) refreshSoon(); });
  });
})();
