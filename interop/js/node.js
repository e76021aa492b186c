#!/usr/bin/env node
'use strict'
// JS side of the Rust<->JS interop tests: a small CLI around multiserver 3.8.2.
// stdout carries only JSON lines (one object per line); diagnostics go to stderr.
// See ../README.md for the commands and the exact JSON formats.

const fs = require('fs')
const os = require('os')
const path = require('path')
const net = require('net')
const crypto = require('crypto')
const pull = require('pull-stream')
const SecretHandshake = require('secret-handshake')
const Multiserver = require('multiserver')
const Net = require('multiserver/plugins/net')
const WS = require('multiserver/plugins/ws')
const Unix = require('multiserver/plugins/unix-socket')
const Shs = require('multiserver/plugins/shs')
const Noauth = require('multiserver/plugins/noauth')
const data = require('./data')

// SSB main-network app key ("caps.shs"), used when --app-key is not given.
const MAINNET_APP_KEY = '1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s='
const STACKS = ['net~shs', 'net~noauth', 'ws~shs', 'ws~noauth', 'unix~shs', 'unix~noauth']

function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function fail (message, code) {
  emit({ event: 'fatal', message: String(message) })
  process.exitCode = code || 2
  // Let stdout drain (it may be a pipe) before exiting.
  process.stdout.write('', () => process.exit(code || 2))
}

// An uncaught exception (e.g. sodium-native's low-order-point throw, spec §5.6)
// becomes a JSON line and exit code 70 instead of a bare stack trace.
process.on('uncaughtException', (err) => {
  process.stderr.write('uncaught: ' + (err && err.stack) + '\n')
  fail('uncaught exception: ' + (err && err.message), 70)
})

// Minimal argv parser: positionals plus `--name value` / `--flag` options.
// Options listed in `multi` may repeat and are collected into arrays.
function parseArgs (argv, flags, multi) {
  const out = { _: [] }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) { out._.push(a); continue }
    const name = a.slice(2)
    if (flags.includes(name)) { out[name] = true; continue }
    if (i + 1 >= argv.length) throw new Error('missing value for ' + a)
    const v = argv[++i]
    if (multi.includes(name)) (out[name] = out[name] || []).push(v)
    else out[name] = v
  }
  return out
}

function keysFromSeed (hex) {
  const seed = hex ? Buffer.from(hex, 'hex') : crypto.randomBytes(32)
  if (seed.length !== 32) throw new Error('--seed must be 64 hex characters')
  return SecretHandshake.toKeys(seed) // sodium seed keypair: {publicKey(32), secretKey(64)}
}

function appKeyOf (b64) {
  const k = Buffer.from(b64 || MAINNET_APP_KEY, 'base64')
  if (k.length !== 32) throw new Error('--app-key must decode to 32 bytes')
  return k
}

const b64 = (buf) => (buf ? Buffer.from(buf).toString('base64') : null)

// "net~shs@127.0.0.1:0" -> {name:'net~shs', transport:'net', transform:'shs', host, port}
// "unix~noauth@/some/dir" -> {..., dir}
function parseStackSpec (spec) {
  const at = spec.indexOf('@')
  const name = at < 0 ? spec : spec.slice(0, at)
  if (!STACKS.includes(name)) throw new Error('unknown stack ' + name + ' (known: ' + STACKS.join(', ') + ')')
  const [transport, transform] = name.split('~')
  const out = { name, transport, transform }
  const where = at < 0 ? null : spec.slice(at + 1)
  if (transport === 'unix') {
    out.dir = where // null -> a fresh temporary directory
  } else {
    out.host = '127.0.0.1'
    out.port = 0
    if (where) {
      const colon = where.lastIndexOf(':')
      if (colon < 0) throw new Error('expected host:port in ' + spec)
      out.host = where.slice(0, colon).replace(/^\[(.*)\]$/, '$1') // allow [v6]
      out.port = Number(where.slice(colon + 1))
      if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535) throw new Error('bad port in ' + spec)
    }
  }
  return out
}

// The JS net/ws plugins treat port 0 as "random 49152-65535", so find a free
// port ourselves: bind a throw-away server to port 0, read the port, close it.
function freePort (host) {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, host, () => {
      const port = srv.address().port
      srv.close(() => resolve(port))
    })
  })
}

