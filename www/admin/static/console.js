// edgegate operator console: signs in by trading the admin token for an HttpOnly session
// cookie, then shows the room's live figures and charts, the places its client networks hold,
// its controls and its audit log.
// No framework, no third-party requests; Korean or English, chosen as on the waiting page.
'use strict';
(function () {
  var T = {
    ko: {
      brand: 'edgegate 운영 콘솔', other: 'English', title: '운영 콘솔',
      signOut: '로그아웃', signInTitle: '로그인',
      signInHelp: '관리자 토큰을 입력하세요. 토큰은 30분짜리 세션으로 바뀌며 이 페이지에 남지 않습니다.',
      token: '관리자 토큰', operator: '운영자 이름 (선택, 변경 기록에 남습니다)', signIn: '로그인',
      wrongToken: '토큰이 맞지 않습니다. 다시 확인해 주세요.', ended: '세션이 끝났습니다. 다시 로그인해 주세요.',
      unreachable: '게이트에 연결할 수 없습니다.',
      consoleTitle: '대기실 운영', live: '현재 상황', waiting: '대기 중', held: '보유 중인 자리',
      arrivals: '도착 /초', letThrough: '입장 /초 (설정 속도 대비)', active: '이용 중 (최대 대비)',
      serving: '현재 입장 순서', isolates: '최근 1분 아이솔레이트', locations: '최근 1분 지역',
      age: function (s) { return '수치는 ' + s + '초 전 기준'; },
      stale: function (s) { return '수치가 ' + s + '초 동안 갱신되지 않았습니다. 연결을 확인하는 중입니다.'; },
      servingAt: function (t, behind) { return t + ' 도착분 입장 중 (조정자 시계보다 ' + behind + '초 뒤)'; },
      of: function (a, b) { return a + ' / ' + b; },
      state: { open: '운영 중', paused: '입장 일시 중지', closed: '닫힘', prequeue: function (t) { return '접수 시작 예정: ' + t; } },
      storage: function (p) { return '저장소 문제: ' + p; },
      charts: '최근 1시간', chartThrough: '입장 /초 (점선: 설정 속도)', chartArrivals: '도착 /초', chartWaiting: '대기 중',
      historyLive: '이 페이지를 연 뒤 모은 초 단위 수치입니다.',
      historyBoth: '이 페이지를 열기 전은 분 단위 기록, 이후는 초 단위 수치입니다.',
      asTable: '표로 보기 (최근 분 단위)', tableCaption: '분 단위 합계 (최근 10분)', minute: '분',
      colArrivals: '도착', colThrough: '입장', colWaiting: '대기 중 (분 끝)',
      axisNow: '지금', axisHour: '60분 전',
      controls: '설정', rate: '분당 입장 인원', maxActive: '최대 동시 이용자', session: '이용 시간 (초)',
      burst: '순간 추가 입장 (burst)', apply: '적용', pause: '입장 일시 중지', resume: '입장 재개',
      close: '대기실 닫기', open: '대기실 열기', opensAt: '접수 시작 예약 (이 컴퓨터의 시간대)',
      schedule: '예약', clearSchedule: '예약 취소', cancel: '취소', confirm: '계속',
      slotsRemaining: '남은 예약 자리 (모르면 비워 두기)', nextRelease: '다음 예약 시작 (이 컴퓨터의 시간대, 없으면 비워 두기)',
      applySlots: '자리 설정',
      confirmRate: function (a, b) { return '분당 입장 인원을 ' + a + '에서 ' + b + '(으)로 10배 이상 올립니다. 계속할까요?'; },
      confirmClose: '대기실을 닫으면 새로 입장하는 사람이 없고, 대기 중인 사람들에게 나중에 다시 오라고 안내합니다. 계속할까요?',
      confirmClear: '예약된 접수 시작을 취소합니다. 사전 대기열은 바로 일반 대기열이 됩니다. 계속할까요?',
      noChange: '바뀐 값이 없습니다.', done: '적용했습니다.', pickTime: '시각을 골라 주세요.',
      audit: '변경 기록', auditMissing: '이 게이트에서는 변경 기록을 볼 수 없습니다.', auditEmpty: '아직 기록이 없습니다.',
      unknown: '알 수 없음',
      room: '방', roomDefault: function (n) { return n + ' (기본)'; },
      newestWait: '가장 최근 도착자의 대기 시간 (추정)', newestWaitHow: '추정치: 대기 중 ÷ 초당 설정 속도',
      aboutMin: function (n) { return '약 ' + n + '분'; }, underMin: '1분 미만',
      edge: '에지 지역과 원 서버',
      originHead: function (s) { return '에지에서 본 원 서버 (' + (s === 60 ? '최근 1분' : '최근 ' + s + '초') + ')'; },
      oRequests: '요청', o5xx: '5xx 오류', oTimeouts: '시간 초과', oLatency: '응답 시간 p50 / p90 / p99',
      oPilot: '자동 조절', pilotOff: '꺼짐: 설정한 입장 속도 그대로',
      pilotOn: function (f, c, p, e) { return '켜짐: 분당 ' + f + '–' + c + '명, 응답 시간 p95 ' + p + 'ms 이내, 실패 ' + e + ' 이하'; },
      pilotLast: function (w, a, b, why) { return '마지막 변경 ' + w + ': ' + a + ' → ' + b + ' (' + why + ')'; },
      pilotHold: function (w) { return '원 서버의 요청으로 ' + w + '까지 올리지 않음'; },
      autopilotWho: '자동 조절',
      oSlots: '남은 예약 자리', slotsUnknown: '알 수 없음 (대기 중인 사람에게 자리 안내를 하지 않음)',
      slotsLeft: function (n, m) { return n + '자리, 줄에서 ' + m + '명까지 더 입장 가능 (그 뒤는 자리가 찼다고 안내)'; },
      slotsNext: function (w) { return '다음 예약 ' + w; },
      ms: function (n) { return n + 'ms'; },
      originBad: function (e, o) { return '주의: 원 서버에 문제가 있습니다. 5xx 오류 ' + e + '건, 시간 초과 ' + o + '건.'; },
      placesCaption: '보고 중인 지역 (아이솔레이트가 많은 순)', placeName: '지역', placeIsolates: '아이솔레이트',
      placeSync: '마지막 동기화 (초 전)', more: function (n) { return '외 ' + n + '곳 더'; }, noPlaces: '보고 중인 지역이 없습니다.',
      exportLabel: '기록 내려받기 (분 단위, 최근 14일)', exportCsv: 'CSV 내려받기', exportJson: 'JSON 내려받기',
      exported: function (f) { return f + ' 파일을 내려받았습니다.'; },
      exportFailed: function (s) { return '내려받지 못했습니다 (' + s + ').'; },
      revoke: '입장권 회수',
      revokeHelp: '회수한 입장권과 대기 번호는 한두 번의 동기화 안에 모든 에지에서 거절되며 되돌릴 수 없습니다. 그 사람은 다시 줄을 설 수 있습니다.',
      revokeTicket: '접수 번호 (대기 화면에 보이는 XXXX-XXXX)', revokeOne: '회수',
      revokeBefore: '이 시각 전에 발급된 입장권 모두 회수 (이 컴퓨터의 시간대)', revokeAll: '모두 회수',
      confirmRevokeOne: function (r) { return '접수 번호 ' + r + '의 대기 번호와 입장권을 회수합니다. 되돌릴 수 없습니다. 계속할까요?'; },
      confirmRevokeAll: function (w) { return w + ' 전에 발급된 대기 번호와 입장권을 모두 회수합니다. 그 전에 온 사람은 모두 다시 줄을 서야 하며, 되돌릴 수 없습니다. 계속할까요?'; },
      needTicket: '접수 번호를 입력해 주세요.', notFuture: '앞으로의 시각은 고를 수 없습니다. 이미 지난 시각을 골라 주세요.',
      revokedOne: function (r, fresh) { return fresh ? r + ' 을(를) 회수했습니다.' : r + ' 은(는) 이미 회수되어 있었습니다.'; },
      revokedAll: function (w) { return w + ' 전에 발급된 입장권을 모두 회수했습니다.'; },
      auditBefore: function (w) { return w + ' 전 발급분'; },
      networks: '네트워크별 자리',
      networksHelp: '게이트는 주소를 보관하지 않습니다. 네트워크마다 자리 수와 주소 종류만 셉니다.',
      nHolding: '자리를 가진 네트워크', nFull: '예산이 찬 네트워크',
      nAsked: '작업 증명 요구 (누적)', nShown: '작업 증명 통과 (누적)',
      nBudgets: '작업 없이 가질 수 있는 자리 (네트워크당)',
      budgetsAre: function (v6, v4) { return 'IPv6 /64당 ' + v6 + ' · IPv4 주소당 ' + v4; },
      overBudget: '예산을 넘는 새 자리는 작업 증명을 거칩니다.',
      forAll: '지금은 네트워크와 관계없이 모든 새 자리가 작업 증명을 거칩니다.',
      fullWarn: function (n, s) { return '예산이 찬 네트워크 ' + s + '곳: 이 네트워크의 새 자리는 작업 증명을 거칩니다.'; },
      netsCaption: '자리가 가장 많은 네트워크', netRank: '순위', netFamily: '주소 종류', netPlaces: '자리 (예산 대비)',
      v6: 'IPv6 /64', v4: 'IPv4 주소', noNets: '자리를 가진 네트워크가 없습니다.',
      sessionMax: '최장 이용 시간, 연장 포함 (초)', budgetsLegend: '네트워크별 예산 (넘으면 작업 증명)',
      budgetV6: 'IPv6 /64당 자리 (작업 없이)', budgetV4: 'IPv4 주소당 자리 (작업 없이)',
      workForAll: '모든 새 자리에 작업 증명 요구'
    },
    en: {
      brand: 'edgegate operator console', other: '한국어', title: 'Operator console',
      signOut: 'Sign out', signInTitle: 'Sign in',
      signInHelp: 'Enter the admin token. It is exchanged for a 30-minute session and not kept in this page.',
      token: 'Admin token', operator: 'Your name (optional, recorded in the audit log)', signIn: 'Sign in',
      wrongToken: 'That token is not right. Please check it and try again.', ended: 'Your session has ended. Please sign in again.',
      unreachable: 'The gate cannot be reached.',
      consoleTitle: 'Running the waiting room', live: 'Now', waiting: 'Waiting', held: 'Places held',
      arrivals: 'Arrivals /s', letThrough: 'Let through /s (against the rate)', active: 'Active (against the maximum)',
      serving: 'Now serving', isolates: 'Isolates, last minute', locations: 'Locations, last minute',
      age: function (s) { return 'Figures are ' + s + ' s old'; },
      stale: function (s) { return 'No fresh figures for ' + s + ' s. Checking the connection.'; },
      servingAt: function (t, behind) { return 'arrivals of ' + t + ' (' + behind + ' s behind the coordinator clock)'; },
      of: function (a, b) { return a + ' of ' + b; },
      state: { open: 'Open', paused: 'Entry paused', closed: 'Closed', prequeue: function (t) { return 'Opens at ' + t; } },
      storage: function (p) { return 'Storage problem: ' + p; },
      charts: 'The last hour', chartThrough: 'Let through /s (dashed: the rate)', chartArrivals: 'Arrivals /s', chartWaiting: 'Waiting',
      historyLive: 'Per-second figures collected since this page was opened.',
      historyBoth: 'Per-minute history before this page was opened, per-second figures since.',
      asTable: 'Show as a table (recent minutes)', tableCaption: 'Per-minute totals (last 10 minutes)', minute: 'Minute',
      colArrivals: 'Arrivals', colThrough: 'Let through', colWaiting: 'Waiting at its end',
      axisNow: 'now', axisHour: '60 min ago',
      controls: 'Settings', rate: 'New users per minute', maxActive: 'Most active at once', session: 'Session duration (s)',
      burst: 'Burst', apply: 'Apply', pause: 'Pause entry', resume: 'Resume entry',
      close: 'Close the room', open: 'Open the room', opensAt: 'Schedule the opening (this computer\u2019s time zone)',
      schedule: 'Schedule', clearSchedule: 'Clear schedule', cancel: 'Cancel', confirm: 'Go ahead',
      slotsRemaining: 'Slots left (empty if not known)', nextRelease: 'Next release (this computer\u2019s time zone, empty if none)',
      applySlots: 'Set slots',
      confirmRate: function (a, b) { return 'This raises new users per minute from ' + a + ' to ' + b + ', ten times or more. Go ahead?'; },
      confirmClose: 'Closing the room admits nobody new and tells everyone waiting to come back later. Go ahead?',
      confirmClear: 'This clears the scheduled opening: the pre-queue becomes the ordinary line at once. Go ahead?',
      noChange: 'Nothing was changed.', done: 'Applied.', pickTime: 'Please pick a time.',
      audit: 'Audit log', auditMissing: 'Not available on this gate.', auditEmpty: 'No entries yet.',
      unknown: 'unknown',
      room: 'Room', roomDefault: function (n) { return n + ' (default)'; },
      newestWait: 'Newest arrival\u2019s wait (estimate)', newestWaitHow: 'An estimate: waiting \u00f7 the set rate per second',
      aboutMin: function (n) { return 'about ' + n + ' min'; }, underMin: 'under a minute',
      edge: 'Edge locations and the origin',
      originHead: function (s) { return 'The origin as the edge sees it (' + (s === 60 ? 'last minute' : 'last ' + s + ' s') + ')'; },
      oRequests: 'Requests', o5xx: '5xx errors', oTimeouts: 'Timeouts', oLatency: 'Latency p50 / p90 / p99',
      oPilot: 'Autopilot', pilotOff: 'off: the rate you set',
      pilotOn: function (f, c, p, e) { return 'on: ' + f + '–' + c + ' a minute, p95 within ' + p + ' ms, at most ' + e + ' failed'; },
      pilotLast: function (w, a, b, why) { return 'last change ' + w + ': ' + a + ' → ' + b + ' (' + why + ')'; },
      pilotHold: function (w) { return 'no raise before ' + w + ' (the origin asked)'; },
      autopilotWho: 'autopilot',
      oSlots: 'Slots left', slotsUnknown: 'not known (nobody in line is told about slots)',
      slotsLeft: function (n, m) { return n + '; up to ' + m + ' more in line can be let through (the rest are told the slots are taken)'; },
      slotsNext: function (w) { return 'next release ' + w; },
      ms: function (n) { return n + ' ms'; },
      originBad: function (e, o) { return 'Warning: the origin is failing. 5xx errors: ' + e + ', timeouts: ' + o + '.'; },
      placesCaption: 'Locations reporting (most isolates first)', placeName: 'Location', placeIsolates: 'Isolates',
      placeSync: 'Last sync (s ago)', more: function (n) { return '+' + n + ' more'; }, noPlaces: 'No location is reporting.',
      exportLabel: 'Download the history (per minute, last 14 days)', exportCsv: 'Download CSV', exportJson: 'Download JSON',
      exported: function (f) { return 'Downloaded ' + f + '.'; },
      exportFailed: function (s) { return 'The download failed (' + s + ').'; },
      revoke: 'Withdraw passes',
      revokeHelp: 'A withdrawn ticket or pass is refused at every edge within a sync or two, and cannot be given back; its holder may queue again.',
      revokeTicket: 'Ticket number (XXXX-XXXX, as the waiting page shows it)', revokeOne: 'Withdraw',
      revokeBefore: 'Withdraw every pass issued before (this computer\u2019s time zone)', revokeAll: 'Withdraw all',
      confirmRevokeOne: function (r) { return 'This withdraws ticket ' + r + ' and its pass. It cannot be undone. Go ahead?'; },
      confirmRevokeAll: function (w) { return 'This withdraws every ticket and pass issued before ' + w + ': everyone who came before then must queue again. It cannot be undone. Go ahead?'; },
      needTicket: 'Please enter a ticket number.', notFuture: 'That time is in the future: pick one that has passed.',
      revokedOne: function (r, fresh) { return fresh ? 'Withdrew ' + r + '.' : r + ' was already withdrawn.'; },
      revokedAll: function (w) { return 'Withdrew every pass issued before ' + w + '.'; },
      auditBefore: function (w) { return 'issued before ' + w; },
      networks: 'Places by network',
      networksHelp: 'The gate keeps no address: only how many places each network holds, and its address family.',
      nHolding: 'Networks holding places', nFull: 'Networks at their budget',
      nAsked: 'Work asked (total)', nShown: 'Work shown (total)',
      nBudgets: 'Places without work, per network',
      budgetsAre: function (v6, v4) { return v6 + ' per IPv6 /64 · ' + v4 + ' per IPv4 address'; },
      overBudget: 'A new place beyond its network\u2019s budget must show work.',
      forAll: 'Every new place must show work now, whatever its network.',
      fullWarn: function (n, s) {
        return n === 1 ? 'One network holds its budget: its new places must show work.'
          : s + ' networks hold their budget: their new places must show work.';
      },
      netsCaption: 'The networks holding the most places', netRank: 'Rank', netFamily: 'Address family',
      netPlaces: 'Places (of its budget)',
      v6: 'IPv6 /64', v4: 'IPv4 address', noNets: 'No network holds a place.',
      sessionMax: 'Longest session, renewals included (s)', budgetsLegend: 'Network budgets (beyond them, work)',
      budgetV6: 'Places per IPv6 /64 without work', budgetV4: 'Places per IPv4 address without work',
      workForAll: 'Every new place must show work'
    }
  };
  var STORE = 'edgegate.';
  // One request per second per open tab is the console's cost to the room coordinator (each
  // /admin/state call is answered by the one coordinator of the room); it keeps the figures
  // under 2 s old. Keep it at 1 s.
  var POLL_MS = 1000;
  var AUDIT_MS = 15000;
  var HOUR_MS = 3600 * 1000;
  var SLOTS = ['slots_remaining', 'next_release_at'];
  var LIMITS = ['new_users_per_minute', 'max_active', 'session_duration_s', 'burst', 'session_max_s',
    'budget_v6', 'budget_v4'];
  // Settings that are a checkbox.
  var FLAGS = ['work_for_all'];
  var $ = function (id) { return document.getElementById(id); };
  var lang = pickLanguage();
  var last = null;          // the last /admin/state answer
  var lastAt = 0;           // when it arrived (performance.now())
  var lastRtt = 0;          // its round trip, in ms
  var samples = [];         // per-second samples: {t, arr, thr, waiting}
  var history = null;       // per-minute history from /admin/history, if the gate has it
  var auditEntries = null;  // null: not asked yet; false: not on this gate
  var pollTimer = 0, auditTimer = 0, ageTimer = 0, signedIn = false, dirty = {};
  var failed = '';
  // The room the console acts on when the gate has several (sent as ?room=); null: the default,
  // named by no parameter. `gen` counts room switches, so a late answer about another is dropped.
  var room = sget('room') || null;
  var rooms = null;         // /admin/rooms' list, once asked
  var gen = 0;
  var MAX_PLACES = 20;
  // The networks holding the most places that the networks panel lists (the gate sends ten).
  var MAX_NETS = 5;

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
  function locale() { return lang === 'ko' ? 'ko-KR' : 'en-US'; }
  function num(n, digits) {
    return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits || 0, minimumFractionDigits: digits || 0 }).format(n);
  }
  /** HH:MM:SS on this computer's clock, the same in both languages (no "1시 50분 0초"). */
  function clock(ms) {
    var d = new Date(ms), p = function (n) { return (n < 10 ? '0' : '') + n; };
    return p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  }
  function when(ms) {
    return new Date(ms).toLocaleString(locale(), { hour12: false, year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }
  function text(id, value) { var el = $(id); if (el.textContent !== value) el.textContent = value; }

  // --- talking to the gate ---------------------------------------------------------------

  /** A call to the admin API with the session cookie, the console's header and the operator. */
  function call(method, path, body) {
    var headers = { 'X-Edgegate-Console': '1' };
    var who = sget('operator');
    // Header values must be Latin-1: a Korean name travels percent-encoded.
    if (who) headers['Edgegate-Operator'] = /^[\x20-\x7e]*$/.test(who) ? who : encodeURIComponent(who);
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    return fetch(withRoom(path), {
      method: method, headers: headers, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (res) {
      return res.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
        if (res.status === 401 && path !== '/admin/session') signOutLocally(T[lang].ended);
        return { status: res.status, data: data, text: t };
      });
    });
  }

  /** `path` with the chosen room, for every call that acts on a room. */
  function withRoom(path) {
    if (!room || path.indexOf('/admin/session') === 0 || path === '/admin/rooms') return path;
    return path + (path.indexOf('?') < 0 ? '?' : '&') + 'room=' + encodeURIComponent(room);
  }

  function defaultRoom() {
    for (var i = 0; rooms && i < rooms.length; i++) if (rooms[i]['default']) return rooms[i].name;
    return null;
  }

  /** Asks which rooms the gate has: a picker when there are several, none with one. */
  function loadRooms() {
    call('GET', '/admin/rooms').then(function (r) {
      rooms = r.status === 200 && r.data && Array.isArray(r.data.rooms) ? r.data.rooms : null;
      var was = room || defaultRoom();
      if (!rooms || rooms.length < 2) {
        if (room) { room = null; sput('room', ''); if (rooms) begin(); }
      } else {
        var known = rooms.some(function (x) { return x.name === room; });
        if (!known) room = defaultRoom() || rooms[0].name;
        sput('room', room);
        if (room !== was) begin();
      }
      renderRooms();
    }, function () { /* no picker */ });
  }

  function renderRooms() {
    var box = $('room-picker'), pick = $('room-pick');
    var several = !!(rooms && rooms.length > 1 && signedIn);
    box.hidden = !several;
    if (!several) return;
    var t = T[lang];
    var labels = rooms.map(function (x) { return x['default'] ? t.roomDefault(x.name) : x.name; });
    var key = JSON.stringify(labels);
    if (pick.getAttribute('data-rooms') !== key) {
      pick.setAttribute('data-rooms', key);
      while (pick.firstChild) pick.removeChild(pick.firstChild);
      rooms.forEach(function (x, i) {
        var o = document.createElement('option');
        o.value = x.name; o.textContent = labels[i];
        pick.appendChild(o);
      });
    }
    pick.value = room || defaultRoom() || '';
  }

  function signIn(ev) {
    ev.preventDefault();
    var input = $('token');
    var name = $('operator').value.trim();
    text('signin-error', '');
    // The token goes out in the body once, and the field is emptied at once: it is not kept.
    var body = { token: input.value };
    input.value = '';
    call('POST', '/admin/session', body).then(function (r) {
      body = null;
      if (r.status === 204) {
        sput('operator', name);
        start();
      } else {
        text('signin-error', r.status === 401 ? T[lang].wrongToken : T[lang].unreachable + ' (' + r.status + ')');
        input.focus();
      }
    }, function () { body = null; text('signin-error', T[lang].unreachable); });
  }

  function signOut() {
    call('POST', '/admin/session/end').then(function () { signOutLocally(''); }, function () { signOutLocally(''); });
  }

  function signOutLocally(message) {
    signedIn = false;
    clearTimeout(pollTimer); clearInterval(auditTimer); clearInterval(ageTimer);
    $('console').hidden = true; $('signout').hidden = true; $('signin').hidden = false;
    $('room-picker').hidden = true;
    text('signin-error', message);
  }

  function start() {
    signedIn = true;
    $('signin').hidden = true; $('console').hidden = false; $('signout').hidden = false;
    loadRooms();
    clearInterval(auditTimer); auditTimer = setInterval(loadAudit, AUDIT_MS);
    clearInterval(ageTimer); ageTimer = setInterval(showAge, 250);
    begin();
  }

  /** Starts over on the chosen room: its figures, history and audit, with no samples yet. */
  function begin() {
    gen++;
    var mine = gen;
    samples = []; last = null; lastAt = 0; history = null; auditEntries = null; dirty = {}; failed = '';
    ['f-waiting', 'f-held', 'f-arrivals', 'f-through', 'f-active', 'f-serving', 'f-isolates', 'f-locations', 'f-wait',
      'n-holding', 'n-full', 'n-asked', 'n-shown', 'n-budgets']
      .forEach(function (id) { text(id, '–'); });
    ['c-through', 'c-arrivals', 'c-waiting'].forEach(function (id) { var svg = $(id); while (svg.firstChild) svg.removeChild(svg.firstChild); });
    $('edge').hidden = true;
    $('networks').hidden = true;
    clearErrors(); clearRevoke();
    text('export-status', '');
    call('GET', '/admin/history').then(function (r) {
      if (mine !== gen) return;
      history = r.status === 200 && r.data && Array.isArray(r.data.minutes) ? r.data.minutes : null;
      draw();
    }, function () { if (mine === gen) history = null; });
    loadAudit();
    poll();
  }

  function poll() {
    clearTimeout(pollTimer);
    if (!signedIn) return;
    var sent = performance.now(), mine = gen;
    call('GET', '/admin/state').then(function (r) {
      if (mine !== gen) return;
      if (r.status === 200 && r.data) {
        lastRtt = performance.now() - sent;
        lastAt = performance.now();
        failed = '';
        take(r.data);
      } else if (r.status !== 401) {
        failed = T[lang].unreachable + ' (' + r.status + ')';
      }
    }, function () { if (mine === gen) failed = T[lang].unreachable; }).then(function () {
      if (signedIn && mine === gen) pollTimer = setTimeout(poll, POLL_MS);
      showAge();
    });
  }

  /** Keeps one sample per answer: rates are differences of the coordinator's running totals. */
  function take(s) {
    var prev = last;
    last = s;
    if (prev && s.now > prev.now) {
      var dt = (s.now - prev.now) / 1000;
      samples.push({
        t: s.now,
        arr: Math.max(0, s.counters.seated_total - prev.counters.seated_total) / dt,
        thr: Math.max(0, s.counters.let_through_total - prev.counters.let_through_total) / dt,
        arrN: Math.max(0, s.counters.seated_total - prev.counters.seated_total),
        thrN: Math.max(0, s.counters.let_through_total - prev.counters.let_through_total),
        waiting: s.counters.waiting
      });
      while (samples.length && samples[0].t < s.now - HOUR_MS) samples.shift();
    }
    render();
  }

  // --- showing it ---------------------------------------------------------------------------

  function render() {
    var t = T[lang];
    document.documentElement.lang = lang;
    document.title = t.title + ' · edgegate';
    var toggle = $('lang');
    toggle.hidden = false;
    toggle.lang = lang === 'ko' ? 'en' : 'ko';
    text('lang', t.other);
    var labelled = document.querySelectorAll('[data-t]');
    for (var i = 0; i < labelled.length; i++) {
      var v = t[labelled[i].getAttribute('data-t')];
      if (typeof v === 'string' && labelled[i].textContent !== v) labelled[i].textContent = v;
    }
    renderRooms();
    var s = last;
    if (!s) { showAge(); return; }
    var c = s.counters, cfg = s.config;
    var latest = samples.length ? samples[samples.length - 1] : null;
    text('f-waiting', num(c.waiting));
    text('f-held', num(c.held));
    text('f-arrivals', latest ? num(latest.arr, 1) : '–');
    text('f-through', t.of(latest ? num(latest.thr, 1) : '–', num(cfg.new_users_per_minute / 60, 1)));
    text('f-active', t.of(num(c.active), num(cfg.max_active)));
    text('f-serving', t.servingAt(clock(s.cursor.bucket * 1000), num(Math.max(0, Math.round(s.now / 1000 - s.cursor.bucket)))));
    text('f-isolates', num(c.isolates_last_minute));
    text('f-locations', num(c.locations_last_minute));
    // The newest arrival waits for everyone ahead to go through at the set rate: an estimate,
    // since no-shows shorten it and a cap on active users lengthens it.
    var perSecond = cfg.paused || cfg.closed ? 0 : cfg.new_users_per_minute / 60;
    var waitS = perSecond > 0 ? c.waiting / perSecond : NaN;
    text('f-wait', !isFinite(waitS) ? '—' : waitS < 60 ? t.underMin : t.aboutMin(num(Math.round(waitS / 60))));
    renderEdge(s);
    renderNetworks(s);
    var state = cfg.closed ? 'closed' : cfg.opens_at && cfg.opens_at > s.now ? 'prequeue' : cfg.paused ? 'paused' : 'open';
    var words = state === 'prequeue' ? t.state.prequeue(when(cfg.opens_at)) : t.state[state];
    if (cfg.paused && state !== 'paused') words += ' · ' + t.state.paused;
    $('room-state').setAttribute('data-state', state);
    text('room-state', words);
    text('pause', cfg.paused ? t.resume : t.pause);
    text('close', cfg.closed ? t.open : t.close);
    for (var j = 0; j < LIMITS.length; j++) {
      var input = $(LIMITS[j]);
      if (!dirty[LIMITS[j]] && document.activeElement !== input) input.value = String(cfg[LIMITS[j]]);
    }
    for (var k = 0; k < FLAGS.length; k++) {
      var box = $(FLAGS[k]);
      if (!dirty[FLAGS[k]] && document.activeElement !== box) box.checked = cfg[FLAGS[k]] === true;
    }
    if (!dirty.opens_at && document.activeElement !== $('opens_at')) $('opens_at').value = cfg.opens_at ? localInput(cfg.opens_at) : '';
    if (!dirty.slots_remaining && document.activeElement !== $('slots_remaining')) {
      $('slots_remaining').value = typeof cfg.slots_remaining === 'number' ? String(cfg.slots_remaining) : '';
    }
    if (!dirty.next_release_at && document.activeElement !== $('next_release_at')) {
      $('next_release_at').value = cfg.next_release_at ? localInput(cfg.next_release_at).slice(0, 16) : '';
    }
    text('history-note', history && history.length ? t.historyBoth : t.historyLive);
    showAge();
    draw();
    renderAudit();
  }

  /** The origin's figures and the locations reporting, when the gate's answer carries them. */
  function renderEdge(s) {
    var t = T[lang];
    var places = Array.isArray(s.locations) ? s.locations : null;
    var o = s.origin && typeof s.origin === 'object' ? s.origin : null;
    $('edge').hidden = !places && !o;
    $('origin-panel').hidden = !o;
    $('locations-panel').hidden = !places;
    if (o) {
      var n = function (v) { return typeof v === 'number' && isFinite(v) ? num(v) : '–'; };
      var lat = o.latency_ms || {};
      text('h-origin', t.originHead(typeof o.window_s === 'number' ? o.window_s : 60));
      text('o-requests', n(o.requests));
      text('o-5xx', n(o.errors_5xx));
      text('o-timeouts', n(o.timeouts));
      text('o-latency', [lat.p50, lat.p90, lat.p99].map(function (v) { return typeof v === 'number' ? t.ms(num(v)) : '–'; }).join(' / '));
      var e5 = o.errors_5xx > 0, to = o.timeouts > 0;
      $('o-5xx').classList.toggle('bad', e5);
      $('o-timeouts').classList.toggle('bad', to);
      $('origin-trouble').hidden = !e5 && !to;
      text('origin-trouble', e5 || to ? t.originBad(n(o.errors_5xx || 0), n(o.timeouts || 0)) : '');
      var p = s.autopilot && typeof s.autopilot === 'object' ? s.autopilot : null;
      var lines = [];
      if (p) {
        var pm = typeof p.max_errors_per_mille === 'number' ? p.max_errors_per_mille : 0;
        lines.push(t.pilotOn(n(p.floor_per_minute), n(p.ceiling_per_minute), n(p.target_p95_ms), (pm / 10).toFixed(1) + ' %'));
        var lc = p.last_change;
        if (lc && typeof lc === 'object') lines.push(t.pilotLast(when(lc.at), n(lc.from), n(lc.to), String(lc.why || '')));
        if (typeof p.holding_until === 'number') lines.push(t.pilotHold(when(p.holding_until)));
      } else {
        lines.push(t.pilotOff);
      }
      text('o-pilot', lines.join(' · '));
      var cfg = s.config || {};
      var slots = typeof cfg.slots_remaining === 'number'
        ? t.slotsLeft(n(cfg.slots_remaining), n(typeof s.slots_left === 'number' ? s.slots_left : 0))
        : t.slotsUnknown;
      if (typeof cfg.next_release_at === 'number') slots += ' · ' + t.slotsNext(when(cfg.next_release_at));
      text('o-slots', slots);
    }
    if (places) {
      var sorted = places.slice().sort(function (a, b) {
        return (b.isolates || 0) - (a.isolates || 0) || String(a.location).localeCompare(String(b.location));
      });
      var rows = sorted.slice(0, MAX_PLACES).map(function (p) {
        return [String(p.location), num(p.isolates || 0),
          typeof p.synced_ms_ago === 'number' ? num(p.synced_ms_ago / 1000, 1) : '–'];
      });
      fill($('places').tBodies[0], rows);
      var more = sorted.length - rows.length;
      text('places-more', more > 0 ? t.more(num(more)) : sorted.length ? '' : t.noPlaces);
    }
  }

  /**
   * The client networks: how many hold places and how many their budget, the largest few by
   * their counts and address families (the gate sends no address or tag), the work asked and
   * shown, and the budgets in force.
   */
  function renderNetworks(s) {
    var t = T[lang];
    var nets = s.networks && typeof s.networks === 'object' ? s.networks : null;
    $('networks').hidden = !nets;
    if (!nets) return;
    var n = function (v) { return typeof v === 'number' && isFinite(v) ? num(v) : '–'; };
    text('n-holding', n(nets.holding));
    text('n-full', n(nets.full));
    $('n-full').classList.toggle('bad', nets.full > 0);
    text('n-asked', n(nets.work_asked_total));
    text('n-shown', n(nets.work_shown_total));
    text('n-budgets', t.budgetsAre(n(nets.budget_v6), n(nets.budget_v4)));
    text('n-for-all', nets.work_for_all ? t.forAll : t.overBudget);
    $('networks-trouble').hidden = !(nets.full > 0);
    text('networks-trouble', nets.full > 0 ? t.fullWarn(nets.full, num(nets.full)) : '');
    var top = Array.isArray(nets.top) ? nets.top : [];
    var rows = top.slice(0, MAX_NETS).map(function (x, i) {
      return [num(i + 1), x.ipv4 ? t.v4 : t.v6, t.of(n(x.places), n(x.ipv4 ? nets.budget_v4 : nets.budget_v6))];
    });
    fill($('nets').tBodies[0], rows);
    $('nets').hidden = rows.length === 0;
    text('nets-none', rows.length ? '' : t.noNets);
  }

  /** Replaces a table body's rows (the first cell a row header), unless they are the same. */
  function fill(body, rows) {
    var key = JSON.stringify(rows);
    if (body.getAttribute('data-rows') === key) return;
    body.setAttribute('data-rows', key);
    while (body.firstChild) body.removeChild(body.firstChild);
    rows.forEach(function (cells) {
      var tr = document.createElement('tr');
      cells.forEach(function (c, n) {
        var td = document.createElement(n === 0 ? 'th' : 'td');
        if (n === 0) td.setAttribute('scope', 'row');
        td.textContent = c;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  /**
   * How old the figures are: the coordinator read its clock (`now`) at most one round trip
   * before the answer arrived, so the age is counted on this computer's own clock from then,
   * which a skewed clock here cannot distort.
   */
  function showAge() {
    var t = T[lang];
    var problems = [];
    if (last && last.storage && last.storage.problem) problems.push(t.storage(last.storage.problem));
    if (!last) { text('age', ''); }
    else {
      var age = (performance.now() - lastAt + lastRtt / 2) / 1000;
      text('age', t.age(num(age, 1)));
      $('age').classList.toggle('old', age > 2);
      if (age > 2) problems.push(t.stale(num(Math.floor(age))));
    }
    if (failed) problems.push(failed);
    $('trouble').hidden = problems.length === 0;
    text('trouble', problems.join(' '));
  }

  /** Points of one series over the last hour: the history's minutes first, then the samples. */
  function series(key) {
    var pts = [];
    var first = samples.length ? samples[0].t : Infinity;
    if (history) {
      for (var i = 0; i < history.length; i++) {
        var m = history[i];
        if (m.minute + 60000 > first) continue;
        var v = key === 'waiting' ? m.waiting : key === 'arr' ? m.arrivals / 60 : m.let_through / 60;
        pts.push([m.minute + 30000, v]);
      }
    }
    for (var j = 0; j < samples.length; j++) pts.push([samples[j].t, samples[j][key]]);
    return pts;
  }

  function draw() {
    if (!last) return;
    var rate = last.config.new_users_per_minute / 60;
    chart('c-through', series('thr'), rate);
    chart('c-arrivals', series('arr'), null);
    chart('c-waiting', series('waiting'), null);
    table();
  }

  var SVG = 'http://www.w3.org/2000/svg';
  function el(name, attrs, body) {
    var e = document.createElementNS(SVG, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (body !== undefined) e.textContent = body;
    return e;
  }

  /** A line over the last hour (x: time, y: from 0), with its scale written on the axes. */
  function chart(id, pts, level) {
    var svg = $(id), W = 600, H = 150, L = 48, R = 8, TOP = 12, B = 24;
    var end = last.now, begin = end - HOUR_MS;
    var max = level || 0;
    for (var i = 0; i < pts.length; i++) if (pts[i][1] > max) max = pts[i][1];
    max = max > 0 ? max * 1.1 : 1;
    var x = function (t) { return L + (W - L - R) * Math.max(0, t - begin) / HOUR_MS; };
    var y = function (v) { return TOP + (H - TOP - B) * (1 - v / max); };
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    svg.appendChild(el('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, 'class': 'axis' }));
    svg.appendChild(el('line', { x1: L, x2: L, y1: TOP, y2: H - B, 'class': 'axis' }));
    svg.appendChild(el('text', { x: L - 4, y: TOP + 4, 'text-anchor': 'end', 'class': 'tick' }, num(max, max < 1 ? 2 : max < 10 ? 1 : 0)));
    svg.appendChild(el('text', { x: L - 4, y: H - B, 'text-anchor': 'end', 'class': 'tick' }, '0'));
    svg.appendChild(el('text', { x: L, y: H - 6, 'class': 'tick' }, T[lang].axisHour));
    svg.appendChild(el('text', { x: W - R, y: H - 6, 'text-anchor': 'end', 'class': 'tick' }, T[lang].axisNow));
    if (level !== null) {
      svg.appendChild(el('line', { x1: L, x2: W - R, y1: y(level), y2: y(level), 'class': 'level' }));
    }
    var d = [];
    for (var j = 0; j < pts.length; j++) if (pts[j][0] >= begin) d.push(x(pts[j][0]).toFixed(1) + ',' + y(pts[j][1]).toFixed(1));
    if (d.length) svg.appendChild(el('polyline', { points: d.join(' '), 'class': 'line' }));
  }

  /** The text alternative to the charts: per-minute totals of the last ten minutes. */
  function table() {
    var minutes = {};
    if (history) {
      for (var i = 0; i < history.length; i++) {
        var m = history[i];
        minutes[m.minute] = { arr: m.arrivals, thr: m.let_through, waiting: m.waiting };
      }
    }
    var firstLive = samples.length ? Math.floor(samples[0].t / 60000) * 60000 : Infinity;
    for (var j = 0; j < samples.length; j++) {
      var key = Math.floor(samples[j].t / 60000) * 60000;
      if (!minutes[key] || key >= firstLive) {
        if (!minutes[key] || minutes[key].live !== true) minutes[key] = { arr: 0, thr: 0, waiting: 0, live: true };
        minutes[key].arr += samples[j].arrN; minutes[key].thr += samples[j].thrN; minutes[key].waiting = samples[j].waiting;
      }
    }
    var keys = Object.keys(minutes).map(Number).sort(function (a, b) { return b - a; }).slice(0, 10);
    var body = $('minutes').tBodies[0];
    var rows = keys.map(function (k) {
      var r = minutes[k];
      return [clock(k).slice(0, 5), num(r.arr), num(r.thr), num(r.waiting)];
    });
    fill(body, rows);
  }

  // --- controls ----------------------------------------------------------------------------

  /** Sends a change; a 400 naming a field is shown next to that field. */
  function change(patch, then) {
    clearErrors();
    return call('PUT', '/admin/config', patch).then(function (r) {
      if (r.status === 200) {
        text('control-done', T[lang].done);
        if (then) then();
        last = last ? Object.assign({}, last, { config: r.data }) : last;
        poll();
        loadAudit();
      } else if (r.status !== 401) {
        var msg = r.data && r.data.error ? r.data.error : String(r.status);
        var field = r.data && r.data.field && $('err-' + r.data.field);
        if (field) { field.textContent = msg; $(r.data.field).setAttribute('aria-invalid', 'true'); $(r.data.field).focus(); }
        else text('control-error', msg);
      }
    }, function () { text('control-error', T[lang].unreachable); });
  }

  function clearErrors() {
    text('control-error', ''); text('control-done', '');
    var fields = LIMITS.concat(FLAGS, ['opens_at'], SLOTS);
    for (var i = 0; i < fields.length; i++) { text('err-' + fields[i], ''); $(fields[i]).removeAttribute('aria-invalid'); }
  }

  /** Asks in a native dialog; resolves to whether the operator went ahead. */
  function confirmFirst(message, go) {
    var dialog = $('confirm');
    text('confirm-text', message);
    dialog.returnValue = '';
    dialog.addEventListener('close', function done() {
      dialog.removeEventListener('close', done);
      if (dialog.returnValue === 'ok') go();
    });
    dialog.showModal();
  }

  function applyLimits(ev) {
    ev.preventDefault();
    if (!last) return;
    var patch = {}, any = false;
    for (var i = 0; i < LIMITS.length; i++) {
      var raw = $(LIMITS[i]).value.trim();
      var v = raw === '' ? NaN : Number(raw);
      // Anything not a whole number goes as typed, for the gate to name what is wrong.
      var value = Number.isInteger(v) ? v : raw;
      if (value !== last.config[LIMITS[i]]) { patch[LIMITS[i]] = value; any = true; }
    }
    for (var j = 0; j < FLAGS.length; j++) {
      var on = $(FLAGS[j]).checked;
      if (on !== last.config[FLAGS[j]]) { patch[FLAGS[j]] = on; any = true; }
    }
    if (!any) { clearErrors(); text('control-done', T[lang].noChange); return; }
    var go = function () { change(patch, function () { dirty = {}; }); };
    var old = last.config.new_users_per_minute, now = patch.new_users_per_minute;
    if (typeof now === 'number' && now >= 10 * Math.max(old, 1)) confirmFirst(T[lang].confirmRate(num(old), num(now)), go);
    else go();
  }

  function localInput(ms) {
    var d = new Date(ms), p = function (n) { return (n < 10 ? '0' : '') + n; };
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  }

  function schedule(ev) {
    ev.preventDefault();
    var value = $('opens_at').value;
    // A datetime-local value without a zone is read in this computer's time zone.
    var ms = value ? new Date(value).getTime() : NaN;
    if (!isFinite(ms)) { clearErrors(); text('err-opens_at', T[lang].pickTime); return; }
    change({ opens_at: ms }, function () { dirty.opens_at = false; });
  }

  /** The slots left (empty: not known) and the next release (empty: none), as one change. */
  function applySlots(ev) {
    ev.preventDefault();
    var raw = $('slots_remaining').value.trim();
    var n = raw === '' ? null : Number(raw);
    // Anything not a whole number goes as typed, for the gate to name what is wrong.
    var slots = n === null || Number.isInteger(n) ? n : raw;
    var at = $('next_release_at').value;
    var ms = at ? new Date(at).getTime() : null;
    if (ms !== null && !isFinite(ms)) { clearErrors(); text('err-next_release_at', T[lang].pickTime); return; }
    change({ slots_remaining: slots, next_release_at: ms }, function () { dirty.slots_remaining = false; dirty.next_release_at = false; });
  }

  // --- withdrawing passes -------------------------------------------------------------------

  function clearRevoke() {
    ['revoke_ticket', 'revoke_before'].forEach(function (f) {
      text('err-' + f, ''); text('done-' + f, ''); $(f).removeAttribute('aria-invalid');
    });
  }

  function revokeError(field, message) {
    text('err-' + field, message);
    $(field).setAttribute('aria-invalid', 'true');
    $(field).focus();
  }

  function revokeOne(ev) {
    ev.preventDefault();
    clearRevoke();
    var ref = $('revoke_ticket').value.trim().toUpperCase();
    if (!ref) { revokeError('revoke_ticket', T[lang].needTicket); return; }
    confirmFirst(T[lang].confirmRevokeOne(ref), function () { sendRevoke({ ticket: ref }, 'revoke_ticket'); });
  }

  function revokeAll(ev) {
    ev.preventDefault();
    clearRevoke();
    var value = $('revoke_before').value;
    var ms = value ? new Date(value).getTime() : NaN;
    if (!isFinite(ms)) { revokeError('revoke_before', T[lang].pickTime); return; }
    // The gate refuses a future time too: it would turn away citizens who have not come yet.
    if (ms > Date.now()) { revokeError('revoke_before', T[lang].notFuture); return; }
    confirmFirst(T[lang].confirmRevokeAll(when(ms)), function () { sendRevoke({ before: ms }, 'revoke_before'); });
  }

  /** Sends a revocation; says what the gate answered next to the field, or its refusal. */
  function sendRevoke(body, field) {
    call('POST', '/admin/revoke', body).then(function (r) {
      var t = T[lang];
      if (r.status === 200) {
        var said = (r.data && r.data.revoked) || {};
        if (field === 'revoke_ticket') {
          text('done-' + field, t.revokedOne(said.ticket || body.ticket, said['new'] !== false));
          $(field).value = '';
        } else {
          text('done-' + field, t.revokedAll(when(typeof said.before === 'number' ? said.before : body.before)));
        }
        loadAudit();
      } else if (r.status !== 401) {
        revokeError(field, r.data && r.data.error ? r.data.error : String(r.status));
      }
    }, function () { revokeError(field, T[lang].unreachable); });
  }

  // --- exporting the history -----------------------------------------------------------------

  /** Fetches the history (with the session cookie and the console's header) and saves it. */
  function exportHistory(kind) {
    var t = T[lang];
    text('export-status', '');
    var named = String(room || defaultRoom() || 'room').replace(/[^A-Za-z0-9_.-]+/g, '-');
    var d = new Date(), p = function (n) { return (n < 10 ? '0' : '') + n; };
    var file = 'edgegate-' + named + '-history-' + d.getFullYear() + p(d.getMonth() + 1) + p(d.getDate()) + '.' + kind;
    call('GET', kind === 'csv' ? '/admin/history?format=csv' : '/admin/history').then(function (r) {
      if (r.status !== 200) { if (r.status !== 401) text('export-status', t.exportFailed(r.status)); return; }
      var blob = new Blob([r.text], { type: kind === 'csv' ? 'text/csv;charset=utf-8' : 'application/json' });
      var url = URL.createObjectURL(blob);
      var a = document.createElement('a');
      a.href = url; a.download = file; a.hidden = true;
      document.body.appendChild(a);
      a.click();
      document.body.removeChild(a);
      setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
      text('export-status', t.exported(file));
    }, function () { text('export-status', t.exportFailed(t.unreachable)); });
  }

  function loadAudit() {
    var mine = gen;
    call('GET', '/admin/audit').then(function (r) {
      if (mine !== gen) return;
      auditEntries = r.status === 200 && r.data && Array.isArray(r.data.entries) ? r.data.entries : r.status === 404 ? false : auditEntries;
      renderAudit();
    }, function () { /* shown as before */ });
  }

  function renderAudit() {
    var t = T[lang], list = $('audit');
    text('audit-note', auditEntries === false ? t.auditMissing : auditEntries && !auditEntries.length ? t.auditEmpty : '');
    var entries = auditEntries || [];
    var show = function (v) { return v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v); };
    var rows = entries.slice(-50).reverse().map(function (e) {
      var who = e.who === 'autopilot' ? t.autopilotWho : show(e.who || t.unknown);
      var head = (e.at ? when(e.at) : '') + ' · ' + who + ' · ' + show(e.what) + ': ';
      if (e.what === 'revoke' && e.to && typeof e.to === 'object') {
        if (e.to.ticket) return head + e.to.ticket;
        if (typeof e.to.before === 'number') return head + t.auditBefore(when(e.to.before));
      }
      return head + show(e.from) + ' → ' + show(e.to) + (typeof e.why === 'string' && e.why ? ' (' + e.why + ')' : '');
    });
    var key = JSON.stringify(rows);
    if (list.getAttribute('data-rows') === key) return;
    list.setAttribute('data-rows', key);
    while (list.firstChild) list.removeChild(list.firstChild);
    rows.forEach(function (r) { var li = document.createElement('li'); li.textContent = r; list.appendChild(li); });
  }

  // --- wiring --------------------------------------------------------------------------------

  $('signin-form').addEventListener('submit', signIn);
  $('signout').addEventListener('click', signOut);
  $('limits').addEventListener('submit', applyLimits);
  $('schedule').addEventListener('submit', schedule);
  LIMITS.concat(FLAGS, ['opens_at'], SLOTS).forEach(function (f) { $(f).addEventListener('input', function () { dirty[f] = true; }); });
  $('slots').addEventListener('submit', applySlots);
  $('pause').addEventListener('click', function () { if (last) change({ paused: !last.config.paused }); });
  $('close').addEventListener('click', function () {
    if (!last) return;
    if (last.config.closed) change({ closed: false });
    else confirmFirst(T[lang].confirmClose, function () { change({ closed: true }); });
  });
  $('clear-schedule').addEventListener('click', function () {
    if (!last || !last.config.opens_at) { $('opens_at').value = ''; return; }
    confirmFirst(T[lang].confirmClear, function () { change({ opens_at: null }, function () { dirty.opens_at = false; }); });
  });
  $('revoke-one').addEventListener('submit', revokeOne);
  $('revoke-all').addEventListener('submit', revokeAll);
  $('export-csv').addEventListener('click', function () { exportHistory('csv'); });
  $('export-json').addEventListener('click', function () { exportHistory('json'); });
  $('room-pick').addEventListener('change', function () {
    room = $('room-pick').value || null;
    sput('room', room || '');
    begin();
  });
  $('lang').addEventListener('click', function () {
    lang = lang === 'ko' ? 'en' : 'ko';
    put('lang', lang);
    render();
  });
  $('operator').value = sget('operator') || '';
  render();
  // Already signed in (a session cookie from earlier in this half hour)? Then straight in.
  call('GET', '/admin/state').then(function (r) {
    if (r.status === 200) { lastAt = performance.now(); start(); take(r.data); }
    else { $('signin').hidden = false; text('signin-error', ''); $('token').focus(); }
  }, function () { $('signin').hidden = false; text('signin-error', T[lang].unreachable); });
})();
