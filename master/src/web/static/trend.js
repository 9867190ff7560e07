// edge-master's dashboard: the cluster's "top 5 nodes" trend charts, as atlhyper's
// console draws them: for CPU, memory, disk and CPU temperature, the five online nodes
// with the highest current value, each drawn from its history over the chosen window
// (1h/6h/1d/7d), averaged into epoch-aligned buckets whose width each chart chooses
// (three buttons per window; by default the widest that still gives three buckets).
// Shown only when the cluster has more than one node.
//
// Unlike atlhyper's console, history is not fetched again at every refresh: a node's
// history is kept for the window and fetched again once older than MAX_AGE(window),
// or when the window changes; at most PARALLEL requests run at once.
(function () {
  'use strict';

  var F = window.EdgeFormat;
  var TOP_N = 5;
  var PARALLEL = 4;
  var MIN_BUCKETS = 3;
  var WINDOWS = [
    { hours: 1, label: '1h', intervals: [60, 300, 900] },
    { hours: 6, label: '6h', intervals: [300, 900, 1800] },
    { hours: 24, label: '1d', intervals: [900, 3600, 10800] },
    { hours: 168, label: '7d', intervals: [3600, 21600, 86400] }
  ];
  var DEFAULT_HOURS = 1;
  // Distinct on white and for the common colour-blindnesses (Okabe–Ito).
  var COLOURS = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00'];

  // How long a fetched history stays good: 30 s for 1h, then a 120th of the window.
  function maxAge(hours) {
    return Math.max(30000, hours * 3600 * 1000 / 120);
  }

  function intervalLabel(seconds) {
    if (seconds % 86400 === 0) return seconds / 86400 + 'd';
    if (seconds % 3600 === 0) return seconds / 3600 + 'h';
    return seconds / 60 + 'm';
  }

  // The widest interval giving at least MIN_BUCKETS epoch-aligned buckets over
  // [first, last] (ms); the narrowest when none does.
  function autoInterval(intervals, first, last) {
    for (var i = intervals.length - 1; i >= 0; i -= 1) {
      var ms = intervals[i] * 1000;
      if (Math.floor(last / ms) - Math.floor(first / ms) + 1 >= MIN_BUCKETS) return intervals[i];
    }
    return intervals[0];
  }

  // Means of `points` ([{t, v}] ascending) per bucket of `seconds`, at the bucket's
  // centre.
  function buckets(points, seconds) {
    var ms = seconds * 1000;
    var out = [];
    var start = null;
    var sum = 0;
    var n = 0;
    points.forEach(function (p) {
      var b = Math.floor(p.t / ms) * ms;
      if (b !== start) {
        if (n) out.push({ t: start + ms / 2, v: sum / n });
        start = b;
        sum = 0;
        n = 0;
      }
      sum += p.v;
      n += 1;
    });
    if (n) out.push({ t: start + ms / 2, v: sum / n });
    return out;
  }

  // options: section (the <section>), metrics ([{key, label, unit, current(node)}]),
  // history(name, hours) → Promise of [{t, values: {key: v}}] ascending.
  function create(options) {
    var section = options.section;
    var state = {
      hours: DEFAULT_HOURS,
      cache: new Map(), // node name → { hours, fetched, points, error }
      loading: new Set(),
      queue: [],
      running: 0,
      tops: {}, // metric key → [{ name, value }]
      online: 0,
      errors: new Map()
    };
    var status = section.querySelector('.trend-status');
    var windows = section.querySelector('.trend-windows');
    windows.innerHTML = WINDOWS.map(function (w) {
      return '<button type="button" data-hours="' + w.hours + '">' + w.label + '</button>';
    }).join('');
    windows.querySelectorAll('button').forEach(function (button) {
      button.addEventListener('click', function () {
        var hours = parseInt(button.getAttribute('data-hours'), 10);
        if (hours === state.hours) return;
        state.hours = hours;
        charts.forEach(function (c) { c.manual = null; });
        state.cache.clear();
        state.errors.clear();
        markWindow();
        fetchWanted();
        draw();
      });
    });

    var grid = section.querySelector('.trend-grid');
    var charts = options.metrics.map(function (metric) {
      var box = document.createElement('div');
      box.className = 'trend panel';
      box.setAttribute('data-metric', metric.key);
      box.innerHTML = '<div class="trend-head"><h3>' + F.esc(metric.label) + ' · top ' + TOP_N +
        '</h3><div class="trend-intervals" role="group" aria-label="Interval"></div></div>' +
        '<div class="chart-wrap"></div><div class="legend trend-legend"></div>' +
        '<div class="chart-status"></div>';
      grid.appendChild(box);
      var chart = {
        metric: metric,
        box: box,
        manual: null, // a clicked interval, until the window changes
        shown: null,
        intervals: box.querySelector('.trend-intervals'),
        legend: box.querySelector('.trend-legend'),
        note: box.querySelector('.chart-status'),
        plot: window.EdgeChart.create(box.querySelector('.chart-wrap'), {
          svgClass: 'trend-chart',
          ariaLabel: metric.label + ': top ' + TOP_N + ' nodes',
          top: function (max) { return Math.max(10, Math.ceil(1.2 * max)); }
        })
      };
      chart.intervals.addEventListener('click', function (event) {
        var button = event.target.closest('button[data-interval]');
        if (!button) return;
        chart.manual = parseInt(button.getAttribute('data-interval'), 10);
        drawChart(chart);
      });
      return chart;
    });

    function windowOf(hours) {
      return WINDOWS.filter(function (w) { return w.hours === hours; })[0] || WINDOWS[0];
    }

    function markWindow() {
      windows.querySelectorAll('button').forEach(function (button) {
        var active = parseInt(button.getAttribute('data-hours'), 10) === state.hours;
        button.classList.toggle('active', active);
        button.setAttribute('aria-pressed', String(active));
      });
    }

    // ---------- ranking and fetching ----------

    function update(nodes) {
      var online = nodes.filter(function (n) { return n.status === 'online'; });
      state.online = online.length;
      section.hidden = nodes.length <= 1;
      if (section.hidden) return;
      charts.forEach(function (chart) {
        var ranked = [];
        online.forEach(function (node) {
          var value = chart.metric.current(node);
          if (value !== null) ranked.push({ name: node.node_name, value: value });
        });
        ranked.sort(function (a, b) {
          return b.value - a.value || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
        });
        state.tops[chart.metric.key] = ranked.slice(0, TOP_N);
      });
      fetchWanted();
      draw();
    }

    function wantedNames() {
      var names = new Set();
      charts.forEach(function (chart) {
        (state.tops[chart.metric.key] || []).forEach(function (top) { names.add(top.name); });
      });
      return names;
    }

    function fetchWanted() {
      var now = Date.now();
      var wanted = wantedNames();
      // Only the histories of nodes still in a top 5 are kept.
      state.cache.forEach(function (cached, name) {
        if (!wanted.has(name)) state.cache.delete(name);
      });
      wanted.forEach(function (name) {
        var cached = state.cache.get(name);
        var fresh = cached && cached.hours === state.hours && now - cached.fetched < maxAge(state.hours);
        if (fresh || state.loading.has(name)) return;
        state.loading.add(name);
        state.queue.push(name);
      });
      pump();
      showStatus();
    }

    function pump() {
      while (state.running < PARALLEL && state.queue.length) {
        load(state.queue.shift(), state.hours);
      }
    }

    async function load(name, hours) {
      state.running += 1;
      try {
        var points = await options.history(name, hours);
        if (hours === state.hours) {
          state.cache.set(name, { hours: hours, fetched: Date.now(), points: points });
          state.errors.delete(name);
        }
      } catch (error) {
        if (hours === state.hours) state.errors.set(name, error && error.message ? error.message : String(error));
      } finally {
        state.running -= 1;
        state.loading.delete(name);
        pump();
        if (hours === state.hours) {
          draw();
          showStatus();
        }
      }
    }

    function showStatus() {
      var notes = [];
      if (state.loading.size) notes.push('Loading the history of ' + state.loading.size + ' node(s)…');
      state.errors.forEach(function (message, name) {
        notes.push('History of ' + name + ' unavailable: ' + message);
      });
      status.textContent = notes.join(' ');
      section.setAttribute('data-loading', String(state.loading.size));
    }

    // ---------- drawing ----------

    function draw() {
      if (section.hidden) return;
      charts.forEach(drawChart);
    }

    function drawChart(chart) {
      var key = chart.metric.key;
      var tops = state.tops[key] || [];
      var now = Date.now();
      var from = now - state.hours * 3600 * 1000;
      var first = Infinity;
      var last = -Infinity;
      var raw = tops.map(function (top) {
        var cached = state.cache.get(top.name);
        var points = [];
        if (cached && cached.hours === state.hours) {
          cached.points.forEach(function (p) {
            var v = p.values[key];
            if (p.t >= from && v !== undefined) points.push({ t: p.t, v: v });
          });
        }
        if (points.length) {
          first = Math.min(first, points[0].t);
          last = Math.max(last, points[points.length - 1].t);
        }
        return points;
      });
      var choices = windowOf(state.hours).intervals;
      var interval = chart.manual || (isFinite(first) ? autoInterval(choices, first, last) : choices[0]);
      chart.shown = interval;
      var series = tops.map(function (top, i) {
        return {
          key: top.name,
          label: top.name,
          colour: COLOURS[i % COLOURS.length],
          text: function (v) { return F.fixed1(v) + chart.metric.unit; },
          // A bucket still filling is centred after now: drawn at now.
          points: buckets(raw[i], interval).map(function (p) { return { t: Math.min(p.t, now), v: p.v }; })
        };
      });
      var start = null;
      series.forEach(function (s) {
        if (s.points.length) start = start === null ? s.points[0].t : Math.min(start, s.points[0].t);
      });
      chart.plot.setData(series, start === null ? from : start, now);

      chart.intervals.innerHTML = choices.map(function (seconds) {
        var active = seconds === interval;
        return '<button type="button" data-interval="' + seconds + '" class="' + (active ? 'active' : '') +
          '" aria-pressed="' + active + '"' + (active && !chart.manual ? ' data-auto="true" title="chosen for the data"' : '') +
          '>' + intervalLabel(seconds) + '</button>';
      }).join('');
      chart.legend.innerHTML = tops.map(function (top, i) {
        return '<span class="legend-item" data-node="' + F.esc(top.name) + '"><i style="background:' +
          COLOURS[i % COLOURS.length] + '"></i>' + F.esc(top.name) + ' <b>' +
          F.esc(F.fixed1(top.value) + chart.metric.unit) + '</b></span>';
      }).join('');
      var drawnPoints = series.some(function (s) { return s.points.length > 0; });
      chart.note.textContent = !tops.length ? 'No online node reports this.'
        : drawnPoints ? '' : state.loading.size ? 'Loading…' : 'No history in this window yet.';
      chart.box.setAttribute('data-interval', String(interval));
    }

    markWindow();
    return { update: update };
  }

  window.EdgeTrend = { create: create, autoInterval: autoInterval, buckets: buckets, WINDOWS: WINDOWS };
}());
