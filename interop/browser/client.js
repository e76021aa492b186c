'use strict'
// Browser entry of the interop bridge test (bundled by build.js).
// Page query: ?address=<ws://...~shs:KEY>&appKey=<b64>&bytes=N&chunk=N&dataSeed=S[&seed=HEX32]
// Dials the address with multiserver's ws + shs plugins, sends N deterministic
// bytes (../js/data.js), reads the echo, compares, and publishes a result object
// shaped like `node.js connect` output in window.__result and #result.
const pull = require('pull-stream')
const Multiserver = require('multiserver')
const WS = require('multiserver/plugins/ws')
const Shs = require('multiserver/plugins/shs')
const SecretHandshake = require('secret-handshake')
const data = require('../js/data')

const MAINNET_APP_KEY = '1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s='
const q = new URLSearchParams(location.search)
const n = Number(q.get('bytes') || 1024)
const chunk = Number(q.get('chunk') || 65536)
const expected = data.generate(n, q.get('dataSeed') || 1)

function randomSeed () {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32)))
}
const keys = SecretHandshake.toKeys(q.get('seed') ? Buffer.from(q.get('seed'), 'hex') : randomSeed())
const appKey = Buffer.from(q.get('appKey') || MAINNET_APP_KEY, 'base64')
const ms = Multiserver([[WS({}), Shs({ keys, appKey })]])

const received = new Uint8Array(n)
let got = 0
let sent = 0
let stream = null
let mismatch = null
let waitingEnd = null
let finished = false
let ended = false // our sink has been ended (goodbye sent)

async function finish (err) {
  if (finished) return
  finished = true
  const digest = await crypto.subtle.digest('SHA-256', received.subarray(0, Math.min(got, n)) /* hash of what fit */)
  // Browsers drop WebSocket messages that arrive after close() (HTML spec), and
  // pull-websocket closes the socket as soon as our sink ends, so the server's
  // goodbye is normally lost ("unexpected hangup"): report it as closeError only.
  let closeError = null
  if (err && ended && !mismatch && got === n) { closeError = String(err.message || err); err = null }
  const ok = !err && !mismatch && got === n
  const result = {
    event: 'result', ok, sent, received: got,
    sha256: Buffer.from(digest).toString('hex'),
    remoteAddress: stream ? stream.address : null,
    remote: stream && stream.remote ? Buffer.from(stream.remote).toString('base64') : null,
    error: ok ? null : String(mismatch || (err && (err.message || err)) || 'received ' + got + ' of ' + n + ' bytes'),
    closeError
  }
  window.__result = result
  document.getElementById('result').textContent = JSON.stringify(result)
}

// Same flow as node.js connect: end our side only after the whole echo arrived.
function source (abort, cb) {
  if (abort) return cb(abort)
  if (sent < n) {
    const c = expected.subarray(sent, Math.min(n, sent + chunk))
    sent += c.length
    return cb(null, c)
  }
  if (got >= n || finished) { ended = true; return cb(true) }
  waitingEnd = cb
}
function onData (buf) {
  if (got + buf.length > n) mismatch = 'received more than ' + n + ' bytes'
  else {
    received.set(buf, got)
    if (!Buffer.from(buf).equals(expected.subarray(got, got + buf.length))) mismatch = 'data mismatch at bytes ' + got + '..' + (got + buf.length)
  }
  got += buf.length
  if (mismatch) { finish(null); return false } // report at once (returning false aborts the drain)
  if (got >= n && waitingEnd) { const cb = waitingEnd; waitingEnd = null; ended = true; cb(true) }
}

document.getElementById('status').textContent = 'connecting to ' + q.get('address')
setTimeout(() => finish(new Error('timeout in page')), Number(q.get('timeout') || 60000))
try {
  ms.client(q.get('address'), (err, s) => {
    if (err) return finish(err)
    stream = s
    pull(source, stream.sink)
    pull(stream.source, pull.drain(onData, (err) => finish(err)))
  })
} catch (e) {
  finish(e)
}
