// edge-master's dashboard: one SVG line chart, used by a node's history (app.js) and
// the cluster's top-5 trends (trend.js). The svg and its paths persist; new data only
// changes their attributes, so a refresh under the pointer keeps the tooltip.
(function () {
  'use strict';

  var F = window.EdgeFormat;
  var SVG_NS = 'http://www.w3.org/2000/svg';
  var W = 640;
  var H = 240;
  var M = { left: 38, right: 12, top: 10, bottom: 24 };

  function svgEl(name, attrs) {
    var node = document.createElementNS(SVG_NS, name);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    return node;
  }

  function fmt(n) {
    return (Math.round(n * 10) / 10).toString();
  }

  // options: svgClass, ariaLabel, top(maxValue) → the y-axis' top.
  // setData(series, start, end): series = [{ key, label, cls?, colour?, text(v),
  // points: [{ t, v }] ascending }]; start/end in ms (null: from the points).
  function create(container, options) {
    var svg = svgEl('svg', {
      class: 'line-chart ' + options.svgClass,
      viewBox: '0 0 ' + W + ' ' + H,
      role: 'img',
      'aria-label': options.ariaLabel
    });
    var grid = svgEl('g', { class: 'grid-lines' });
    var axis = svgEl('g', { class: 'axis' });
    var lines = svgEl('g', { class: 'lines' });
    var hoverLine = svgEl('line', { class: 'hover-line', y1: M.top, y2: H - M.bottom, visibility: 'hidden' });
    var dotLayer = svgEl('g', { class: 'dots' });
    svg.appendChild(grid);
    svg.appendChild(axis);
    svg.appendChild(lines);
    svg.appendChild(hoverLine);
    svg.appendChild(dotLayer);
    var tooltip = document.createElement('div');
    tooltip.className = 'chart-tooltip';
    tooltip.hidden = true;
    container.appendChild(svg);
    container.appendChild(tooltip);

    var drawn = []; // { s, path, dot, points: [{ t, v, x, y }] }
    var times = []; // every x with its time, ascending
    var hoverX = null; // in viewBox units while the pointer is over the chart

    function style(el, s) {
      el.setAttribute('class', el.getAttribute('data-base') + (s.cls ? ' ' + s.cls : ''));
      if (s.colour) {
        el.style.stroke = s.colour;
        el.style.fill = el.tagName === 'path' ? 'none' : s.colour;
      }
    }

    // One path and hover dot per series, reused while the series' key stays.
    function layers(series) {
      var byKey = new Map();
      drawn.forEach(function (d) { byKey.set(d.s.key, d); });
      var next = series.map(function (s) {
        var d = byKey.get(s.key);
        if (!d) {
          d = {
            path: svgEl('path', { 'data-base': 'series', fill: 'none' }),
            dot: svgEl('circle', { 'data-base': 'hover-dot', r: 3, visibility: 'hidden' })
          };
        }
        byKey.delete(s.key);
        d.s = s;
        d.path.setAttribute('data-series', s.key);
        style(d.path, s);
        style(d.dot, s);
        return d;
      });
      byKey.forEach(function (d) {
        d.path.remove();
        d.dot.remove();
      });
      lines.replaceChildren.apply(lines, next.map(function (d) { return d.path; }));
      dotLayer.replaceChildren.apply(dotLayer, next.map(function (d) { return d.dot; }));
      return next;
    }

    function setData(series, start, end) {
      var first = Infinity;
      var last = -Infinity;
      var max = 0;
      series.forEach(function (s) {
        s.points.forEach(function (p) {
          first = Math.min(first, p.t);
          last = Math.max(last, p.t);
          max = Math.max(max, p.v);
        });
      });
      if (end === null) end = isFinite(last) ? last : Date.now();
      if (start === null) start = isFinite(first) ? first : end - 3600 * 1000;
      if (isFinite(first)) start = Math.min(start, first);
      if (isFinite(last)) end = Math.max(end, last);
      if (end <= start) end = start + 1000;
      var top = options.top(max);
      var plotW = W - M.left - M.right;
      var plotH = H - M.top - M.bottom;
      var x = function (t) { return M.left + (t - start) / (end - start) * plotW; };
      var y = function (v) { return M.top + (1 - Math.max(0, Math.min(v, top)) / top) * plotH; };

      drawn = layers(series);
      var allTimes = new Map();
      drawn.forEach(function (d) {
        d.points = d.s.points.map(function (p) {
          var px = x(p.t);
          allTimes.set(p.t, px);
          return { t: p.t, v: p.v, x: px, y: y(p.v) };
        });
        d.path.setAttribute('d', pathOf(d.points));
      });
      times = Array.from(allTimes, function (e) { return { t: e[0], x: e[1] }; })
        .sort(function (a, b) { return a.t - b.t; });

      grid.replaceChildren();
      axis.replaceChildren();
      for (var k = 0; k <= 4; k += 1) {
        var value = top * k / 4;
        var gy = y(value);
        grid.appendChild(svgEl('line', { x1: M.left, x2: W - M.right, y1: fmt(gy), y2: fmt(gy) }));
        var label = svgEl('text', { x: M.left - 4, y: fmt(gy + 4), 'text-anchor': 'end' });
        label.textContent = String(Math.round(value));
        axis.appendChild(label);
      }
      var long = end - start > 36 * 3600 * 1000;
      for (var m = 0; m <= 4; m += 1) {
        var t = start + (end - start) * m / 4;
        var date = new Date(t);
        var text = svgEl('text', {
          x: fmt(x(t)),
          y: H - 6,
          'text-anchor': m === 0 ? 'start' : m === 4 ? 'end' : 'middle'
        });
        text.textContent = long
          ? F.pad(date.getMonth() + 1) + '-' + F.pad(date.getDate()) + ' ' + F.pad(date.getHours()) + 'h'
          : F.pad(date.getHours()) + ':' + F.pad(date.getMinutes());
        axis.appendChild(text);
      }
      if (hoverX !== null) showAt(hoverX);
      else hide();
    }

    // The line, broken where points are missing (the master was down): a step over
    // five times the usual one. A lone point is a short dash, so that it shows.
    function pathOf(points) {
      var steps = [];
      for (var i = 1; i < points.length; i += 1) steps.push(points[i].t - points[i - 1].t);
      steps.sort(function (a, b) { return a - b; });
      var gap = steps.length ? Math.max(steps[Math.floor(steps.length / 2)] * 5, 1000) : Infinity;
      var d = '';
      var segment = [];
      var flush = function () {
        if (segment.length === 1) {
          var p = segment[0];
          d += 'M' + fmt(Math.max(M.left, p.x - 3)) + ' ' + fmt(p.y) +
            'L' + fmt(Math.min(W - M.right, p.x + 3)) + ' ' + fmt(p.y);
        } else {
          segment.forEach(function (q, j) {
            d += (j ? 'L' : 'M') + fmt(q.x) + ' ' + fmt(q.y);
          });
        }
        segment = [];
      };
      points.forEach(function (p, j) {
        if (j > 0 && p.t - points[j - 1].t > gap) flush();
        segment.push(p);
      });
      if (segment.length) flush();
      return d;
    }

    function hide() {
      tooltip.hidden = true;
      hoverLine.setAttribute('visibility', 'hidden');
      drawn.forEach(function (d) { d.dot.setAttribute('visibility', 'hidden'); });
    }

    function showAt(vx) {
      if (!times.length) {
        hide();
        return;
      }
      var best = times[0];
      times.forEach(function (p) {
        if (Math.abs(p.x - vx) < Math.abs(best.x - vx)) best = p;
      });
      hoverLine.setAttribute('x1', fmt(best.x));
      hoverLine.setAttribute('x2', fmt(best.x));
      hoverLine.setAttribute('visibility', 'visible');
      var rows = [];
      drawn.forEach(function (d) {
        var at = null;
        for (var i = 0; i < d.points.length && at === null; i += 1) {
          if (d.points[i].t === best.t) at = d.points[i];
        }
        if (at === null) {
          d.dot.setAttribute('visibility', 'hidden');
          return;
        }
        d.dot.setAttribute('cx', fmt(at.x));
        d.dot.setAttribute('cy', fmt(at.y));
        d.dot.setAttribute('visibility', 'visible');
        var swatch = d.s.colour ? ' style="background:' + F.esc(d.s.colour) + '"' : '';
        rows.push('<div class="tip-row' + (d.s.cls ? ' ' + F.esc(d.s.cls) : '') + '" data-series="' +
          F.esc(d.s.key) + '"><i' + swatch + '></i>' + F.esc(d.s.label) + ' <b>' + F.esc(d.s.text(at.v)) +
          '</b></div>');
      });
      tooltip.innerHTML = '<div class="tip-time">' + F.esc(F.dateTime(new Date(best.t))) + '</div>' +
        rows.join('');
      tooltip.hidden = false;
      var rect = svg.getBoundingClientRect();
      var px = rect.width ? best.x / W * rect.width : 0;
      var onRight = best.x > W / 2;
      tooltip.style.left = onRight ? '' : (px + 12) + 'px';
      tooltip.style.right = onRight ? (rect.width - px + 12) + 'px' : '';
    }

    function onMove(event) {
      var rect = svg.getBoundingClientRect();
      var clientX = event.touches && event.touches.length ? event.touches[0].clientX : event.clientX;
      hoverX = rect.width ? (F.num(clientX) - rect.left) / rect.width * W : M.left;
      showAt(hoverX);
    }

    function onLeave() {
      hoverX = null;
      hide();
    }

    ['mousemove', 'pointermove', 'mouseover'].forEach(function (type) {
      svg.addEventListener(type, onMove);
    });
    svg.addEventListener('touchstart', onMove, { passive: true });
    svg.addEventListener('mouseleave', onLeave);
    svg.addEventListener('pointerleave', onLeave);

    return {
      setData: setData,
      hasData: function () { return times.length > 0; }
    };
  }

  window.EdgeChart = { create: create };
}());