// Which stack accepted a connection, from the multiserver stream address
// ("net:1.2.3.4:5~shs:KEY", "ws:127.0.0.1~noauth:KEY", "ws://origin~shs:..", "unix:/p~shs:..").
function stackOfAddress (addr) {
  const transport = addr.startsWith('net:') ? 'net' : addr.startsWith('unix:') ? 'unix' : addr.startsWith('ws') ? 'ws' : '?'
  const transform = /~shs:[^~]*$/.test(addr) ? 'shs' : /~noauth:[^~]*$/.test(addr) ? 'noauth' : '?'
  return transport + '~' + transform
}

// Counts and hashes the bytes flowing through a connection.
function meter () {
  const hash = crypto.createHash('sha256')
  const m = { bytes: 0 }
  m.through = pull.through((buf) => { m.bytes += buf.length; hash.update(buf) })
  m.digest = () => hash.digest('hex')
  return m
}

async function serve (argv) {
  const o = parseArgs(argv, ['echo', 'deny-all', 'ignore-stdin'], ['stack', 'allow'])
  if (!o.stack || !o.stack.length) throw new Error('serve needs at least one --stack')
  const specs = o.stack.map(parseStackSpec)
  const names = specs.map((s) => s.name)
  if (new Set(names).size !== names.length) throw new Error('each stack may be given once')
  if (specs.filter((s) => s.transport === 'unix').length > 1) {
    throw new Error('the JS unix plugin allows only one unix server per process')
  }
  const keys = keysFromSeed(o.seed)
  const allow = (o.allow || []).map((k) => Buffer.from(k, 'base64').toString('base64'))

  // shs server-side authorisation. Answers synchronously on purpose: an async
  // answer triggers the JS post-handshake idle-timeout bug (spec §5.6).
  function auth (remotePk, cb) {
    if (o['deny-all']) return cb(null, false)
    if (allow.length && !allow.includes(remotePk.toString('base64'))) return cb(null, false)
    cb(null, true)
  }
  const shs = Shs({ keys, appKey: appKeyOf(o['app-key']), auth, timeout: Number(o.timeout) || undefined })
  const noauth = Noauth({ keys })

  const tmpDirs = []
  const plugs = []
  for (const s of specs) {
    let transport
    if (s.transport === 'unix') {
      if (!s.dir) { s.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-interop-')); tmpDirs.push(s.dir) } else fs.mkdirSync(s.dir, { recursive: true })
      transport = Unix({ path: s.dir })
    } else {
      const port = s.port || await freePort(s.host)
      transport = (s.transport === 'net' ? Net : WS)({ host: s.host, port })
    }
    plugs.push({ spec: s, stack: [transport, s.transform === 'shs' ? shs : noauth] })
  }
  const ms = Multiserver(plugs.map((p) => p.stack))

  let nextId = 1
  function onConnect (stream) {
    const id = nextId++
    emit({ event: 'connection', id, stack: stackOfAddress(stream.address), remoteAddress: stream.address, remote: b64(stream.remote), auth: stream.auth === undefined ? null : stream.auth })
    const m = meter()
    const onEnd = (err) => emit({ event: 'closed', id, bytes: m.bytes, sha256: m.digest(), error: err ? String(err.message || err) : null })
    if (o.echo) {
      pull(stream.source, m.through, pull.through(null, onEnd), stream.sink)
    } else {
      // Sink mode: count what arrives; end our direction once the peer has ended.
      pull(stream.source, m.through, pull.onEnd((err) => { onEnd(err); pull(pull.empty(), stream.sink) }))
    }
  }
  function onError (err) {
    emit({ event: 'error', message: String(err && err.message), address: (err && err.address) || null })
  }

  const close = ms.server(onConnect, onError, (err) => {
    if (err) return fail('could not start: ' + (err.message || err), 3)
    const addresses = {}
    for (const p of plugs) {
      // compose(...).stringify is what Multiserver.stringify joins with ';'
      addresses[p.spec.name] = Multiserver([p.stack]).stringify('device')
    }
    emit({ event: 'listening', publicKey: b64(keys.publicKey), addresses })
  })

  let exiting = false
  function shutdown () {
    if (exiting) return
    exiting = true
    try { close() } catch (e) { process.stderr.write('close: ' + e.message + '\n') }
    for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true })
    process.stdout.write('', () => process.exit(0))
  }
  process.on('SIGTERM', shutdown)
  process.on('SIGINT', shutdown)
  if (!o['ignore-stdin']) {
    // Exit when the parent closes our stdin (the Rust harness drops the pipe).
    process.stdin.on('end', shutdown)
    process.stdin.on('error', shutdown)
    process.stdin.resume()
  }
}

