// SPDX-License-Identifier: MIT
// The clerk's console (/station/console): sign in, run the queue at this
// counter, receive a dossier (procedure, applicant by hand or from the CCCD,
// reuse of archived papers), scan and review its pages, confirm, print the
// receipt, and change its status. Live over GET /api/v1/events.
"use strict";
(() => {
  const S = Station, { $, $$, el, L, api } = S;
  const KEY = "motcua.session";
  const st = {
    user: null, counter: "", ticket: null, services: [], procedures: null,
    code: null, dossier: null, checklist: null, orders: {}, thumbs: {}, cccd: null,
  };
  window.__console = st; // for tests and support

  // ---- the session ----
  function saved() { try { return JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch (e) { return null; } }
  function save(s) { if (s) sessionStorage.setItem(KEY, JSON.stringify(s)); else sessionStorage.removeItem(KEY); }
  function showSignin(msg) {
    $("#app").classList.add("hidden");
    $("#signout").classList.add("hidden");
    $("#signin").classList.remove("hidden");
    $("#who").textContent = "";
    if (msg) $("#signin-error").textContent = msg;
    $("#username").focus();
  }
  async function signIn(ev) {
    ev.preventDefault();
    $("#signin-error").textContent = "";
    const body = { username: $("#username").value.trim(), password: $("#password").value };
    const c = $("#counter-in").value.trim();
    if (c) body.counter = c;
    S.setToken("");
    try {
      const r = await api.post("/api/v1/session", body);
      save({ token: r.token, user: r.user, expires_at: r.expires_at });
      $("#password").value = "";
      start();
    } catch (e) {
      $("#signin-error").textContent = e.code === "bad_credentials" ? S.t("Sai tên đăng nhập hoặc mật khẩu", "wrong username or password")
        : e.code === "locked" ? S.t("Tài khoản tạm khóa, thử lại sau", "locked for a while, try again later") : S.errText(e);
    }
  }
  async function signOut() {
    // a session ends at the gateway too (a machine token given in the address is only forgotten)
    try { if (S.getToken().startsWith("mcs_")) await api.del("/api/v1/session"); } catch (e) { /* signed out anyway */ }
    save(null);
    S.setToken("");
    if (follower) follower.stop();
    location.hash = "";
    showSignin();
  }
  S.onUnauthorized = () => { save(null); showSignin(S.t("Phiên làm việc đã hết, mời đăng nhập lại", "the session has ended: sign in again")); };

  // ---- the queue ----
  function counterName() { return st.counter; }
  function ticketState(t) { return t ? t.state : null; }
  function renderTicket() {
    const t = st.ticket, s = ticketState(t);
    $("#cur-ticket").textContent = t ? S.ticketNo(t.number) : "––––";
    const info = $("#cur-ticket-info");
    info.replaceChildren();
    if (t) {
      info.append(S.stateL(S.TICKET_STATES, t.state), " · ", t.service_name || t.service || S.t("chung", "general"));
      const p = S.PRIORITIES.find((x) => x[0] === t.priority);
      if (p) info.append(" · ", L("Ưu tiên: " + p[1], "priority: " + p[2]));
      if (t.recalls) info.append(" · ", L("gọi lại " + t.recalls + " lần", "recalled " + t.recalls + "×"));
    }
    $("#cur-ticket").dataset.state = s || "";
    const active = s === "called" || s === "serving";
    $("#btn-next").disabled = active;
    $("#btn-recall").disabled = s !== "called";
    $("#btn-start").disabled = s !== "called";
    $("#btn-noshow").disabled = s !== "called";
    $("#btn-done").disabled = s !== "serving";
    $("#btn-transfer").disabled = !active || !st.services.length;
  }
  async function loadQueue() {
    try {
      const q = await api.get("/api/v1/queue");
      const total = (q.waiting || []).reduce((a, w) => a + w.count, 0);
      $("#queue-stats").replaceChildren(L("Đang chờ: " + total, "waiting: " + total),
        ...(q.waiting || []).filter((w) => w.count).map((w) => el("div", {}, (w.service_name || w.service || "–") + ": " + w.count)));
      if (q.services && !st.services.length) setServices(q.services);
      $("#queue-error").textContent = "";
    } catch (e) {
      $("#queue-error").textContent = S.errText(e);
    }
    // the ticket at this counter
    try {
      const c = await api.get("/api/v1/counters/" + encodeURIComponent(counterName()));
      if (c.ticket) st.ticket = c.ticket;
      else if (st.ticket && ["called", "serving"].includes(st.ticket.state)) st.ticket = null;
      if (c.dossier && !st.code) openDossier(c.dossier);
    } catch (e) { /* the ticket we called stays shown */ }
    renderTicket();
  }
  function setServices(list) {
    st.services = list.map((s) => typeof s === "string" ? { code: s, name: s } : { code: s.code || s.id || s.name, name: s.name || s.code, name_en: s.name_en });
    $("#transfer-service").replaceChildren(...st.services.map((s) => el("option", { value: s.code }, s.name + (s.name_en && s.name_en !== s.name ? " · " + s.name_en : ""))));
    renderTicket();
  }
  async function loadServices() {
    try { const j = await api.get("/api/v1/services"); setServices(Array.isArray(j) ? j : j.services || []); }
    catch (e) { /* then from GET /api/v1/queue */ }
  }
  async function ticketAction(what) {
    const t = st.ticket;
    $("#queue-error").textContent = "";
    try {
      if (what === "next") st.ticket = await api.post("/api/v1/tickets/next", { counter: counterName() });
      else if (!t) return;
      else if (what === "transfer") {
        await api.post("/api/v1/tickets/" + t.id + "/transfer", { service: $("#transfer-service").value });
        st.ticket = null;
      } else {
        const r = await api.post("/api/v1/tickets/" + t.id + "/" + what, {});
        st.ticket = r && r.id ? r : null;
        if (what === "no-show" || what === "done") st.ticket = null;
      }
    } catch (e) {
      $("#queue-error").textContent = e.code === "no_one_waiting" ? S.t("Không có ai đang chờ", "nobody is waiting") : S.errText(e);
    }
    renderTicket();
  }

  // ---- a new dossier ----
  async function loadProcedures() {
    try {
      const j = await api.get("/api/v1/procedures");
      st.procedures = j.procedures || [];
      procOptions();
      $("#proc-free").classList.add("hidden");
      $("#proc").classList.remove("hidden");
    } catch (e) {
      // no list on this build: the clerk types the procedure
      st.procedures = null;
      $("#proc").classList.add("hidden");
      $("#proc-free").classList.remove("hidden");
    }
    showPapers();
  }
  function procOptions() {
    if (!st.procedures) return;
    const v = $("#proc").value;
    $("#proc").replaceChildren(el("option", { value: "" }, S.t("— chọn thủ tục —", "— choose a procedure —")),
      ...st.procedures.map((p) => el("option", { value: p.code }, p.code + " · " + p.name)));
    $("#proc").value = v;
  }
  function procedure() {
    if (!st.procedures) return { code: $("#proc-code").value.trim(), name: $("#proc-name").value.trim() };
    return st.procedures.find((p) => p.code === $("#proc").value) || null;
  }
  const FORMS = { original: ["bản chính", "original"], copy: ["bản sao", "copy"], either: ["bản chính hoặc bản sao", "original or copy"] };
  function paperLine(p) {
    const f = FORMS[p.form] || [p.form || "", p.form || ""];
    return L(p.name + " (" + f[0] + ", " + (p.count || 1) + " bản)", p.name + " (" + f[1] + ", " + (p.count || 1) + ")");
  }
  function showPapers() {
    const p = st.procedures ? procedure() : null, box = $("#proc-papers");
    box.replaceChildren();
    if (!p) return;
    const info = [];
    if (p.processing_days !== undefined) info.push(L("Thời hạn: " + p.processing_days + " ngày làm việc", "processing time: " + p.processing_days + " working days"));
    if (p.fee) info.push(L(" · Lệ phí: " + p.fee, " · fee: " + p.fee));
    box.append(el("div", { class: "muted" }, ...info));
    if (p.papers && p.papers.length)
      box.append(el("div", {}, L("Thành phần hồ sơ:", "Papers required:")),
        el("ol", {}, ...p.papers.map((x) => el("li", {}, paperLine(x)))));
  }
  function fillFromCccd(c) {
    st.cccd = c;
    $("#app-name").value = c.name || "";
    $("#app-id").value = c.id_number || "";
    $("#app-address").value = c.address || "";
    const bits = [];
    if (c.birth_date) bits.push(L("Ngày sinh: " + S.dmy(c.birth_date), "born " + c.birth_date));
    if (c.sex) bits.push(L(" · Giới tính: " + c.sex, " · sex: " + c.sex));
    if (c.old_id_number) bits.push(L(" · CMND cũ: " + c.old_id_number, " · old ID: " + c.old_id_number));
    if (c.issue_date) bits.push(L(" · Ngày cấp: " + S.dmy(c.issue_date), " · issued " + c.issue_date));
    $("#cccd-info").replaceChildren(el("span", { class: "good" }, L("Đã đọc CCCD. ", "ID card read. ")), ...bits);
  }
  async function readCccd(blob) {
    $("#cccd-info").replaceChildren(L("Đang đọc…", "reading…"));
    try {
      fillFromCccd(await (blob ? api.post("/api/v1/cccd", blob) : api.post("/api/v1/cccd?scan=1", null)));
    } catch (e) {
      $("#cccd-info").replaceChildren(el("span", { class: "error" },
        e.code === "no_qr" ? S.t("Không đọc được mã QR trên ảnh", "no readable QR on the image")
          : e.code === "not_cccd" ? S.t("Mã QR không phải của CCCD", "the QR is not a citizen ID card's") : S.errText(e)));
    }
  }
  async function createDossier() {
    $("#new-error").textContent = "";
    const p = procedure();
    if (!p || !p.code) { $("#new-error").textContent = S.t("Chưa chọn thủ tục", "choose a procedure"); return; }
    const applicant = { name: $("#app-name").value.trim(), id_number: $("#app-id").value.trim() };
    for (const [k, id] of [["phone", "#app-phone"], ["address", "#app-address"], ["email", "#app-email"]]) {
      const v = $(id).value.trim();
      if (v) applicant[k] = v;
    }
    const body = { procedure_code: p.code, applicant, channel: 1 };
    if (p.name) body.procedure_name = p.name;
    if (p.processing_days !== undefined && p.processing_days !== null) body.processing_days = p.processing_days;
    if (p.unit) body.unit = p.unit;
    if (st.ticket && st.ticket.id) body.ticket_id = st.ticket.id;
    try {
      const d = await api.post("/api/v1/dossiers", body);
      for (const id of ["#app-name", "#app-id", "#app-phone", "#app-address", "#app-email"]) $(id).value = "";
      $("#cccd-info").textContent = "";
      await openDossier(d.code);
      offerReuse(applicant.id_number);
    } catch (e) {
      $("#new-error").textContent = S.errText(e);
    }
  }
  async function offerReuse(idNumber) {
    const box = $("#reuse-list");
    box.replaceChildren();
    $("#reuse").classList.add("hidden");
    if (!idNumber) return;
    try {
      const j = await api.get("/api/v1/archive/applicants/" + encodeURIComponent(idNumber) + "/documents");
      const items = (j.items || []).filter((i) => i.dossier_code !== st.code);
      if (!items.length) return;
      $("#reuse").classList.remove("hidden");
      box.append(...items.map((i) => el("div", { class: "reuse-item", "data-item": i.id },
        el("span", {}, (i.name || i.id) + " · " + (i.dossier_code || "") + " · " + S.dmy(i.archived_at)),
        el("button", { type: "button", onclick: async (ev) => {
          ev.target.disabled = true;
          try { await api.post("/api/v1/dossiers/" + encodeURIComponent(st.code) + "/documents", { reuse: i.id }); refreshDossier(); }
          catch (e) { ev.target.disabled = false; $("#dossier-error").textContent = S.errText(e); }
        } }, L("Dùng lại", "Reuse")))));
    } catch (e) { /* no archive on this build: nothing to offer */ }
  }

  // ---- the open dossier ----
  const D = () => "/api/v1/dossiers/" + encodeURIComponent(st.code);
  async function openDossier(code) {
    st.code = code;
    st.orders = {};
    $("#receipt-box").replaceChildren();
    $("#status-msg").textContent = "";
    $("#dossier-msg").textContent = "";
    $("#btn-print-supplement").classList.add("hidden");
    $("#reuse").classList.add("hidden");
    $("#new-dossier").classList.add("hidden");
    $("#dossier").classList.remove("hidden");
    await refreshDossier();
  }
  function closeDossier() {
    st.code = null; st.dossier = null;
    $("#dossier").classList.add("hidden");
    $("#new-dossier").classList.remove("hidden");
  }
  async function refreshDossier() {
    if (!st.code) return;
    try {
      const d = await api.get(D());
      // each document with its pages (the dossier lists them without)
      d.documents = await Promise.all((d.documents || []).map((doc) =>
        api.get(D() + "/documents/" + encodeURIComponent(doc.id)).catch(() => doc)));
      if (d.code !== st.code) return;
      st.dossier = d;
      $("#dossier-error").textContent = "";
    } catch (e) {
      $("#dossier-error").textContent = S.errText(e);
      return;
    }
    try { st.checklist = await api.get(D() + "/checklist"); } catch (e) { st.checklist = null; }
    renderDossier();
  }
  function paperName(id) {
    const p = st.checklist && st.checklist.papers.find((x) => String(x.id) === String(id));
    return p ? p.name : String(id);
  }
  function renderDossier() {
    const d = st.dossier;
    $("#dossier-code").textContent = d.code;
    $("#dossier-status").replaceChildren(S.stateL(S.STATUS, d.status));
    const a = d.applicant || {};
    $("#dossier-info").replaceChildren(
      el("div", {}, el("b", {}, a.name || ""), " · " + (a.id_number || "") + (a.phone ? " · " + a.phone : "") + (a.address ? " · " + a.address : "")),
      el("div", {}, (d.procedure_code || "") + " " + (d.procedure_name || "")),
      el("div", {}, L("Nhận lúc " + S.dmy(d.received_at) + " · hẹn trả " + S.dmy(d.due_at),
        "received " + S.dmy(d.received_at) + " · due " + S.dmy(d.due_at)),
        d.lookup_key ? L(" · mã tra cứu: " + d.lookup_key, " · lookup key: " + d.lookup_key) : ""));
    // the checklist: handed in and missing
    const cl = $("#checklist");
    cl.replaceChildren();
    const papers = st.checklist ? st.checklist.papers : [];
    if (papers.length) {
      const missing = new Set((st.checklist.missing || []).map(String));
      cl.append(el("h3", {}, L("Thành phần hồ sơ", "Papers")), el("ul", {}, ...papers.map((p) => el("li", {
        class: missing.has(String(p.id)) ? "checklist-missing" : "checklist-ok", "data-paper": p.id },
        missing.has(String(p.id)) ? "✗ " : "✓ ", paperLine(p)))));
    }
    const paperNow = $("#scan-paper").value;
    $("#scan-paper").replaceChildren(el("option", { value: "" }, S.t("— giấy tờ —", "— paper —")),
      ...papers.map((p) => el("option", { value: p.id }, p.name)));
    $("#scan-paper").value = paperNow;
    $("#scan-paper").classList.toggle("hidden", !papers.length);
    // the missing papers to ask for
    const mb = $("#missing-box");
    mb.replaceChildren();
    if (papers.length) {
      const missing = new Set((st.checklist.missing || []).map(String));
      mb.append(L("Giấy tờ cần bổ sung:", "Papers to ask for:"), ...papers.map((p) => el("label", { class: "row" },
        el("input", { type: "checkbox", value: p.id, class: "missing-paper", checked: missing.has(String(p.id)), style: "width:auto;min-height:0" }), p.name)));
    }
    renderDocuments();
  }
  function pageOrder(doc) {
    const have = (doc.pages || []).map((p) => p.page);
    const o = st.orders[doc.id];
    if (o && o.length === have.length && o.every((n) => have.includes(n))) return o;
    delete st.orders[doc.id];
    return have;
  }
  function renderDocuments(force) {
    const box = $("#documents");
    const docs = st.dossier.documents || [];
    // drawn again only when something changed (a button does not move under the clerk's finger)
    const sig = JSON.stringify([docs, st.orders, st.checklist, S.lang()]);
    if (!force && sig === st.drawn) return;
    st.drawn = sig;
    box.replaceChildren(...docs.map(renderDocument));
    if (!docs.length) box.append(el("p", { class: "muted small" }, L("Chưa có giấy tờ nào. Bấm Quét hoặc tải tệp lên.", "No papers yet: scan or upload one.")));
  }
  function renderDocument(doc) {
    const review = doc.state === "review";
    const papers = st.checklist ? st.checklist.papers : [];
    const head = el("div", { class: "dtitle" }, el("b", {}, doc.name || doc.id),
      el("span", { class: "tag " + doc.state }, S.stateL(S.DOC_STATES, doc.state)));
    if (papers.length) {
      const sel = el("select", { "aria-label": "paper", onchange: async () => {
        try { await api.post(D() + "/documents/" + doc.id + "/paper", { paper: sel.value || null }); refreshDossier(); }
        catch (e) { $("#dossier-error").textContent = S.errText(e); }
      } }, el("option", { value: "" }, S.t("— giấy tờ —", "— paper —")), ...papers.map((p) => el("option", { value: p.id }, p.name)));
      sel.value = doc.paper === null || doc.paper === undefined ? "" : String(doc.paper);
      head.append(sel);
    } else if (doc.paper) head.append(el("span", { class: "small" }, paperName(doc.paper)));
    if (doc.reused_from) head.append(el("span", { class: "tag" }, L("dùng lại", "reused")));
    const card = el("div", { class: "doc " + doc.state, "data-doc": doc.id }, head);
    if (doc.reason && doc.state === "failed") card.append(el("div", { class: "error small" }, doc.reason));
    const pages = doc.pages || [];
    if (pages.length) {
      const byNo = Object.fromEntries(pages.map((p) => [p.page, p]));
      const order = pageOrder(doc);
      card.append(el("div", { class: "strip" }, ...order.map((n, i) => renderPage(doc, byNo[n], i, order, review))));
      const lows = pages.filter((p) => p.low_confidence).length;
      if (lows) card.append(el("div", { class: "warn small" }, L(lows + " trang nhận dạng kém: kiểm tra lại", lows + " page(s) read poorly: check them")));
    }
    if (review) {
      card.append(el("button", { class: "primary confirm", type: "button", onclick: (ev) => confirmDoc(doc, ev.target) },
        L("Xác nhận, ký số và lưu trữ", "Confirm: sign and archive")));
    }
    return card;
  }
  function renderPage(doc, p, i, order, review) {
    const low = !!p.low_confidence;
    const conf = p.confidence === undefined || p.confidence === null ? null : Math.round(p.confidence);
    const img = el("div", { class: "thumb" }, el("span", { class: "muted" }, "…"));
    loadThumb(doc, p, img);
    const act = (cls, label, title, fn, disabled) => el("button", { type: "button", class: cls, title, "aria-label": title, disabled: disabled || !review, onclick: fn }, label);
    return el("div", { class: "page" + (low ? " low" : ""), "data-page": p.page },
      img,
      el("div", {}, L("Trang " + p.page, "page " + p.page), " ",
        el("span", { class: "conf" + (low ? " low" : "") }, conf === null ? S.t(p.state === "done" ? "" : "OCR…", p.state === "done" ? "" : "OCR…") : conf + "%"),
        low ? el("span", { class: "conf low", title: S.t("độ tin cậy thấp", "low confidence") }, " ⚠") : ""),
      el("div", { class: "acts" },
        act("left", "◀", S.t("Chuyển lên trước", "move earlier"), () => move(doc, order, i, -1), i === 0),
        act("rotate", "↻", S.t("Xoay 90°", "rotate 90°"), () => pageEdit(doc, p.page, "rotate")),
        act("delete", "✕", S.t("Xóa trang", "delete the page"), () => pageEdit(doc, p.page, "delete")),
        act("right", "▶", S.t("Chuyển ra sau", "move later"), () => move(doc, order, i, 1), i === order.length - 1),
        act("rescan wide", L("Quét lại", "Rescan"), S.t("Quét lại trang này", "rescan this page"), () => rescan(doc, p.page))));
  }
  async function loadThumb(doc, p, box) {
    const key = doc.id + "/" + p.page + "/" + (p.sha256 || "") + "/" + (doc.updated_at || "") + "/" + (p.rotation || 0);
    try {
      if (!st.thumbs[key]) st.thumbs[key] = api.blobUrl(D() + "/documents/" + doc.id + "/pages/" + p.page + "/thumb");
      const url = await st.thumbs[key];
      box.replaceChildren(el("img", { src: url, alt: S.t("Trang ", "page ") + p.page }));
    } catch (e) {
      delete st.thumbs[key];
      box.replaceChildren(el("span", { class: "muted small" }, e.status === 404 ? S.t("chưa có ảnh", "no image") : "!"));
    }
  }
  function move(doc, order, i, by) {
    const o = order.slice();
    [o[i], o[i + by]] = [o[i + by], o[i]];
    st.orders[doc.id] = o;
    renderDocuments(true);
  }
  async function pageEdit(doc, n, what) {
    const path = D() + "/documents/" + doc.id + "/pages/" + n;
    try {
      if (what === "rotate") await api.post(path + "/rotate", { degrees: 90 });
      else {
        if (!confirm(S.t("Xóa trang " + n + "?", "Delete page " + n + "?"))) return;
        await api.del(path);
        if (st.orders[doc.id]) st.orders[doc.id] = st.orders[doc.id].filter((x) => x !== n).map((x) => x > n ? x - 1 : x);
      }
      refreshDossier();
    } catch (e) { $("#dossier-error").textContent = S.errText(e); }
  }
  async function rescan(doc, n) {
    try {
      await api.post(D() + "/scan", { document: doc.id, replace_page: n });
      $("#dossier-msg").replaceChildren(L("Đang quét lại trang " + n + "…", "scanning page " + n + " again…"));
      refreshDossier();
    } catch (e) { $("#dossier-error").textContent = S.errText(e); }
  }
  async function confirmDoc(doc, btn) {
    btn.disabled = true;
    const body = {};
    if (st.orders[doc.id]) body.order = st.orders[doc.id];
    try { await api.post(D() + "/documents/" + doc.id + "/confirm", body); delete st.orders[doc.id]; refreshDossier(); }
    catch (e) { btn.disabled = false; $("#dossier-error").textContent = S.errText(e); }
  }
  async function scan() {
    if (!st.code) return;
    const body = {};
    const name = $("#scan-name").value.trim(), paper = $("#scan-paper").value;
    if (name) body.name = name;
    else if (paper) body.name = paperName(paper);
    if (paper) body.paper = paper;
    try { await api.post(D() + "/scan", body); $("#scan-name").value = ""; refreshDossier(); }
    catch (e) { $("#dossier-error").textContent = e.code === "scanner_busy" ? S.t("Máy quét đang bận", "the scanner is busy") : S.errText(e); }
  }
  async function upload(file) {
    const paper = $("#scan-paper").value;
    const q = "?name=" + encodeURIComponent($("#scan-name").value.trim() || file.name) + (paper ? "&paper=" + encodeURIComponent(paper) : "");
    try { await api.post(D() + "/documents" + q, file); refreshDossier(); }
    catch (e) { $("#dossier-error").textContent = S.errText(e); }
  }
  // ---- receipt and status ----
  async function previewReceipt() {
    const box = $("#receipt-box");
    box.replaceChildren(L("Đang tạo…", "making it…"));
    try { box.replaceChildren(el("img", { id: "receipt-img", alt: "receipt", src: await api.blobUrl(D() + "/receipt.png?width=576") })); }
    catch (e) { box.replaceChildren(el("span", { class: "error" }, S.errText(e))); }
  }
  async function printPdf(path) {
    try {
      const url = await api.blobUrl(path);
      const f = $("#printer");
      f.onload = () => { try { f.contentWindow.focus(); f.contentWindow.print(); } catch (e) { window.open(url); } };
      f.src = url;
      window.__console.printed = path;
    } catch (e) { $("#status-msg").replaceChildren(el("span", { class: "error" }, S.errText(e))); }
  }
  async function setStatus(status) {
    const body = { status };
    const note = $("#status-note").value.trim();
    if (note) body.note = note;
    if (status === 5) body.missing = $$(".missing-paper").filter((c) => c.checked).map((c) => c.value);
    try {
      await api.post(D() + "/status", body);
      $("#status-note").value = "";
      $("#status-msg").replaceChildren(el("span", { class: "good" }, S.stateL(S.STATUS, status)));
      $("#btn-print-supplement").classList.toggle("hidden", status !== 5);
      refreshDossier();
      if (status === 10) loadQueue(); // a rating session opens at this counter
    } catch (e) { $("#status-msg").replaceChildren(el("span", { class: "error" }, S.errText(e))); }
  }

  // ---- live ----
  let follower = null, pendingQ = null, pendingD = null;
  function onEvent(type, p) {
    if (type.startsWith("ticket.") || type.startsWith("session.")) {
      if (!pendingQ) pendingQ = setTimeout(() => { pendingQ = null; loadQueue(); }, 150);
    }
    if ((type.startsWith("document.") || type.startsWith("dossier.")) && p && st.code &&
        (p.dossier_code === st.code || p.code === st.code)) {
      if (!pendingD) pendingD = setTimeout(() => { pendingD = null; refreshDossier(); }, 150);
    }
  }

  // ---- keys: single letters when not typing ----
  const KEYS = { n: "#btn-next", l: "#btn-recall", b: "#btn-start", v: "#btn-noshow", x: "#btn-done", c: "#btn-transfer", q: "#btn-scan" };
  function onKey(ev) {
    if (ev.ctrlKey || ev.altKey || ev.metaKey || $("#app").classList.contains("hidden")) return;
    const tag = (ev.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select") return;
    const k = ev.key.toLowerCase();
    if (k === "h") { ev.preventDefault(); closeDossier(); $("#proc").classList.contains("hidden") ? $("#proc-code").focus() : $("#proc").focus(); return; }
    const b = KEYS[k] && $(KEYS[k]);
    if (b && !b.disabled && !b.closest(".hidden")) { ev.preventDefault(); b.click(); }
  }

  // ---- start ----
  async function start() {
    // a machine token in the fragment (a station agent's, or the demo's) or the session signed in to
    const frag = S.fragmentToken();
    if (frag) {
      save({ token: frag, user: null });
      history.replaceState(null, "", location.pathname + location.search);
    }
    const s = saved();
    if (!s || !s.token) return showSignin();
    S.setToken(s.token);
    let who = s.user, me = null;
    try {
      me = await api.get("/api/v1/session");
      who = me.user || (me.token ? { username: me.token.name, name: me.token.name, role: me.token.role } : who);
    } catch (e) {
      if (e.status === 401) return; // onUnauthorized shows the sign-in
    }
    st.user = who;
    if (me && me.user) save({ token: s.token, user: me.user, expires_at: me.expires_at });
    st.counter = (who && who.counter) || S.param("counter") || sessionStorage.getItem("motcua.counter") || "1";
    $("#who").textContent = who ? (who.name || who.username) + (who.role ? " (" + who.role + ")" : "") : "";
    $("#counter-label").replaceChildren(L("Quầy " + st.counter, "counter " + st.counter));
    $("#signin").classList.add("hidden");
    $("#app").classList.remove("hidden");
    $("#signout").classList.remove("hidden");
    S.applyLang();
    renderTicket();
    loadServices().then(loadQueue);
    loadProcedures();
    if (follower) follower.stop();
    follower = S.follow(onEvent, (ok, err) => { S.netState(ok, err); if (ok) { loadQueue(); refreshDossier(); } });
  }
  document.addEventListener("DOMContentLoaded", () => {
    $("#signin-form").addEventListener("submit", signIn);
    $("#signout").addEventListener("click", signOut);
    $("#btn-next").addEventListener("click", () => ticketAction("next"));
    $("#btn-recall").addEventListener("click", () => ticketAction("recall"));
    $("#btn-start").addEventListener("click", () => ticketAction("start"));
    $("#btn-noshow").addEventListener("click", () => ticketAction("no-show"));
    $("#btn-done").addEventListener("click", () => ticketAction("done"));
    $("#btn-transfer").addEventListener("click", () => ticketAction("transfer"));
    $("#proc").addEventListener("change", showPapers);
    $("#cccd-file").addEventListener("change", (ev) => { const f = ev.target.files[0]; if (f) readCccd(f); ev.target.value = ""; });
    $("#btn-cccd-scan").addEventListener("click", () => readCccd(null));
    $("#btn-create").addEventListener("click", createDossier);
    $("#btn-new").addEventListener("click", closeDossier);
    $("#btn-close").addEventListener("click", closeDossier);
    $("#open-form").addEventListener("submit", (ev) => { ev.preventDefault(); const c = $("#open-code").value.trim(); if (c) openDossier(c); });
    $("#btn-scan").addEventListener("click", scan);
    $("#upload-file").addEventListener("change", (ev) => { const f = ev.target.files[0]; if (f) upload(f); ev.target.value = ""; });
    $("#btn-receipt").addEventListener("click", previewReceipt);
    $("#btn-print").addEventListener("click", () => printPdf(D() + "/receipt.pdf"));
    $("#btn-print-supplement").addEventListener("click", () => printPdf(D() + "/supplement.pdf"));
    $("#btn-supplement").addEventListener("click", () => setStatus(5));
    $("#btn-returned").addEventListener("click", () => setStatus(10));
    document.addEventListener("keydown", onKey);
    document.addEventListener("motcua:lang", () => { procOptions(); if (st.dossier) renderDossier(); });
    start();
  });
})();
