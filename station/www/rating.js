// SPDX-License-Identifier: MIT
// The rating kiosk of one counter (/station/rating?counter=N#token=...):
// three buttons, active only while a rating session is open at that counter
// (GET /api/v1/counters/{n}/rating-session, rating_session.* events); a press
// is POST /api/v1/counters/{n}/rating, and the buttons rest until the next.
"use strict";
(() => {
  const S = Station, { $, $$, L } = S;
  const counter = S.param("counter") || "";
  let open = false, pressed = false, closeTimer = null;
  const base = "/api/v1/counters/" + encodeURIComponent(counter);

  function render() {
    const active = open && !pressed;
    for (const b of $$("#levels button")) b.disabled = !active;
    document.body.dataset.open = String(open);
    if (!counter) S.setL($("#prompt"), "Thiếu số quầy (?counter=N)", "no counter given (?counter=N)");
    else if (active) S.setL($("#prompt"), "Xin mời ông/bà đánh giá cán bộ vừa phục vụ", "Please rate the service you have just had");
    else if (!pressed) S.setL($("#prompt"), "Màn hình đánh giá sẽ mở khi quầy hoàn thành phục vụ", "Rating opens when the counter finishes serving you");
  }
  async function refresh() {
    if (!counter) return render();
    try {
      const s = await S.api.get(base + "/rating-session");
      const wasOpen = open;
      open = !!s.open;
      if (open && !wasOpen) { pressed = false; $("#thanks").textContent = ""; }
      clearTimeout(closeTimer);
      if (open && s.expires_at) {
        const ms = Date.parse(s.expires_at) - Date.now();
        if (ms > 0) closeTimer = setTimeout(refresh, ms + 500);
      }
      $("#error").textContent = "";
    } catch (e) {
      open = false;
      $("#error").textContent = S.errText(e);
    }
    render();
  }
  async function rate(level) {
    if (!open || pressed) return;
    pressed = true;
    render();
    try {
      await S.api.post(base + "/rating", { level });
      S.setL($("#thanks"), "Cảm ơn ông/bà đã đánh giá!", "Thank you for your rating!");
    } catch (e) {
      pressed = false;
      $("#error").textContent = S.errText(e);
      render();
    }
  }
  document.addEventListener("DOMContentLoaded", () => {
    $("#counter-name").replaceChildren(L("Quầy " + counter, "Counter " + counter));
    for (const b of $$("#levels button")) b.addEventListener("click", () => rate(Number(b.dataset.level)));
    render();
    refresh();
    S.follow((type, p) => {
      if (type.startsWith("rating_session.") && (!p || String(p.counter) === counter)) refresh();
    }, (ok, err) => { S.netState(ok, err); if (ok) refresh(); });
  });
})();