function connect (argv) {
  const o = parseArgs(argv, ['no-echo', 'lenient-close'], [])
  const addr = o._[0]
  if (!addr) throw new Error('connect needs an address')
  const n = o.bytes === undefined ? 1024 : Number(o.bytes)
  const chunk = o.chunk === undefined ? 65536 : Number(o.chunk)
  if (!Number.isInteger(n) || n < 0) throw new Error('--bytes must be a non-negative integer')
  if (!Number.isInteger(chunk) || chunk < 1) throw new Error('--chunk must be a positive integer')
  const expected = data.generate(n, o['data-seed'] === undefined ? 1 : o['data-seed'])
  const keys = keysFromSeed(o.seed)
  const shs = Shs({ keys, appKey: appKeyOf(o['app-key']), timeout: Number(o.timeout) || undefined })
  const noauth = Noauth({ keys })
  // All stacks; shs first because noauth's parse accepts any section.
  // Unix gets a fixed path so that it does not mkdtemp (its client stream
  // address is this path, a JS bug: spec §3.4).
  const unix = Unix({ path: os.tmpdir() })
  const ms = Multiserver([[Net({}), shs], [WS({}), shs], [unix, shs], [Net({}), noauth], [WS({}), noauth], [unix, noauth]])

  const want = o['no-echo'] ? 0 : n // --no-echo: one-way, expect nothing back
  const m = meter()
  let stream = null
  let finished = false
  let mismatch = null
  let ended = false // our sink has been ended (goodbye sent)
  let sent = 0
  function finish (err) {
    if (finished) return
    finished = true
    clearTimeout(timer)
    // An error after all data was exchanged and our side had ended is a
    // "close error" (e.g. the peer hung up without its goodbye).
    let closeError = null
    if (err && ended && !mismatch && m.bytes === want) { closeError = String(err.message || err); err = null }
    const ok = !err && !mismatch && m.bytes === want && (!closeError || !!o['lenient-close'])
    emit({
      event: 'result', ok, sent: sent, received: m.bytes, sha256: m.digest(),
      remoteAddress: stream ? stream.address : null, remote: stream ? b64(stream.remote) : null,
      error: ok ? null : String(mismatch || (err && (err.message || err)) || closeError || 'received ' + m.bytes + ' of ' + want + ' bytes'),
      closeError
    })
    process.stdout.write('', () => process.exit(ok ? 0 : 1))
  }
  const timer = setTimeout(() => finish(new Error('timeout')), Number(o['timeout-total']) || 60000)

  let waitingEnd = null // the source's pending callback while we wait for the full echo
  // Source: the data in chunks; ends only once the whole echo has arrived, so
  // that our goodbye/FIN does not tear down the connection early (spec §6.4).
  function source (abort, cb) {
    if (abort) return cb(abort)
    if (sent < n) {
      const c = expected.subarray(sent, Math.min(n, sent + chunk))
      sent += c.length
      return cb(null, c)
    }
    if (m.bytes >= want || finished) { ended = true; return cb(true) }
    waitingEnd = cb
  }
  function check (buf) {
    const off = m.bytes - buf.length // meter already counted this chunk
    if (m.bytes > want) mismatch = 'received more than ' + want + ' bytes'
    else if (!Buffer.from(buf).equals(expected.subarray(off, m.bytes))) mismatch = 'data mismatch in bytes ' + off + '..' + m.bytes
    if (mismatch) { finish(null); return false } // report at once (returning false aborts the drain)
    if (m.bytes >= want && waitingEnd) { const cb = waitingEnd; waitingEnd = null; ended = true; cb(true) }
  }

  const onStream = (err, s) => {
    if (err) return finish(err)
    stream = s
    pull(source, stream.sink)
    pull(stream.source, m.through, pull.drain(check, (err) => finish(err)))
  }
  try {
    ms.client(addr, onStream) // returns undefined in 3.8.2 (no abort handle)
  } catch (e) {
    finish(e) // e.g. "...~shs" without a key throws synchronously
  }
}

function main () {
  const [cmd, ...rest] = process.argv.slice(2)
  try {
    if (cmd === 'serve') return serve(rest).catch((e) => fail(e.message))
    if (cmd === 'connect') return connect(rest)
  } catch (e) {
    return fail(e.message)
  }
  process.stderr.write('usage: node.js serve --stack SPEC [...] | connect ADDRESS [...]  (see README.md)\n')
  process.exit(2)
}

main()
