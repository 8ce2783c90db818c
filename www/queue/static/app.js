// edgegate waiting page: polls /queue/status at the interval the gate chooses, shows the
// citizen's place in Korean or English, and goes on to the page they asked for once admitted.
// When the gate asks work for a new place, a Web Worker (work.js) finds it and the next poll
// brings it.
// No framework, no third-party requests; everything here must also work on a slow phone.
'use strict';
(function () {
  var T = {
    ko: {
      title: '대기실', brand: '예약 대기실', other: 'English',
      position: '대기 순서', ahead: '앞에 있는 사람', etaLabel: '예상 대기 시간', progress: '진행 상황',
      countdown: '접수 시작까지', work: '확인 진행 상황',
      h: { work: '대기 순서를 받고 있습니다', loading: '잠시만 기다려 주세요', waiting: '순서를 기다리고 있습니다', paused: '입장이 잠시 멈췄습니다',
        closed: '지금은 예약을 받지 않습니다', prequeue: '곧 접수가 시작됩니다', admitted: '차례가 되었습니다',
        taken: '예약할 수 있는 자리가 모두 찼습니다' },
      say: {
        loading: '대기 순서를 확인하고 있습니다.',
        work: '대기 순서를 받기 위해 이 기기에서 짧은 확인 계산을 하고 있습니다. 몇 초면 끝납니다. 이 페이지를 닫지 말고 그대로 열어 두세요.',
        waiting: function (p) { return '현재 대기 순서는 ' + p + '번째입니다. 이 페이지를 열어 두시면 차례가 되었을 때 자동으로 이동합니다.'; },
        paused: '운영자가 잠시 입장을 멈췄습니다. 순서는 그대로 유지됩니다.',
        closed: '나중에 다시 와 주세요. 이 페이지는 가끔 스스로 확인합니다.',
        prequeue: '접수 시작 시각에 지금 기다리는 모든 분의 순서가 공정한 추첨으로 정해집니다. 일찍 온다고 유리하지 않습니다.',
        admitted: '예약 페이지로 이동합니다…',
        taken: function (next) {
          return (next ? '다음 예약은 ' + next + '에 열립니다. ' : '다음 예약 일정은 아직 정해지지 않았습니다. ') +
            '예약이 취소되거나 자리가 새로 나면 순서대로 진행되니, 이 페이지를 열어 두셔도 됩니다. 순서는 그대로 유지됩니다.';
        }
      },
      etaTaken: '남은 자리 없음',
      people: function (n) { return n + '명'; },
      place: function (n) { return n + '번째'; },
      eta: function (lo, hi) {
        if (hi < 60) return '1분 이내';
        if (hi < 3600) return '약 ' + range(Math.max(1, Math.floor(lo / 60)), Math.ceil(hi / 60)) + '분';
        return '약 ' + range(Math.max(1, Math.floor(lo / 3600)), Math.ceil(hi / 3600)) + '시간';
      },
      unknownEta: '아직 알 수 없음',
      keep: '새로 고치거나 창을 닫았다가 다시 와도 순서는 유지됩니다. 여러 창을 열 필요는 없습니다.',
      stale: '대기열 서버와 연결을 다시 확인하는 중입니다. 순서는 그대로 유지됩니다.',
      offline: '연결이 불안정합니다. 순서는 그대로 유지되며, 자동으로 다시 시도합니다.',
      rejoined: {
        lapsed: '이전 대기 순서는 오랫동안 확인되지 않아 만료되었습니다. 지금 새로 줄을 섰습니다.',
        ended: '이전 이용이 끝나, 지금 새로 줄을 섰습니다.'
      },
      cookies: '입장이 허용되었지만 예약 페이지로 이동하지 못했습니다. 쿠키를 허용한 뒤 새로 고쳐 주세요.',
      readmitted: '차례가 되었을 때 예약 사이트에 문제가 있었습니다. 맨 앞 순서로 돌아와 있으며, 잠시 뒤 자동으로 다시 이동합니다. 아무것도 누르지 않으셔도 됩니다.',
      updated: function (t) { return '마지막 확인 ' + t; },
      // Both languages: the number is read out to a call centre that may speak either.
      ticketRef: function (r) { return '접수 번호 · Ticket number: ' + r; }
    },
    en: {
      title: 'Waiting room', brand: 'Booking waiting room', other: '한국어',
      position: 'Your place in line', ahead: 'People ahead of you', etaLabel: 'Estimated wait', progress: 'Progress',
      countdown: 'Booking opens in', work: 'Check progress',
      h: { work: 'Getting your place in line', loading: 'Please wait', waiting: "You're in line", paused: 'Entry is paused for a moment',
        closed: 'Booking is closed right now', prequeue: 'Booking opens soon', admitted: "It's your turn",
        taken: 'All the slots are taken' },
      say: {
        loading: 'Checking your place in line.',
        work: 'Your phone is doing a short check to get your place in line. It takes a few seconds. Please keep this page open.',
        waiting: function (p) { return 'You are number ' + p + ' in line. Keep this page open: it moves on by itself when it is your turn.'; },
        paused: 'The operator has paused entry for a moment. Your place is kept.',
        closed: 'Please come back later. This page checks again now and then.',
        prequeue: 'When booking opens, the order of everyone waiting now is set by a fair random draw. Arriving early gives no advantage.',
        admitted: 'Taking you to the booking page…',
        taken: function (next) {
          return (next ? 'The next slots are released on ' + next + '. ' : 'The next release has not been set yet. ') +
            'If a booking is cancelled or new slots open, the line moves on in order, so you may keep this page open. Your place is kept.';
        }
      },
      etaTaken: 'no slot left',
      people: function (n) { return n; },
      place: function (n) { return n; },
      eta: function (lo, hi) {
        if (hi < 60) return 'under a minute';
        if (hi < 3600) return 'about ' + range(Math.max(1, Math.floor(lo / 60)), Math.ceil(hi / 60)) + ' min';
        return 'about ' + range(Math.max(1, Math.floor(lo / 3600)), Math.ceil(hi / 3600)) + ' h';
      },
      unknownEta: 'not known yet',
      keep: 'Reloading, or closing this page and coming back, keeps your place. There is no need to open more tabs.',
      stale: 'Reconnecting to the queue. Your place is kept.',
      offline: 'The connection is unsteady. Your place is kept and the page keeps trying.',
      rejoined: {
        lapsed: 'Your earlier place lapsed because it was not checked for too long. You have joined the line again as a new arrival.',
        ended: 'Your earlier visit to the booking site has ended. You have joined the line again as a new arrival.'
      },
      cookies: 'You were admitted but the booking page could not be opened. Please allow cookies for this site and refresh.',
      readmitted: 'The booking site had a problem when it was your turn. You are back at the front of the line, and this page will take you there again shortly by itself. There is nothing you need to do.',
      updated: function (t) { return 'Last checked ' + t; },
      ticketRef: function (r) { return 'Ticket number · 접수 번호: ' + r; }
    }
  };
  var STORE = 'edgegate.';
  // A room other than the gate's default names itself on the page, and its polls name it.
  var ROOM = document.documentElement.getAttribute('data-room') || '';
  var STATUS_URL = '/queue/status' + (ROOM ? '?room=' + encodeURIComponent(ROOM) : '');
  var $ = function (id) { return document.getElementById(id); };
  var lang = pickLanguage();
  var last = null;        // the last status answer
  var failures = 0;       // polls failed in a row
  var roundTrip = 0;      // how long the last poll took, in ms
  var timer = 0, tick = 0, inflight = null, spoken = '', blocked = false;
  var rejoined = '';      // why the gate said this visit's earlier place is gone ('lapsed', 'ended')
  // The work the gate asks for a new place: the challenge being solved, the answer the next poll
  // sends, and the last challenge solved or searched in vain, which is never searched again.
  var job = null, answer = '', tried = '';

  function range(a, b) { return a >= b ? String(b) : a + '–' + b; }
  function num(n) { return new Intl.NumberFormat(lang === 'ko' ? 'ko-KR' : 'en-US').format(n); }
  function get(k) { try { return localStorage.getItem(STORE + k); } catch (e) { return null; } }
  function put(k, v) { try { localStorage.setItem(STORE + k, v); } catch (e) { /* private mode */ } }
  function sget(k) { try { return sessionStorage.getItem(STORE + k); } catch (e) { return null; } }
  function sput(k, v) { try { sessionStorage.setItem(STORE + k, v); } catch (e) { /* private mode */ } }

  function pickLanguage() {
    var saved = get('lang');
    if (saved === 'ko' || saved === 'en') return saved;
    var wanted = navigator.languages || [navigator.language || 'ko'];
    for (var i = 0; i < wanted.length; i++) {
      var l = String(wanted[i]).toLowerCase();
      if (l.indexOf('ko') === 0) return 'ko';
      if (l.indexOf('en') === 0) return 'en';
    }
    return 'ko';
  }

  function text(id, value) { var el = $(id); if (el.textContent !== value) el.textContent = value; }
  function show(id, on) { $(id).hidden = !on; }

  function render() {
    var t = T[lang], s = last, state = s ? s.state : 'loading';
    var working = !!job && (state === 'waiting' || state === 'paused' || state === 'prequeue');
    // The origin's slots cannot reach this place: said instead of an ETA, the place kept.
    var taken = !!(s && s.slots_taken && state === 'waiting');
    var head = t.h[working ? 'work' : taken ? 'taken' : state];
    document.documentElement.lang = lang;
    document.title = head + ' · ' + t.title;
    text('brand', t.brand);
    var button = $('lang');
    button.hidden = false;
    button.lang = lang === 'ko' ? 'en' : 'ko';
    text('lang', t.other);
    text('l-position', t.position); text('l-ahead', t.ahead); text('l-eta', t.etaLabel);
    text('l-progress', t.progress); text('l-countdown', t.countdown); text('l-work', t.work);
    $('room').setAttribute('data-state', taken ? 'taken' : state);
    $('room').setAttribute('data-work', working ? 'solving' : '');
    text('headline', head);
    show('work', working);

    var hasPlace = s && s.position != null && (state === 'waiting' || state === 'paused');
    show('place', hasPlace);
    if (hasPlace) {
      text('position', t.place(num(s.position)));
      text('ahead', t.people(num(s.ahead)));
      text('eta', state === 'paused' ? '–' : taken ? t.etaTaken : s.eta_s ? t.eta(s.eta_s[0], s.eta_s[1]) : t.unknownEta);
      progress(s.position);
    }
    show('opening', state === 'prequeue' && s.opens_at != null);
    countdown();

    var say = t.say[state];
    if (typeof say === 'function') say = say(hasPlace ? num(s.position) : '–');
    if (state === 'waiting' && !hasPlace) say = t.say.loading;
    if (taken) say = t.say.taken(nextRelease(s.slots_taken.next_release_at));
    if (working) say = t.say.work;
    // In the chosen language if the operator wrote it, else in the other; as text, never HTML.
    if (state === 'closed' && s.notice) say = s.notice[lang] || s.notice[lang === 'ko' ? 'en' : 'ko'] || say;
    if (blocked) say = t.cookies;
    // The live region speaks only when its words change, so screen readers are not flooded.
    if (say !== spoken) { text('live', say); spoken = say; }

    var note = !working && (state === 'waiting' || state === 'paused' || state === 'prequeue') ? t.keep : '';
    text('note', note); show('note', !!note);
    if (s && t.rejoined[s.rejoined]) rejoined = s.rejoined;
    var why = rejoined && state !== 'admitted' ? t.rejoined[rejoined] : '';
    if (s && s.readmitted && state !== 'admitted') why = t.readmitted;
    text('rejoined', why); show('rejoined', !!why);
    var trouble = failures > 0 ? 'offline' : s && s.stale ? 'stale' : '';
    $('room').setAttribute('data-trouble', trouble);
    text('trouble', trouble ? t[trouble] : ''); show('trouble', !!trouble);
    if (s && s.at) {
      text('updated', t.updated(new Date(s.at).toLocaleTimeString(lang === 'ko' ? 'ko-KR' : 'en-US')));
      show('updated', true);
    }
    var ref = s && s.ref && state !== 'admitted' ? t.ticketRef(s.ref) : '';
    text('ticket-ref', ref); show('ticket-ref', !!ref);
  }

  // When the next slots are released, in the visitor's own time zone; '' if not set.
  function nextRelease(ms) {
    if (typeof ms !== 'number' || !isFinite(ms)) return '';
    return new Date(ms).toLocaleString(lang === 'ko' ? 'ko-KR' : 'en-GB', {
      month: 'long', day: 'numeric', hour: '2-digit', minute: '2-digit'
    });
  }

  // Progress is measured from the first place this browser saw; reloads and other tabs share it.
  function progress(position) {
    var first = Number(get('first')) || 0;
    if (position > first) { first = position; put('first', String(first)); }
    var bar = $('progress');
    bar.max = first;
    bar.value = first - position;
    bar.setAttribute('aria-valuetext', Math.round(100 * (first - position) / first) + '%');
  }

  function countdown() {
    clearInterval(tick);
    if (!last || last.state !== 'prequeue' || last.opens_at == null) return;
    var step = function () {
      var left = Math.max(0, Math.round((last.opens_at - (Date.now() + (last.offset || 0))) / 1000));
      var h = Math.floor(left / 3600), m = Math.floor(left / 60) % 60, sec = left % 60;
      var two = function (v) { return v < 10 ? '0' + v : String(v); };
      var el = $('countdown');
      el.textContent = (h ? h + ':' : '') + two(m) + ':' + two(sec);
      el.dateTime = 'PT' + left + 'S';
    };
    step();
    tick = setInterval(step, 1000);
  }

  // The operator's message for a closed room: URI-encoded JSON {"ko", "en"} in a header.
  function readNotice(header) {
    if (!header) return null;
    try {
      var n = JSON.parse(decodeURIComponent(header));
      return n && typeof n === 'object' ? { ko: String(n.ko || ''), en: String(n.en || '') } : null;
    } catch (e) { return null; }
  }

  function schedule(ms) {
    clearTimeout(timer);
    if (document.hidden) return; // polled again when the tab is shown
    timer = setTimeout(poll, ms);
  }

  function poll() {
    clearTimeout(timer);
    if (inflight) return;
    var abort = typeof AbortController === 'function' ? new AbortController() : null;
    var guard = setTimeout(function () { if (abort) abort.abort(); }, 15000);
    var done = function () { clearTimeout(guard); inflight = null; };
    var sent = answer;
    var began = performance.now();
    inflight = fetch(STATUS_URL, {
      cache: 'no-store', credentials: 'same-origin', signal: abort && abort.signal,
      headers: sent ? { 'Edgegate-Work': sent } : {}
    })
      .then(function (r) {
        roundTrip = Math.max(0, performance.now() - began);
        if (!r.ok) throw new Error('status ' + r.status);
        // The gate's clock, so a countdown does not trust a phone whose clock is off.
        var server = Date.parse(r.headers.get('Date') || '');
        // The ticket number comes as a header: the status JSON is a fixed contract.
        var ref = r.headers.get('Edgegate-Ticket-Ref') || '';
        var notice = readNotice(r.headers.get('Edgegate-Notice'));
        return r.json().then(function (s) {
          s.offset = server ? server - Date.now() : 0; s.ref = ref; s.notice = notice; return s;
        });
      })
      .then(function (s) {
        done();
        failures = 0;
        if (answer === sent) answer = ''; // delivered: the gate has judged it
        s.at = Date.now();
        last = s;
        if (s.state === 'admitted') { drop(); return admitted(); }
        var solving = solve(s.work);
        render();
        if (answer) poll(); // found while this poll was out
        // At the very front, next_poll_ms is when the token is due at the gate, and a poll
        // gets there a round trip after the answer left it: sent that much early, by at most
        // half the wait and 2 s; never sooner than 200 ms (the core's status::page_wait_ms;
        // tests/architecture.rs holds them equal).
        else if (!solving) {
          var next = Number(s.next_poll_ms) || 5000;
          var lead = s.ahead === 0 ? Math.min(roundTrip, next / 2, 2000) : 0;
          schedule(Math.max(200, next - lead));
        }
      }, function () {
        done();
        trouble();
      });
  }

  function trouble() {
    failures++;
    render();
    // Back off on trouble: 2 s, 4 s, 8 s ... up to a minute, spread so phones do not return
    // together.
    var wait = Math.min(60000, 1000 * Math.pow(2, failures));
    schedule(wait / 2 + Math.random() * wait / 2);
  }

  // Starts on the challenge `w` of a status answer, unless it is the one already being solved
  // or already tried; drops any other. Says whether a search is on (the next poll waits for it).
  function solve(w) {
    if (!w) { drop(); return false; }
    var sig = [w.window, w.key, w.salt, w.target].join('.');
    if (job && job.sig === sig) return true;
    drop();
    if (sig === tried) return false;
    var most = Math.min(Math.floor(Number(w.most)) || 0, 0xfffffffe);
    var began = performance.now(), mine = job = { sig: sig, stop: null };
    var bar = $('work-progress');
    bar.max = most + 1;
    counted(0);
    function counted(k) {
      if (job !== mine) return;
      bar.value = k;
      bar.setAttribute('aria-valuetext', Math.round(100 * k / (most + 1)) + '%');
    }
    function found(n, by) {
      if (job !== mine) return;
      counted(most + 1); // full, while the poll that brings the count is out
      job = null;
      tried = sig;
      $('room').setAttribute('data-work-ms', String(Math.round(performance.now() - began)));
      $('room').setAttribute('data-work-by', by);
      // With the count found; if none was, the poll asks again without one.
      answer = n >= 0 ? w.window + '.' + w.key + '.' + n : '';
      poll();
    }
    // No worker to be had: count here, a slice of about 30 ms at a time between other tasks.
    function onPage() {
      var stopped = false;
      mine.stop = function () { stopped = true; };
      solver(function (lib) {
        if (stopped || job !== mine) return;
        if (!lib) { job = null; return trouble(); }
        var search = lib.prepare(String(w.salt), String(w.target)), from = 0;
        (function slice() {
          if (stopped) return;
          var until = performance.now() + 30, n = -1;
          do {
            var to = Math.min(from + 1024, most + 1);
            n = search(from, to);
            from = to;
          } while (n < 0 && from <= most && performance.now() < until);
          if (n >= 0 || from > most) return found(n, 'page');
          counted(from);
          setTimeout(slice, 0);
        })();
      });
    }
    try {
      var worker = new Worker('/queue/static/work.js');
      mine.stop = function () { worker.terminate(); };
      worker.onmessage = function (e) {
        var d = e.data || {};
        if (typeof d.n !== 'number') return counted(d.done);
        worker.terminate();
        found(d.n, 'worker');
      };
      worker.onerror = function (e) {
        if (e && e.preventDefault) e.preventDefault();
        worker.terminate();
        if (job === mine) onPage();
      };
      worker.postMessage({ salt: String(w.salt), target: String(w.target), most: most });
    } catch (e) {
      onPage();
    }
    return true;
  }

  function drop() {
    if (job && job.stop) job.stop();
    job = null;
  }

  // work.js on the page itself (it defines edgegateWork there), then `then(it)`, or `then(null)`.
  function solver(then) {
    if (window.edgegateWork) return then(window.edgegateWork);
    var tag = document.createElement('script');
    tag.src = '/queue/static/work.js';
    tag.onload = function () { then(window.edgegateWork || null); };
    tag.onerror = function () { tag.remove(); then(null); };
    document.head.appendChild(tag);
  }

  function admitted() {
    // The pass cookie is set; the page the citizen asked for is this very address, and only a
    // same-origin path is ever followed. If the gate keeps sending us back here, the browser
    // refuses the cookie: after three quick returns, stop and say so instead of looping.
    var prev = (sget('bounce') || '0:0').split(':');
    var count = Date.now() - Number(prev[1]) < 20000 ? Number(prev[0]) + 1 : 1;
    sput('bounce', count + ':' + Date.now());
    blocked = count > 3;
    render();
    if (blocked) return;
    // This place in line is done; a later visit's progress starts from its own first place.
    put('first', '');
    var path = location.pathname + location.search;
    if (path.charAt(0) !== '/' || path.charAt(1) === '/' || path.charAt(1) === '\\') path = '/';
    location.replace(path);
  }

  $('lang').addEventListener('click', function () {
    lang = lang === 'ko' ? 'en' : 'ko';
    put('lang', lang);
    spoken = '';
    render();
  });
  document.addEventListener('visibilitychange', function () {
    if (document.hidden) { clearTimeout(timer); clearInterval(tick); }
    else { poll(); countdown(); }
  });
  render();
  poll();
})();
