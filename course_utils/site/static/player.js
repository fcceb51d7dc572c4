/* The course site's explorers without a kernel: swap pre-rendered frames as a control moves.
 *
 * Each <figure class="cu-player"> holds plain HTML controls, one <img>, a readout and a JSON
 * manifest (course_utils/site/frames.py): frames by key "i.j.k" (each control's position), with
 * [image file, readout index, alt text, hidden controls, disabled controls]. A setting that was not
 * rendered moves the other controls to the nearest rendered one and says so. Frames load on demand;
 * the neighbours of the current frame are fetched and decoded ahead, so a step shows at once.
 * After each swap the figure fires "cu-frame" with {key, ms}: ms from the input event to the new
 * frame complete in the <img>.
 */
(function () {
  "use strict";
  var AHEAD = 2;      // positions fetched ahead on each side of every control
  var KEEP = 96;      // decoded frames kept per player

  function Player(root) {
    var m = JSON.parse(root.querySelector("script.cu-manifest").textContent);
    var img = root.querySelector("img.cu-img");
    var readout = root.querySelector(".cu-readout");
    var status = root.querySelector(".cu-status");
    var controls = m.controls.filter(function (c) { return c.kind !== "button"; });
    var keys = Object.keys(m.frames);
    var parsed = keys.map(function (k) { return k.split(".").map(Number); });
    var cache = new Map();
    var state = controls.map(function (c) { return c.default; });

    function box(c) { return root.querySelector('[data-control="' + c.name + '"]'); }
    function read(c) {
      var el = box(c);
      if (c.kind === "checkbox") return el.querySelector("input").checked ? 1 : 0;
      if (c.kind === "radio") return Number(el.querySelector("input:checked").value);
      return Number(el.querySelector("input, select").value);
    }
    function write(c, i) {
      var el = box(c);
      if (c.kind === "checkbox") el.querySelector("input").checked = i === 1;
      else if (c.kind === "radio") el.querySelectorAll("input")[i].checked = true;
      else el.querySelector("input, select").value = String(i);
      var out = el.querySelector("output");
      if (out) {
        out.textContent = c.labels[i];
        el.querySelector("input").setAttribute("aria-valuetext", c.labels[i]);
      }
    }
    function url(key) { return m.base + m.frames[key][0]; }
    function fetchAhead(key) {  // a promise of the frame loaded (kept: setting src again is instant)
      var src = url(key), ready = cache.get(src);
      if (!ready) {
        var im = new Image();
        ready = new Promise(function (done) { im.onload = im.onerror = done; });
        ready.im = im;
        im.src = src;
        cache.set(src, ready);
        if (cache.size > KEEP) cache.delete(cache.keys().next().value);
      }
      return ready;
    }
    function nearest(moved, wanted) {  // the rendered setting closest to `wanted` that keeps the move
      var best = -1, bestCost = Infinity;
      parsed.forEach(function (p, n) {
        if (p[moved] !== wanted[moved]) return;
        var cost = 0;
        for (var i = 0; i < p.length; i++) {
          if (p[i] !== wanted[i]) cost += 1000 + Math.abs(p[i] - wanted[i]);
        }
        if (cost < bestCost) { bestCost = cost; best = n; }
      });
      return best < 0 ? null : parsed[best];
    }
    function ahead() {  // the neighbours of the current frame and both ends of every control
      controls.forEach(function (c, i) {
        var last = c.labels.length - 1, near = [0, last];
        for (var d = -AHEAD; d <= AHEAD; d++) near.push(state[i] + d);
        near.forEach(function (j) {
          var s = state.slice();
          s[i] = j;
          var k = s.join(".");
          if (j !== state[i] && m.frames[k]) fetchAhead(k);
        });
      });
    }
    function show(next, t0, moved) {
      var key = next.join("."), f = m.frames[key];
      var changed = [];
      controls.forEach(function (c, i) {
        if (next[i] !== state[i] && i !== moved) changed.push(c.label + " → " + c.labels[next[i]]);
        if (next[i] !== read(c)) write(c, next[i]);
      });
      state = next;
      var hidden = f[3] || [], disabled = f[4] || [];
      m.controls.forEach(function (c) {
        var el = box(c);
        el.hidden = hidden.indexOf(c.name) >= 0;
        if (c.kind !== "button") {
          el.querySelectorAll("input, select").forEach(function (x) {
            x.disabled = disabled.indexOf(c.name) >= 0;
          });
        }
      });
      var src = url(key);
      fetchAhead(key).then(function () {
        if (state.join(".") !== key) return;  // a later move won
        img.src = src;
        img.alt = f[2];
        readout.innerHTML = m.readouts[f[1]];
        focusable();
        var shown = function () {
          root.dispatchEvent(new CustomEvent("cu-frame", {detail: {key: key, ms: performance.now() - t0}}));
        };
        if (img.complete) shown();
        else img.addEventListener("load", shown, {once: true});
      });
      status.textContent = changed.length ? m.nearest.replace("{changed}", changed.join(", ")) : "";
      ahead();
    }
    function onMove(ev) {
      var i = controls.findIndex(function (c) { return box(c).contains(ev.target); });
      if (i < 0) return;
      var wanted = state.slice();
      wanted[i] = read(controls[i]);
      var next = m.frames[wanted.join(".")] ? wanted : nearest(i, wanted);
      if (next) show(next, ev.timeStamp || performance.now(), i);
      else write(controls[i], state[i]);
    }
    root.addEventListener("input", onMove);  // ranges, drop-downs, radios and check boxes alike
    var warmed = false, warm = function () { if (!warmed) { warmed = true; ahead(); } };
    root.addEventListener("focusin", warm);
    root.addEventListener("pointerenter", warm);
    if (window.IntersectionObserver) {  // fetch ahead once the player is on screen, not before
      new IntersectionObserver(function (seen, obs) {
        if (seen.some(function (e) { return e.isIntersecting; })) { warm(); obs.disconnect(); }
      }).observe(root);
    }
  }

  function focusable() {  // a table or output that scrolls sideways can be scrolled by keyboard too
    document.querySelectorAll(".cell_output .output, .cell_output table, .cu-readout table")
      .forEach(function (el) { if (el.scrollWidth > el.clientWidth) el.tabIndex = 0; });
  }
  function start() {
    focusable();
    document.querySelectorAll("figure.cu-player").forEach(function (root) {
      if (!root.cuPlayer) root.cuPlayer = new Player(root);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
