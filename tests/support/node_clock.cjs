'use strict';
// Preloaded into a Node server under test (NODE_OPTIONS=--require=<this file>, tests/support/node_clock.py):
// its clock (Date, setTimeout, setInterval) stands still at the real time of start and moves only when the
// test says so, so a test can let a server's timers run out without waiting for them. The test says so
// with `POST /advance?ms=<n>` on 127.0.0.1:$FAKE_CLOCK_PORT; the answer comes once every timer due by
// then has run (the work they start, such as S3 calls, goes on after).
const http = require('node:http');
const { mock } = require('node:test');

// The experimental-API warning is noise in the server's log; other warnings still print.
const emit = process.emitWarning;
process.emitWarning = (warning, ...rest) => {
  if (String(warning).includes('MockTimers')) return;
  emit.call(process, warning, ...rest);
};
mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: Date.now() });

const control = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://clock');
  const ms = Number(url.searchParams.get('ms'));
  if (req.method !== 'POST' || url.pathname !== '/advance' || !Number.isSafeInteger(ms) || ms < 0) {
    res.writeHead(400).end();
    return;
  }
  mock.timers.tick(ms);
  res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ now: Date.now() }));
});
control.listen(Number(process.env.FAKE_CLOCK_PORT), '127.0.0.1');
control.unref();
