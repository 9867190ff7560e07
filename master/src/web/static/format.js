// edge-master's dashboard: how figures are written and which colour a figure takes,
// shared by the overview (app.js) and the trend charts (trend.js). Loaded first.
(function () {
  'use strict';

  function num(value) {
    var n = Number(value);
    return isFinite(n) ? n : 0;
  }

  function esc(value) {
    return String(value === undefined || value === null ? '' : value)
      .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;').replace(/'/g, '&#39;');
  }

  // One decimal, as Rust's `{:.1}` writes it: toFixed rounds exact ties (x.25, x.75,
  // the only ones a double holds exactly) up, Rust to the even digit.
  function fixed1(value) {
    var x = num(value);
    var quarters = x * 4;
    if (Number.isInteger(quarters) && quarters % 2 !== 0) {
      var low = Math.floor(x * 10);
      return ((low % 2 === 0 ? low : low + 1) / 10).toFixed(1);
    }
    return x.toFixed(1);
  }

  function pct(value) {
    return fixed1(value) + '%';
  }

  function celsius(value) {
    return fixed1(value) + '°C';
  }

  function bytes(value) {
    var n = num(value);
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    var i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) {
      n /= 1024;
      i += 1;
    }
    return (i === 0 ? Math.round(n) : n.toFixed(1)) + ' ' + units[i];
  }

  function rate(value) {
    return bytes(value) + '/s';
  }

  // A count with thousands separators (1,234,567); exact for every u64 the API
  // writes below 2^53, and for 2^63 (an unlimited fs.file-max) as written by JSON.
  function count(value) {
    var n = Math.round(num(value));
    return n.toLocaleString('en-US');
  }

  function duration(seconds) {
    var s = Math.max(0, Math.floor(num(seconds)));
    var d = Math.floor(s / 86400);
    var h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60);
    if (d > 0) return d + 'd ' + h + 'h';
    if (h > 0) return h + 'h ' + m + 'm';
    if (m > 0) return m + 'm';
    return s + 's';
  }

  function pad(n) {
    return (n < 10 ? '0' : '') + n;
  }

  function clock(date) {
    return pad(date.getHours()) + ':' + pad(date.getMinutes()) + ':' + pad(date.getSeconds());
  }

  function dateTime(date) {
    return date.getFullYear() + '-' + pad(date.getMonth() + 1) + '-' + pad(date.getDate()) +
      ' ' + clock(date);
  }

  function parseTime(text) {
    var t = Date.parse(text);
    return isFinite(t) ? t : null;
  }

  // ---------- colour levels: '' (normal), 'info', 'warn' or 'crit' ----------
  // The thresholds are atlhyper's console's, so that both pages colour alike.

  // CPU, memory, disk, file descriptors, conntrack (%): red ≥ 80, amber ≥ 60.
  function usageLevel(p) {
    p = num(p);
    return p >= 80 ? 'crit' : p >= 60 ? 'warn' : '';
  }

  // CPU temperature (°C): red ≥ 80, amber ≥ 65.
  function tempLevel(t) {
    t = num(t);
    return t >= 80 ? 'crit' : t >= 65 ? 'warn' : '';
  }

  // Pressure stall (% of time): red ≥ 25, amber ≥ 10, blue ≥ 1.
  function psiLevel(p) {
    p = num(p);
    return p >= 25 ? 'crit' : p >= 10 ? 'warn' : p >= 1 ? 'info' : '';
  }

  // A figure that should be 0 (drops, swapping): the given level above `limit`.
  function above(value, limit, level) {
    return num(value) > limit ? level : '';
  }

  function clampPct(p) {
    return Math.max(0, Math.min(100, num(p)));
  }

  // A share of a whole as a percentage, 0 when the whole is unknown.
  function share(part, whole) {
    return num(whole) > 0 ? num(part) / num(whole) * 100 : 0;
  }

  window.EdgeFormat = {
    num: num,
    esc: esc,
    fixed1: fixed1,
    pct: pct,
    celsius: celsius,
    bytes: bytes,
    rate: rate,
    count: count,
    duration: duration,
    pad: pad,
    clock: clock,
    dateTime: dateTime,
    parseTime: parseTime,
    usageLevel: usageLevel,
    tempLevel: tempLevel,
    psiLevel: psiLevel,
    above: above,
    clampPct: clampPct,
    share: share
  };
}());
