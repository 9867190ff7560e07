// edge-master's dashboard: reads the node-metrics API of this master and draws the
// cluster overview, one row per node, and on demand a node's details and history.
// No framework, no build step: the file is served as is.
(function () {
  'use strict';

  var RANGES = [
    { hours: 1, label: '1h' },
    { hours: 6, label: '6h' },
    { hours: 24, label: '24h' },
    { hours: 168, label: '7d' },
    { hours: 720, label: '30d' }
  ];
  var DEFAULT_HOURS = 1;
  var SERIES = [
    { key: 'cpu', field: 'cpu_usage', label: 'CPU', unit: '%' },
    { key: 'memory', field: 'memory_usage', label: 'Memory', unit: '%' },
    { key: 'disk', field: 'disk_usage', label: 'Disk', unit: '%' },
    { key: 'temp', field: 'cpu_temp', label: 'CPU temp', unit: '°C' }
  ];
  var SORT_FIELDS = { cpu: 'cpu_percent', memory: 'mem_percent', rss: 'mem_rss', pid: 'pid' };
  var NODE_COLUMNS = 7;
  // Node rows made at first, and added per "show more" (or scroll to the list's end).
  var ROW_BATCH = 100;
  // Warning nodes named on their card; the rest are counted.
  var WARNING_NAMES = 8;
  var FETCH_TIMEOUT_MS = 10000;
  // The read token (--api.read-token), kept for this tab only.
  var TOKEN_KEY = 'edge-master.read-token';

  var body = document.body;
  var params = new URLSearchParams(window.location.search);
  var injectedCluster = body.getAttribute('data-cluster') || '';
  // An empty data-cluster: the master needs a token and sent no data; the cluster is
  // the first of /api/v2/clusters, read once the page has the token.
  var cluster = params.get('cluster') ||
    (injectedCluster === '__CLUSTER_ID__' ? 'default' : injectedCluster) || null;
  var maxHours = parseInt(body.getAttribute('data-max-hours'), 10);
  if (!(maxHours > 0)) maxHours = 720;

  var el = {
    lastUpdated: document.getElementById('last-updated'),
    refresh: document.getElementById('refresh'),
    interval: document.getElementById('refresh-interval'),
    banner: document.getElementById('error-banner'),
    nodes: document.getElementById('nodes'),
    clusterName: document.getElementById('cluster-name'),
    nodeFilter: document.getElementById('node-filter'),
    nodeCount: document.getElementById('node-count'),
    trends: document.getElementById('trends'),
    login: document.getElementById('login'),
    loginToken: document.getElementById('login-token'),
    loginError: document.getElementById('login-error')
  };
  var emptyRow = document.createElement('tr');
  emptyRow.className = 'empty';
  emptyRow.innerHTML = '<td colspan="' + NODE_COLUMNS + '">No nodes have reported yet.</td>';
  var moreRow = document.createElement('tr');
  moreRow.className = 'more-rows';
  moreRow.innerHTML = '<td colspan="' + NODE_COLUMNS + '"><span></span>' +
    '<button type="button" class="show-more">Show ' + ROW_BATCH + ' more</button></td>';

  var state = {
    lastUpdated: null,
    refreshes: 0,
    inFlight: false,
    again: false,
    timer: null,
    needsLogin: false,
    token: '',
    measuredFirst: false,
    nodes: [], // the last list, normalized
    rowLimit: ROW_BATCH,
    filter: '',
    views: new Map() // node name → its row, detail and page state
  };

  // ---------- formatting (format.js) ----------

  var F = window.EdgeFormat;
  var num = F.num;
  var esc = F.esc;
  var pct = F.pct;
  var celsius = F.celsius;
  var bytes = F.bytes;
  var rate = F.rate;
  var duration = F.duration;
  var clock = F.clock;
  var dateTime = F.dateTime;
  var parseTime = F.parseTime;
  var usageLevel = F.usageLevel;
  var tempLevel = F.tempLevel;
  var clampPct = F.clampPct;

  function frequency(mhz) {
    var n = num(mhz);
    if (n <= 0) return 'N/A';
    return n >= 1000 ? (n / 1000).toFixed(2) + ' GHz' : n.toFixed(0) + ' MHz';
  }

  function linkSpeed(mbps) {
    var n = num(mbps);
    if (n <= 0) return 'unknown';
    return n >= 1000 ? (n / 1000) + ' Gb/s' : n + ' Mb/s';
  }

  function ago(text) {
    var t = parseTime(text);
    if (t === null) return 'never';
    var s = Math.round((Date.now() - t) / 1000);
    if (s < 2) return 'just now';
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    if (s < 86400) return Math.floor(s / 3600) + ' h ago';
    return Math.floor(s / 86400) + ' d ago';
  }

  function bar(percent, level) {
    return '<span class="meter"><span class="meter-fill ' + (level || '') +
      '" style="width:' + clampPct(percent).toFixed(1) + '%"></span></span>';
  }

  // ---------- the snapshot, as the page reads it ----------

  // Fills what a pushed snapshot may lack, so the rest can read without checks.
  function normalize(node) {
    node = node && typeof node === 'object' ? node : {};
    node.node_name = String(node.node_name === undefined ? '' : node.node_name);
    node.cpu = node.cpu && typeof node.cpu === 'object' ? node.cpu : {};
    node.cpu.per_core = Array.isArray(node.cpu.per_core) ? node.cpu.per_core : [];
    node.memory = node.memory && typeof node.memory === 'object' ? node.memory : {};
    node.temperature = node.temperature && typeof node.temperature === 'object' ? node.temperature : {};
    node.temperature.sensors = Array.isArray(node.temperature.sensors) ? node.temperature.sensors : [];
    ['psi', 'tcp', 'system', 'vmstat', 'softnet'].forEach(function (key) {
      node[key] = node[key] && typeof node[key] === 'object' ? node[key] : {};
    });
    ['disks', 'networks', 'processes'].forEach(function (key) {
      node[key] = Array.isArray(node[key]) ? node[key] : [];
    });
    return node;
  }

  function hasTemperature(node) {
    return num(node.temperature.cpu_temp) > 0;
  }

  // The one mounted at "/", else the first (as the API picks it).
  function primaryDisk(node) {
    for (var i = 0; i < node.disks.length; i += 1) {
      if (node.disks[i] && node.disks[i].mount_point === '/') return node.disks[i];
    }
    return node.disks[0] || null;
  }

  // ---------- fetching ----------

  function apiBase() {
    return '/api/v2/clusters/' + encodeURIComponent(cluster) + '/node-metrics';
  }

  function readToken() {
    try {
      return window.sessionStorage.getItem(TOKEN_KEY) || '';
    } catch (ignored) {
      return '';
    }
  }

  function storeToken(token) {
    try {
      if (token) window.sessionStorage.setItem(TOKEN_KEY, token);
      else window.sessionStorage.removeItem(TOKEN_KEY);
    } catch (ignored) {
      // No storage (a private mode): the token lives until the page is left.
    }
    state.token = token;
  }

  function showLogin(message) {
    state.needsLogin = true;
    clearTimeout(state.timer);
    el.login.hidden = false;
    el.loginError.textContent = message || '';
    body.setAttribute('data-state', 'login');
    el.loginToken.focus();
  }

  // `timing.bodyAt`: when the body had arrived (performance.now()), if given.
  async function fetchJSON(url, timing) {
    var controller = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, FETCH_TIMEOUT_MS) : null;
    var headers = { Accept: 'application/json' };
    var token = state.token || readToken();
    if (token) headers.Authorization = 'Bearer ' + token;
    try {
      var response;
      try {
        response = await fetch(url, {
          headers: headers,
          cache: 'no-store',
          signal: controller ? controller.signal : undefined
        });
      } catch (error) {
        throw new Error(error && error.name === 'AbortError'
          ? 'the server did not answer in time'
          : 'cannot reach the server');
      }
      var text = await response.text();
      if (timing) timing.bodyAt = performance.now();
      var json = null;
      try {
        json = text ? JSON.parse(text) : null;
      } catch (ignored) {
        json = null;
      }
      if (!response.ok) {
        var message = json && typeof json.error === 'string' ? json.error : response.statusText;
        if (response.status === 401) {
          showLogin(token ? 'The token was refused.' : '');
        }
        throw new Error('HTTP ' + response.status + (message ? ': ' + message : ''));
      }
      if (!json || typeof json !== 'object') throw new Error('the server did not answer JSON');
      return json;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  // The cluster to show, read from the API when the page was not told it.
  async function resolveCluster() {
    if (cluster) return cluster;
    var data = await fetchJSON('/api/v2/clusters');
    var first = Array.isArray(data.clusters) && data.clusters[0];
    var id = first && (first.cluster_id || first.clusterId);
    if (typeof id !== 'string' || !id) throw new Error('the server lists no cluster');
    cluster = id;
    showCluster();
    return cluster;
  }

  function showCluster() {
    el.clusterName.textContent = cluster || '';
    document.title = 'Node metrics' + (cluster ? ' · ' + cluster : '');
  }

  function errorText(error) {
    return error && error.message ? error.message : String(error);
  }

  async function refresh() {
    if (state.inFlight) {
      state.again = true;
      return;
    }
    state.inFlight = true;
    clearTimeout(state.timer);
    try {
      await resolveCluster();
      var timing = {};
      var data = await fetchJSON(apiBase(), timing);
      if (!data.summary || typeof data.summary !== 'object' || !Array.isArray(data.nodes)) {
        throw new Error('unexpected answer from the server');
      }
      var nodes = data.nodes.map(normalize);
      renderCards(data.summary);
      renderNodes(nodes);
      trend.update(nodes);
      measureRefresh(timing.bodyAt);
      state.lastUpdated = new Date();
      state.refreshes += 1;
      el.lastUpdated.textContent = 'Last updated ' + clock(state.lastUpdated);
      el.lastUpdated.setAttribute('datetime', state.lastUpdated.toISOString());
      el.lastUpdated.setAttribute('data-refreshes', String(state.refreshes));
      el.banner.hidden = true;
      el.banner.textContent = '';
      body.setAttribute('data-state', 'ok');
      state.views.forEach(function (view) {
        if (view.expanded && !view.historyLoading) loadHistory(view);
      });
    } catch (error) {
      el.banner.textContent = 'Refresh failed: ' + errorText(error) +
        (state.lastUpdated ? ' — showing data from ' + clock(state.lastUpdated) + '.' : '.');
      el.banner.hidden = false;
      body.setAttribute('data-state', 'error');
    } finally {
      state.inFlight = false;
    }
    if (state.again) {
      state.again = false;
      refresh();
    } else {
      schedule();
    }
  }

  // The main-thread cost of a refresh, for the browser test (Performance API):
  // `edge:refresh` from the body's arrival to the page laid out (JSON parse, render,
  // style and layout, forced here so that they count), and once `edge:first-render`
  // from navigation to the first page laid out.
  function measureRefresh(bodyAt) {
    void document.body.offsetHeight;
    var done = performance.now();
    if (!state.measuredFirst) {
      state.measuredFirst = true;
      performance.measure('edge:first-render', { start: 0, end: done });
    }
    performance.measure('edge:refresh', { start: bodyAt === undefined ? done : bodyAt, end: done });
  }

  function schedule() {
    clearTimeout(state.timer);
    if (state.needsLogin) return;
    var seconds = num(el.interval.value);
    if (seconds > 0) state.timer = setTimeout(refresh, seconds * 1000);
  }

  // ---------- overview cards ----------

  function setCard(id, value, sub, level) {
    var card = document.getElementById(id);
    var valueEl = card.querySelector('.value');
    valueEl.textContent = value;
    valueEl.className = 'value' + (level ? ' ' + level : '');
    card.querySelector('.sub').textContent = sub;
  }

  function renderCards(s) {
    var offline = num(s.offline_nodes);
    setCard('card-nodes', num(s.online_nodes) + '/' + num(s.total_nodes),
      offline > 0 ? offline + ' offline' : 'all reporting', offline > 0 ? 'warn' : '');
    setCard('card-cpu', pct(s.avg_cpu_usage), 'max ' + pct(s.max_cpu_usage), usageLevel(s.avg_cpu_usage));
    setCard('card-memory', pct(s.avg_memory_usage),
      bytes(s.used_memory) + ' / ' + bytes(s.total_memory), usageLevel(s.avg_memory_usage));
    if (num(s.max_cpu_temp) > 0) {
      setCard('card-temp', celsius(s.max_cpu_temp), 'avg ' + celsius(s.avg_cpu_temp), tempLevel(s.max_cpu_temp));
    } else {
      setCard('card-temp', 'N/A', 'no sensor', '');
    }
    setCard('card-disk', pct(s.avg_disk_usage),
      'max ' + pct(s.max_disk_usage) + ' · ' + bytes(s.used_disk) + ' / ' + bytes(s.total_disk),
      usageLevel(s.avg_disk_usage));
    var warnings = Math.round(num(s.warning_nodes));
    var names = Array.isArray(s.warning_node_names) ? s.warning_node_names : [];
    var listed = names.slice(0, WARNING_NAMES).join(', ');
    if (names.length > WARNING_NAMES) listed += ' and ' + (names.length - WARNING_NAMES) + ' more';
    setCard('card-warnings', String(warnings), names.length ? listed : 'none',
      warnings > 0 ? 'warn' : '');
  }

  // ---------- node rows ----------

  function setCell(row, cls, text, level, title) {
    var cell = row.querySelector('td.' + cls);
    cell.textContent = text;
    cell.className = cls + (level ? ' ' + level : '');
    if (title) cell.title = title;
    else cell.removeAttribute('title');
  }

  function matches(node, filter) {
    return !filter || node.node_name.toLowerCase().indexOf(filter) >= 0 ||
      String(node.node_ip || '').indexOf(filter) >= 0;
  }

  // Rows are made for the first `rowLimit` nodes that match the filter only; the
  // "more" row (or scrolling to it) adds ROW_BATCH more. A refresh updates the rows
  // that exist, so its cost does not grow with the cluster.
  function renderNodes(nodes) {
    state.nodes = nodes;
    var tbody = el.nodes.tBodies[0];
    var filter = state.filter.trim().toLowerCase();
    var seen = new Set();
    var wanted = [];
    var matching = 0;
    nodes.forEach(function (node) {
      var name = node.node_name;
      if (seen.has(name)) return;
      seen.add(name);
      if (!matches(node, filter)) return;
      matching += 1;
      if (matching > state.rowLimit) return;
      var view = state.views.get(name);
      if (!view) {
        view = createView(name);
        state.views.set(name, view);
      }
      view.node = node;
      updateRow(view);
      wanted.push(view.row);
      if (view.expanded) {
        updateDetail(view);
        wanted.push(view.detail);
      }
    });
    state.views.forEach(function (view, name) {
      if (!seen.has(name)) state.views.delete(name);
    });
    if (!wanted.length) {
      emptyRow.firstChild.textContent = seen.size ? 'No node matches the filter.' : 'No nodes have reported yet.';
      wanted.push(emptyRow);
    }
    var shown = Math.min(matching, state.rowLimit);
    if (matching > shown) {
      moreRow.firstChild.firstChild.textContent = 'Showing ' + shown + ' of ' + matching + ' nodes. ';
      wanted.push(moreRow);
    }
    el.nodeCount.textContent = filter ? matching + ' of ' + seen.size + ' nodes' : seen.size + ' nodes';
    el.nodeCount.setAttribute('data-shown', String(shown));
    // Re-insert only when the order changed: moving a row would blur a focused filter.
    var current = tbody.children;
    var same = current.length === wanted.length;
    for (var i = 0; same && i < wanted.length; i += 1) same = current[i] === wanted[i];
    if (!same) tbody.replaceChildren.apply(tbody, wanted);
  }

  function showMoreRows() {
    state.rowLimit += ROW_BATCH;
    renderNodes(state.nodes);
  }

  function createView(name) {
    var row = document.createElement('tr');
    row.className = 'node-row';
    row.setAttribute('data-node', name);
    row.setAttribute('aria-expanded', 'false');
    row.tabIndex = 0;
    row.innerHTML = '<td class="name"><span class="node-name"></span> <small class="node-ip"></small>' +
      '<small class="last-seen"></small></td>' +
      '<td class="status"></td><td class="cpu"></td><td class="memory"></td>' +
      '<td class="temp"></td><td class="load"></td><td class="disk"></td>';
    row.querySelector('.node-name').textContent = name;
    var view = {
      name: name,
      node: null,
      row: row,
      detail: null,
      expanded: false,
      hours: DEFAULT_HOURS,
      sortKey: null,
      sortDir: 'desc',
      filter: '',
      historySeq: 0,
      historyLoading: false,
      chart: null
    };
    row.addEventListener('click', function () { toggle(view); });
    row.addEventListener('keydown', function (event) {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        toggle(view);
      }
    });
    return view;
  }

  function updateRow(view) {
    var node = view.node;
    var row = view.row;
    var status = String(node.status || 'offline');
    var lastSeen = parseTime(node.last_seen);
    var seenText = lastSeen === null ? 'never' : dateTime(new Date(lastSeen));
    setCell(row, 'status', status, status === 'online' ? 'online' : 'offline', 'last seen ' + seenText);
    row.querySelector('.node-ip').textContent = node.node_ip || '';
    var seenEl = row.querySelector('.last-seen');
    seenEl.textContent = 'seen ' + ago(node.last_seen);
    seenEl.title = seenText;
    setCell(row, 'cpu', pct(node.cpu.usage_percent), usageLevel(node.cpu.usage_percent));
    setCell(row, 'memory', pct(node.memory.usage_percent), usageLevel(node.memory.usage_percent));
    if (hasTemperature(node)) {
      setCell(row, 'temp', celsius(node.temperature.cpu_temp), tempLevel(node.temperature.cpu_temp));
    } else {
      setCell(row, 'temp', 'N/A', '');
    }
    setCell(row, 'load', num(node.cpu.load_1).toFixed(2), '');
    var disk = primaryDisk(node);
    if (disk) {
      setCell(row, 'disk', pct(disk.usage_percent), usageLevel(disk.usage_percent),
        (disk.mount_point || disk.device || '') + ': ' + bytes(disk.used) + ' / ' + bytes(disk.total));
    } else {
      setCell(row, 'disk', 'N/A', '');
    }
  }

  function toggle(view) {
    view.expanded = !view.expanded;
    view.row.classList.toggle('expanded', view.expanded);
    view.row.setAttribute('aria-expanded', String(view.expanded));
    if (view.expanded) {
      updateDetail(view);
      view.row.after(view.detail);
      loadHistory(view);
    } else if (view.detail) {
      view.detail.remove();
    }
  }

  // ---------- node detail ----------

  function createDetail(view) {
    var detail = document.createElement('tr');
    detail.className = 'node-detail';
    detail.setAttribute('data-node', view.name);
    var ranges = RANGES.map(function (r) {
      return '<button type="button" data-hours="' + r.hours + '">' + r.label + '</button>';
    }).join('');
    var legend = SERIES.map(function (s) {
      return '<span class="legend-item series-' + s.key + '"><i></i>' + esc(s.label) + '</span>';
    }).join('');
    detail.innerHTML = '<td colspan="' + NODE_COLUMNS + '"><div class="detail">' +
      '<div class="detail-head"></div>' +
      '<div class="detail-grid">' +
      '<section class="panel"><h3>CPU</h3><div class="per-core"></div><dl class="facts cpu-facts"></dl></section>' +
      '<section class="panel"><h3>Memory</h3><dl class="facts mem-facts"></dl></section>' +
      '<section class="panel"><h3>Temperature sensors</h3><div class="sensors"></div></section>' +
      '<section class="panel psi-card"><h3>Pressure (PSI)</h3><dl class="facts gauges psi-facts"></dl></section>' +
      '<section class="panel tcp-card"><h3>TCP and softnet</h3><dl class="facts tcp-facts"></dl></section>' +
      '<section class="panel system-card"><h3>System resources</h3><dl class="facts gauges system-facts"></dl></section>' +
      '<section class="panel vmstat-card"><h3>Paging (vmstat)</h3><dl class="facts vmstat-facts"></dl>' +
      '<p class="vmstat-warning crit" hidden></p></section>' +
      '</div>' +
      '<section class="panel"><h3>History</h3><div class="ranges" role="group" aria-label="History range">' + ranges + '</div>' +
      '<div class="chart-wrap"></div><div class="legend">' + legend + '</div><div class="chart-status"></div></section>' +
      '<section class="panel"><h3>Disks</h3><div class="scroll disks-list"></div></section>' +
      '<section class="panel"><h3>Network interfaces</h3><div class="scroll nets-list"></div></section>' +
      '<section class="panel"><h3>Top processes</h3>' +
      '<input class="process-filter" type="search" placeholder="Filter by name, user or pid" aria-label="Filter processes">' +
      '<div class="scroll"><table class="processes"><thead><tr>' +
      '<th data-sort="pid" class="sortable num">PID</th><th>Name</th><th>User</th><th>State</th>' +
      '<th data-sort="cpu" class="sortable num">CPU</th><th data-sort="memory" class="sortable num">Memory</th>' +
      '<th data-sort="rss" class="sortable num">RSS</th><th class="num">Threads</th>' +
      '</tr></thead><tbody></tbody></table></div><p class="process-empty" hidden></p></section>' +
      '</div></td>';

    detail.querySelectorAll('.ranges button').forEach(function (button) {
      button.addEventListener('click', function () {
        view.hours = parseInt(button.getAttribute('data-hours'), 10);
        markRange(view);
        loadHistory(view);
      });
    });
    detail.querySelectorAll('th[data-sort]').forEach(function (th) {
      th.tabIndex = 0;
      var sort = function () {
        var key = th.getAttribute('data-sort');
        if (view.sortKey === key) {
          view.sortDir = view.sortDir === 'desc' ? 'asc' : 'desc';
        } else {
          view.sortKey = key;
          view.sortDir = 'desc';
        }
        renderProcesses(view);
      };
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function (event) {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          sort();
        }
      });
    });
    var filter = detail.querySelector('input.process-filter');
    filter.addEventListener('input', function () {
      view.filter = filter.value;
      renderProcesses(view);
    });
    view.chart = window.EdgeChart.create(detail.querySelector('.chart-wrap'), {
      svgClass: 'history-chart',
      ariaLabel: 'History chart',
      // 0–100 %, or more for a hot sensor, in steps of 20.
      top: function (max) { return Math.ceil(Math.max(100, max) / 20) * 20; }
    });
    view.detail = detail;
    markRange(view);
  }

  function markRange(view) {
    view.detail.querySelectorAll('.ranges button').forEach(function (button) {
      var active = parseInt(button.getAttribute('data-hours'), 10) === view.hours;
      button.classList.toggle('active', active);
      button.setAttribute('aria-pressed', String(active));
    });
  }

  function fact(label, value) {
    return '<dt>' + esc(label) + '</dt><dd>' + value + '</dd>';
  }

  function updateDetail(view) {
    if (!view.detail) createDetail(view);
    var node = view.node;
    var d = view.detail;
    var cpu = node.cpu;
    var mem = node.memory;

    var head = [node.hostname, node.os, node.kernel].filter(Boolean).map(esc);
    if (num(node.uptime) > 0) head.push('up ' + esc(duration(node.uptime)));
    var taken = parseTime(node.timestamp);
    if (taken !== null) head.push('snapshot ' + esc(dateTime(new Date(taken))));
    d.querySelector('.detail-head').innerHTML = head.join(' · ');

    d.querySelector('.per-core').innerHTML = cpu.per_core.length
      ? cpu.per_core.map(function (p, i) {
        var level = usageLevel(p);
        return '<div class="bar" title="CPU ' + i + ': ' + pct(p) + '"><span class="bar-fill ' + level +
          '" style="height:' + clampPct(p).toFixed(1) + '%"></span><span class="bar-label">' + i + '</span></div>';
      }).join('')
      : '<span class="muted">No per-core data</span>';
    d.querySelector('.cpu-facts').innerHTML =
      fact('Usage', esc(pct(cpu.usage_percent)) + ' <span class="muted">(user ' + esc(pct(cpu.user_percent)) +
        ', system ' + esc(pct(cpu.system_percent)) + ', iowait ' + esc(pct(cpu.iowait_percent)) + ')</span>') +
      fact('Load', esc(num(cpu.load_1).toFixed(2) + ' / ' + num(cpu.load_5).toFixed(2) + ' / ' +
        num(cpu.load_15).toFixed(2))) +
      fact('Model', esc(cpu.model || 'unknown')) +
      fact('Cores / threads', esc(num(cpu.cores) + ' / ' + num(cpu.threads))) +
      fact('Frequency', esc(frequency(cpu.frequency)));

    var swap = num(mem.swap_total) > 0
      ? esc(bytes(mem.swap_used) + ' / ' + bytes(mem.swap_total) + ' (' + pct(mem.swap_percent) + ')')
      : 'none';
    d.querySelector('.mem-facts').innerHTML =
      fact('Used', bar(mem.usage_percent, usageLevel(mem.usage_percent)) + ' ' +
        esc(bytes(mem.used) + ' / ' + bytes(mem.total) + ' (' + pct(mem.usage_percent) + ')')) +
      fact('Available', esc(bytes(mem.available))) +
      fact('Free', esc(bytes(mem.free))) +
      fact('Cached', esc(bytes(mem.cached))) +
      fact('Buffers', esc(bytes(mem.buffers))) +
      fact('Swap', (num(mem.swap_total) > 0 ? bar(mem.swap_percent, usageLevel(mem.swap_percent)) + ' ' : '') + swap);

    renderPressure(d, node.psi);
    renderTcp(d, node.tcp, node.softnet);
    renderSystem(d, node.system);
    renderVmstat(d, node.vmstat);

    d.querySelector('.sensors').innerHTML = node.temperature.sensors.length
      ? node.temperature.sensors.map(sensorHtml).join('')
      : '<span class="muted">No temperature sensors</span>';

    d.querySelector('.disks-list').innerHTML = node.disks.length
      ? '<table class="grid"><thead><tr><th>Device</th><th>Usage</th><th class="num">Read</th><th class="num">Write</th>' +
        '<th class="num">IOPS r/w</th><th class="num">Util</th></tr></thead><tbody>' +
        node.disks.map(function (disk) {
          return '<tr><td>' + esc(disk.device) + '<br><small class="muted">' + esc(disk.mount_point) + ' ' +
            esc(disk.fs_type) + '</small></td>' +
            '<td>' + bar(disk.usage_percent, usageLevel(disk.usage_percent)) + ' ' + esc(pct(disk.usage_percent)) +
            '<br><small class="muted">' + esc(bytes(disk.used) + ' / ' + bytes(disk.total)) + '</small></td>' +
            '<td class="num">' + esc(rate(disk.read_rate)) + '</td><td class="num">' + esc(rate(disk.write_rate)) + '</td>' +
            '<td class="num">' + esc(num(disk.read_iops).toFixed(1) + ' / ' + num(disk.write_iops).toFixed(1)) + '</td>' +
            '<td class="num ' + usageLevel(disk.io_util) + '">' + esc(pct(disk.io_util)) + '</td></tr>';
        }).join('') + '</tbody></table>'
      : '<span class="muted">No disks</span>';

    d.querySelector('.nets-list').innerHTML = node.networks.length
      ? '<table class="grid"><thead><tr><th>Interface</th><th class="num">RX</th><th class="num">TX</th>' +
        '<th class="num">Link</th><th class="num">Errors rx/tx</th><th class="num">Drops rx/tx</th></tr></thead><tbody>' +
        node.networks.map(function (net) {
          return '<tr><td>' + esc(net.interface) + '<br><small class="muted">' +
            esc([net.ip_address, net.status].filter(Boolean).join(' · ')) + '</small></td>' +
            '<td class="num">' + linkRate(net.rx_rate, net.speed) + '</td>' +
            '<td class="num">' + linkRate(net.tx_rate, net.speed) + '</td>' +
            '<td class="num">' + esc(linkSpeed(net.speed)) + '</td>' +
            '<td class="num' + (num(net.rx_errors) + num(net.tx_errors) > 0 ? ' warn' : '') + '">' +
            esc(num(net.rx_errors) + ' / ' + num(net.tx_errors)) + '</td>' +
            '<td class="num' + (num(net.rx_dropped) + num(net.tx_dropped) > 0 ? ' warn' : '') + '">' +
            esc(num(net.rx_dropped) + ' / ' + num(net.tx_dropped)) + '</td></tr>';
        }).join('') + '</tbody></table>'
      : '<span class="muted">No interfaces</span>';

    renderProcesses(view);
  }

  // ---------- the detail's kernel cards: pressure, TCP, system, vmstat ----------

  // A figure the tests can find: `data-field` is the snapshot's key path.
  function figure(field, text, level) {
    return '<span class="figure' + (level ? ' ' + level : '') + '" data-field="' + field + '">' +
      esc(text) + '</span>';
  }

  function perSecond(value) {
    return F.fixed1(value) + '/s';
  }

  // atlhyper's PSI card: 2 decimals, the bar twice the value (50 % fills it).
  function renderPressure(d, psi) {
    var rows = [
      ['CPU some', 'cpu_some_percent'],
      ['Memory some', 'memory_some_percent'],
      ['Memory full', 'memory_full_percent'],
      ['I/O some', 'io_some_percent'],
      ['I/O full', 'io_full_percent']
    ];
    d.querySelector('.psi-facts').innerHTML = rows.map(function (row) {
      var value = num(psi[row[1]]);
      var level = F.psiLevel(value);
      return fact(row[0], bar(value * 2, level) + ' ' +
        figure('psi.' + row[1], value.toFixed(2) + '%', level));
    }).join('');
  }

  function renderTcp(d, tcp, softnet) {
    var established = num(tcp.curr_estab);
    var timeWait = num(tcp.time_wait);
    var active = established + timeWait;
    var stacked = '<span class="meter stacked" title="established / time-wait">' +
      '<span class="meter-fill" style="width:' + F.share(established, active).toFixed(1) + '%"></span>' +
      '<span class="meter-fill warn" style="width:' + F.share(timeWait, active).toFixed(1) + '%"></span></span>';
    d.querySelector('.tcp-facts').innerHTML =
      fact('Established', figure('tcp.curr_estab', F.count(established))) +
      fact('Time-wait', figure('tcp.time_wait', F.count(timeWait), F.above(timeWait, 200, 'warn'))) +
      fact('Active', stacked + ' ' + esc(F.count(active))) +
      fact('Allocated', figure('tcp.alloc', F.count(tcp.alloc))) +
      fact('In use', figure('tcp.in_use', F.count(tcp.in_use))) +
      fact('Sockets used', figure('tcp.sockets_used', F.count(tcp.sockets_used))) +
      fact('Softnet dropped', figure('softnet.dropped_rate', perSecond(softnet.dropped_rate),
        F.above(softnet.dropped_rate, 0, 'crit'))) +
      fact('Softnet squeezed', figure('softnet.squeezed_rate', perSecond(softnet.squeezed_rate),
        F.above(softnet.squeezed_rate, 5, 'warn')));
  }

  function usedOf(field, used, limit, none) {
    if (num(limit) <= 0) return '<span class="muted" data-field="' + field + '">' + esc(none) + '</span>';
    var share = F.share(used, limit);
    var level = usageLevel(share);
    return bar(share, level) + ' ' + figure(field, F.count(used) + ' / ' + F.count(limit), level) +
      ' <span class="' + level + '">(' + esc(pct(share)) + ')</span>';
  }

  function renderSystem(d, system) {
    var entropy = num(system.entropy_bits);
    d.querySelector('.system-facts').innerHTML =
      fact('File descriptors', usedOf('system.filefd', system.filefd_allocated, system.filefd_max, 'unknown')) +
      fact('Conntrack', usedOf('system.conntrack', system.conntrack_entries, system.conntrack_limit,
        'not tracked')) +
      fact('Entropy', figure('system.entropy_bits', F.count(entropy) + ' bits', entropy >= 256 ? '' : 'warn') +
        ' <span class="' + (entropy >= 256 ? 'ok' : 'warn') + '">' + (entropy >= 256 ? 'OK' : 'low') + '</span>');
  }

  function renderVmstat(d, vmstat) {
    var major = num(vmstat.pgmajfault_rate);
    var swapping = num(vmstat.pswpin_rate) + num(vmstat.pswpout_rate) > 0;
    d.querySelector('.vmstat-facts').innerHTML =
      fact('Page faults', figure('vmstat.pgfault_rate', perSecond(vmstat.pgfault_rate))) +
      fact('Major faults', figure('vmstat.pgmajfault_rate', perSecond(major), F.above(major, 100, 'crit'))) +
      fact('Swap in', figure('vmstat.pswpin_rate', perSecond(vmstat.pswpin_rate) + ' pages',
        F.above(vmstat.pswpin_rate, 0, 'warn'))) +
      fact('Swap out', figure('vmstat.pswpout_rate', perSecond(vmstat.pswpout_rate) + ' pages',
        F.above(vmstat.pswpout_rate, 0, 'warn')));
    var warning = d.querySelector('.vmstat-warning');
    var notes = [];
    if (major > 100) notes.push('Heavy major page faults: memory is short or files are read cold.');
    if (swapping) notes.push('The node is swapping.');
    warning.textContent = notes.join(' ');
    warning.hidden = notes.length === 0;
  }

  function linkRate(bytesPerSecond, mbps) {
    var text = esc(rate(bytesPerSecond));
    if (num(mbps) <= 0) return text;
    var share = num(bytesPerSecond) * 8 / (num(mbps) * 1e6) * 100;
    return text + '<br><small class="muted ' + usageLevel(share) + '">' + esc(share.toFixed(1)) +
      '% of link</small>';
  }

  function sensorHtml(sensor) {
    var current = num(sensor.current);
    var high = num(sensor.max);
    var critical = num(sensor.critical);
    var scale = Math.max(100, current, high, critical);
    var level = critical > 0 && current >= critical ? 'crit'
      : high > 0 && current >= high ? 'warn' : tempLevel(current);
    var marks = '';
    if (high > 0) marks += '<span class="mark mark-high" title="high ' + esc(celsius(high)) + '" style="left:' + (high / scale * 100).toFixed(1) + '%"></span>';
    if (critical > 0) marks += '<span class="mark mark-crit" title="critical ' + esc(celsius(critical)) + '" style="left:' + (critical / scale * 100).toFixed(1) + '%"></span>';
    var limits = [];
    if (high > 0) limits.push('high ' + celsius(high));
    if (critical > 0) limits.push('crit ' + celsius(critical));
    var name = [sensor.name, sensor.label].filter(Boolean).join(' ');
    return '<div class="sensor"><div class="sensor-name">' + esc(name || 'sensor') +
      ' <span class="sensor-value ' + level + '">' + esc(celsius(current)) + '</span>' +
      (limits.length ? ' <small class="muted">' + esc(limits.join(' · ')) + '</small>' : '') + '</div>' +
      '<div class="sensor-bar"><span class="meter-fill ' + level + '" style="width:' +
      (current / scale * 100).toFixed(1) + '%"></span>' + marks + '</div></div>';
  }

  function renderProcesses(view) {
    var d = view.detail;
    var processes = view.node.processes.slice();
    var filter = view.filter.trim().toLowerCase();
    if (filter) {
      processes = processes.filter(function (p) {
        return String(p.name || '').toLowerCase().indexOf(filter) >= 0 ||
          String(p.user || '').toLowerCase().indexOf(filter) >= 0 ||
          String(p.pid).indexOf(filter) >= 0;
      });
    }
    if (view.sortKey) {
      var field = SORT_FIELDS[view.sortKey];
      var dir = view.sortDir === 'asc' ? 1 : -1;
      processes.sort(function (a, b) {
        return (num(a[field]) - num(b[field])) * dir || num(a.pid) - num(b.pid);
      });
    }
    d.querySelector('table.processes tbody').innerHTML = processes.map(function (p) {
      return '<tr data-pid="' + esc(p.pid) + '">' +
        '<td class="pid num">' + esc(p.pid) + '</td>' +
        '<td class="name" title="' + esc(p.cmdline || p.name) + '">' + esc(p.name) + '</td>' +
        '<td class="user">' + esc(p.user) + '</td>' +
        '<td class="state">' + esc(p.status) + '</td>' +
        '<td class="cpu num">' + esc(pct(p.cpu_percent)) + '</td>' +
        '<td class="memory num">' + esc(pct(p.mem_percent)) + '</td>' +
        '<td class="rss num">' + esc(bytes(p.mem_rss)) + '</td>' +
        '<td class="threads num">' + esc(num(p.threads)) + '</td></tr>';
    }).join('');
    var empty = d.querySelector('.process-empty');
    empty.hidden = processes.length > 0;
    empty.textContent = view.node.processes.length ? 'No process matches the filter.' : 'No processes reported.';
    d.querySelectorAll('th[data-sort]').forEach(function (th) {
      var key = th.getAttribute('data-sort');
      var sorted = key === view.sortKey;
      th.classList.toggle('sorted-desc', sorted && view.sortDir === 'desc');
      th.classList.toggle('sorted-asc', sorted && view.sortDir === 'asc');
      th.setAttribute('aria-sort', sorted ? (view.sortDir === 'asc' ? 'ascending' : 'descending') : 'none');
    });
  }

  // ---------- history ----------

  // A history body in either shape (--atlhyper-api): v2's `{data: [points]}` or
  // current's `{data: {cpu: [{timestamp, value}], …}}`, as `[{t, values}]` ascending.
  // A temperature of 0 is a node without a sensor: no point.
  function historyPoints(body) {
    var byTime = new Map();
    function add(timestamp, key, value) {
      var t = parseTime(timestamp);
      if (t === null || (key === 'temp' && !(value > 0))) return;
      var point = byTime.get(t);
      if (!point) {
        point = { t: t, values: {} };
        byTime.set(t, point);
      }
      point.values[key] = value;
    }
    var list = Array.isArray(body.history) ? body.history : body.data;
    if (Array.isArray(list)) {
      list.forEach(function (p) {
        if (!p) return;
        SERIES.forEach(function (s) { add(p.timestamp, s.key, num(p[s.field])); });
      });
    } else if (list && typeof list === 'object') {
      SERIES.forEach(function (s) {
        if (!Array.isArray(list[s.key])) return;
        list[s.key].forEach(function (p) { if (p) add(p.timestamp, s.key, num(p.value)); });
      });
    }
    return Array.from(byTime.values()).sort(function (a, b) { return a.t - b.t; });
  }

  async function fetchHistory(name, hours) {
    var body = await fetchJSON(apiBase() + '/' + encodeURIComponent(name) + '/history?hours=' + hours);
    return { points: historyPoints(body), start: parseTime(body.start), end: parseTime(body.end) };
  }

  async function loadHistory(view) {
    var seq = ++view.historySeq;
    var hours = Math.min(view.hours, maxHours);
    var status = view.detail.querySelector('.chart-status');
    if (!view.chart.hasData()) status.textContent = 'Loading…';
    view.historyLoading = true;
    try {
      var history = await fetchHistory(view.name, hours);
      if (seq !== view.historySeq) return;
      var points = history.points;
      var end = history.end === null ? Date.now() : history.end;
      var start = history.start === null ? end - hours * 3600 * 1000 : history.start;
      view.chart.setData(SERIES.map(function (s) {
        return {
          key: s.key,
          label: s.label,
          cls: 'series-' + s.key,
          text: s.key === 'temp' ? celsius : pct,
          points: points.filter(function (p) { return p.values[s.key] !== undefined; })
            .map(function (p) { return { t: p.t, v: p.values[s.key] }; })
        };
      }), start, end);
      var notes = [];
      if (!points.length) notes.push('No history in this range yet.');
      if (hours < view.hours) notes.push('History is kept for ' + maxHours + ' h; showing all of it.');
      status.textContent = notes.join(' ');
    } catch (error) {
      if (seq !== view.historySeq) return;
      status.textContent = 'History unavailable: ' + errorText(error);
    } finally {
      if (seq === view.historySeq) view.historyLoading = false;
    }
  }

  // ---------- the cluster's top-5 trends (trend.js) ----------

  var trend = window.EdgeTrend.create({
    section: el.trends,
    metrics: [
      { key: 'cpu', label: 'CPU', unit: '%', current: function (n) { return num(n.cpu.usage_percent); } },
      { key: 'memory', label: 'Memory', unit: '%', current: function (n) { return num(n.memory.usage_percent); } },
      {
        key: 'disk',
        label: 'Disk',
        unit: '%',
        current: function (n) {
          var disk = primaryDisk(n);
          return disk ? num(disk.usage_percent) : null;
        }
      },
      {
        key: 'temp',
        label: 'CPU temperature',
        unit: '°C',
        current: function (n) { return hasTemperature(n) ? num(n.temperature.cpu_temp) : null; }
      }
    ],
    history: function (name, hours) {
      return fetchHistory(name, Math.min(hours, maxHours)).then(function (h) { return h.points; });
    }
  });

  // ---------- wiring ----------

  showCluster();
  el.login.addEventListener('submit', function (event) {
    event.preventDefault();
    var token = el.loginToken.value.trim();
    if (!token) return;
    storeToken(token);
    el.loginToken.value = '';
    el.login.hidden = true;
    el.loginError.textContent = '';
    state.needsLogin = false;
    refresh();
  });
  var wanted = params.get('refresh');
  if (wanted !== null && /^\d+$/.test(wanted)) {
    var exists = Array.prototype.some.call(el.interval.options, function (o) { return o.value === wanted; });
    if (!exists) {
      var option = document.createElement('option');
      option.value = wanted;
      option.textContent = wanted === '0' ? 'off' : wanted + ' s';
      el.interval.appendChild(option);
    }
    el.interval.value = wanted;
  }
  el.interval.addEventListener('change', schedule);
  moreRow.querySelector('button').addEventListener('click', showMoreRows);
  if (typeof IntersectionObserver === 'function') {
    new IntersectionObserver(function (entries) {
      if (entries.some(function (e) { return e.isIntersecting; })) showMoreRows();
    }, { rootMargin: '200px' }).observe(moreRow);
  }
  el.nodeFilter.addEventListener('input', function () {
    state.filter = el.nodeFilter.value;
    state.rowLimit = ROW_BATCH;
    renderNodes(state.nodes);
  });
  el.refresh.addEventListener('click', function () { refresh(); });
  refresh();
}());
