// SPDX-License-Identifier: MIT
// What the station's pages share: the language switch, the API client (a
// bearer token on every call), the event stream with reconnect, and small
// helpers. Plain JavaScript, nothing fetched from outside the gateway.
"use strict";
const Station = (() => {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  // ---- language: Vietnamese first; the choice is kept on this device ----
  function lang() { return localStorage.getItem("motcua.lang") === "en" ? "en" : "vi"; }
  function applyLang() {
    const en = lang() === "en";
    document.body.classList.toggle("lang-en", en);
    document.documentElement.lang = en ? "en" : "vi";
    for (const el of $$("[data-vi-placeholder]"))
      el.placeholder = en ? el.dataset.enPlaceholder : el.dataset.viPlaceholder;
    for (const el of $$(".lang")) el.textContent = en ? "Tiếng Việt" : "English";
  }
  // (texts a page draws with t(), e.g. in a <select>, it draws again on this event)
  function toggleLang() {
    localStorage.setItem("motcua.lang", lang() === "en" ? "vi" : "en");
    applyLang();
    document.dispatchEvent(new Event("motcua:lang"));
  }
  // An element with both texts; CSS shows the chosen one.
  function L(vi, en, tag) {
    const e = document.createElement(tag || "span");
    const a = document.createElement("span"), b = document.createElement("span");
    a.className = "vi"; a.textContent = vi; b.className = "en"; b.textContent = en === undefined ? vi : en;
    e.append(a, b);
    return e;
  }
  // The text in the chosen language (for messages built once, e.g. alerts).
  function t(vi, en) { return lang() === "en" ? en : vi; }
  function setL(el, vi, en) { el.replaceChildren(L(vi, en)); }

  // ---- the token: the fragment (#token=..., never sent to a server's log),
  // or a session kept in sessionStorage (the console's sign-in) ----
  function fragmentToken() { return new URLSearchParams(location.hash.slice(1)).get("token") || ""; }
  function param(name) { return new URLSearchParams(location.search).get(name); }
  let token = fragmentToken();
  function setToken(t) { token = t || ""; }
  function getToken() { return token; }

  class ApiError extends Error {
    constructor(status, body, path) {
      super((body && (body.detail || body.message)) || ("HTTP " + status));
      this.status = status; this.code = body && body.error; this.body = body; this.path = path;
    }
  }
  async function call(method, path, body, opts) {
    opts = opts || {};
    const h = {};
    if (token) h.Authorization = "Bearer " + token;
    let data;
    if (body instanceof Blob) { data = body; h["Content-Type"] = body.type || "application/octet-stream"; }
    else if (body !== undefined && body !== null) { data = JSON.stringify(body); h["Content-Type"] = "application/json"; }
    const r = await fetch(path, { method, headers: h, body: data, cache: "no-store" });
    if (opts.raw) { if (!r.ok) throw new ApiError(r.status, await r.json().catch(() => null), path); return r; }
    const text = await r.text();
    let j = null;
    try { j = text ? JSON.parse(text) : null; } catch (e) { j = null; }
    if (!r.ok) {
      const err = new ApiError(r.status, j, path);
      if (r.status === 401 && Station.onUnauthorized) Station.onUnauthorized(err);
      throw err;
    }
    return j;
  }
  const api = {
    get: (p) => call("GET", p),
    post: (p, b) => call("POST", p, b === undefined ? {} : b),
    del: (p) => call("DELETE", p),
    // a file the API serves (a thumbnail, a receipt, a sound) as a blob: URL
    async blobUrl(p) { const r = await call("GET", p, null, { raw: true }); return URL.createObjectURL(await r.blob()); },
  };
  // A message for the page from an error of the API.
  function errText(e) {
    if (e instanceof ApiError) {
      if (e.status === 404 && (!e.body || e.message === "no such route")) return t("Chức năng chưa có trên bản này", "not on this build") + " (" + e.path + ")";
      if (e.status === 401) return t("Chưa đăng nhập hoặc mã truy cập sai", "not signed in, or a wrong token") + " (401)";
      if (e.status === 403) return t("Không được phép", "not allowed") + " (403)";
      return (e.message || "") + " (" + e.status + (e.code ? " " + e.code : "") + ")";
    }
    return t("Lỗi kết nối", "connection error") + ": " + e.message;
  }

  // ---- the event stream: GET /api/v1/events read with fetch (which sends
  // the token); after a cut it reconnects and resumes from the last id ----
  function follow(onEvent, onState) {
    let since = 0, stopped = false, ctl = null;
    (async () => {
      while (!stopped) {
        try {
          ctl = new AbortController();
          const h = token ? { Authorization: "Bearer " + token } : {};
          const r = await fetch("/api/v1/events" + (since ? "?since=" + since : ""), { headers: h, signal: ctl.signal });
          if (!r.ok) throw new ApiError(r.status, await r.json().catch(() => null), "/api/v1/events");
          if (onState) onState(true);
          const reader = r.body.getReader(), dec = new TextDecoder();
          let buf = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buf += dec.decode(value, { stream: true });
            let i;
            while ((i = buf.indexOf("\n\n")) >= 0) {
              const block = buf.slice(0, i); buf = buf.slice(i + 2);
              const id = /^id: (\d+)/m.exec(block), type = /^event: (\S+)/m.exec(block), data = /^data: (.*)$/m.exec(block);
              if (id) since = Number(id[1]);
              if (!type) continue;
              let payload = null;
              try { payload = data ? JSON.parse(data[1]) : null; } catch (e) { payload = null; }
              try { onEvent(type[1], payload); } catch (e) { console.error(e); }
            }
          }
          if (onState) onState(false, null);
        } catch (e) {
          if (stopped) break;
          if (onState) onState(false, e);
        }
        await new Promise((ok) => setTimeout(ok, 2000));
      }
    })();
    return { stop() { stopped = true; if (ctl) ctl.abort(); } };
  }
  // A connection badge: .net in the page's header.
  function netState(ok, err) {
    const el = $(".net");
    if (!el) return;
    el.className = "net " + (ok ? "ok" : "bad");
    if (ok) setL(el, "Trực tuyến", "live");
    else setL(el, "Mất kết nối, đang thử lại…", "reconnecting…" + (err && err.status ? " (" + err.status + ")" : ""));
  }

  // ---- small helpers ----
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k);
    return e;
  }
  const pad = (n) => String(n).padStart(2, "0");
  // "2026-12-03T14:05:00+07:00" → "14:05"
  function hhmm(iso) { if (!iso) return "–"; const m = /T(\d\d:\d\d)/.exec(iso); return m ? m[1] : iso; }
  function dmy(iso) { if (!iso) return "–"; const m = /^(\d{4})-(\d\d)-(\d\d)(?:T(\d\d:\d\d))?/.exec(iso); return m ? m[3] + "/" + m[2] + "/" + m[1] + (m[4] ? " " + m[4] : "") : iso; }
  // Ticket numbers as the hall reads them: 0015
  const ticketNo = (n) => String(n).padStart(4, "0");
  const PRIORITIES = [
    ["elderly", "Người cao tuổi", "Elderly"],
    ["disabled", "Người khuyết tật", "Disabled"],
    ["pregnant", "Phụ nữ mang thai", "Pregnant"],
    ["child", "Người có con nhỏ", "With a small child"],
  ];
  const TICKET_STATES = {
    waiting: ["Đang chờ", "waiting"], called: ["Đã gọi", "called"], serving: ["Đang phục vụ", "serving"],
    done: ["Đã xong", "done"], no_show: ["Vắng mặt", "no-show"], transferred: ["Đã chuyển", "transferred"],
  };
  // The national status codes of a dossier (TrangThaiHoSo, as the portal names them).
  const STATUS = {
    1: ["Mới đăng ký", "newly registered"], 2: ["Được tiếp nhận", "accepted"], 3: ["Không được tiếp nhận", "not accepted"],
    4: ["Đang xử lý", "in process"], 5: ["Yêu cầu bổ sung giấy tờ", "supplement requested"],
    6: ["Yêu cầu thực hiện nghĩa vụ tài chính", "payment requested"], 7: ["Công dân yêu cầu rút hồ sơ", "withdrawn"],
    8: ["Dừng xử lý", "processing stopped"], 9: ["Đã xử lý xong", "processed"], 10: ["Đã trả kết quả", "result returned"],
  };
  const DOC_STATES = {
    scanning: ["Đang quét", "scanning"], processing: ["Đang xử lý", "processing"], review: ["Chờ kiểm tra", "to review"],
    done: ["Đã ký và lưu", "signed and archived"], failed: ["Lỗi", "failed"], pending: ["Chờ", "pending"],
  };
  function stateL(table, key) { const s = table[key]; return s ? L(s[0], s[1]) : L(String(key)); }

  document.addEventListener("DOMContentLoaded", () => {
    applyLang();
    for (const b of $$(".lang")) b.addEventListener("click", toggleLang);
  });

  return { $, $$, L, t, setL, lang, applyLang, toggleLang, api, ApiError, errText, follow, netState, el,
           param, fragmentToken, setToken, getToken, hhmm, dmy, pad, ticketNo, PRIORITIES, TICKET_STATES,
           STATUS, DOC_STATES, stateL, onUnauthorized: null };
})();
