#!/usr/bin/env node
'use strict'
// JavaScript side of `cargo xtask bench` (see docs/performance.md): a server and a load
// generator built from the pinned multiserver 3.8.2 + secret-handshake 1.1.21, with the stacks
// an SSB node uses. The Rust twin is `xtask bench-server` / `xtask bench-client`; both speak
// the same small per-connection protocol and print the same JSON lines on stdout.
//
//   node bench.js server --seed HEX --stacks net~shs,ws~shs,unix~shs,net~noauth [--unix-dir D]
//     -> {"event":"listening","pid":N,"addresses":{"net~shs":"net:127.0.0.1:P~shs:KEY",...}}
//     stdin: a line "gc" runs a full GC (with --expose-gc) and answers {"event":"gc"};
//     end of stdin (or SIGTERM) exits.
//   node bench.js client MODE --addr ADDRESS --seed HEX [options] -> one {"event":"result",...}
//     MODE handshakes: --concurrency C --warmup S --duration S   (connect + handshake + close)
//          echo:       --bytes N                  (N bytes echoed on one connection)
//          oneway:     --bytes N                  (N bytes sent, an 8-byte count back)
//          latency:    --size B --rounds R --max-secs S --warmup R
//          hold:       --count N --concurrency C  (opens N idle connections, prints
//                      {"event":"opened"}, closes them when stdin says "close" or ends)
//
// Per-connection protocol (after the handshake), chosen by the client's first byte:
//   'E' (0x45): every following byte is echoed back;
//   'S' (0x53): an 8-byte big-endian length L, then L bytes; the server answers with the
//               8-byte big-endian count once L bytes have arrived;
//   nothing (end of stream): the server ends its side too.

const os = require('os')
const fs = require('fs')
const path = require('path')
const net = require('net')
const pull = require('pull-stream')
const SecretHandshake = require('secret-handshake')
const Multiserver = require('multiserver')
const Net = require('multiserver/plugins/net')
const WS = require('multiserver/plugins/ws')
const Unix = require('multiserver/plugins/unix-socket')
const Shs = require('multiserver/plugins/shs')
const Noauth = require('multiserver/plugins/noauth')

// SSB main-network app key ("caps.shs").
const MAINNET_APP_KEY = Buffer.from('1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s=', 'base64')
const ECHO = 0x45
const SINK = 0x53
const EMPTY = Buffer.alloc(0)

function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function exit (code) {
  // Let stdout (a pipe) drain first.
  process.stdout.write('', () => process.exit(code))
}

function fail (message) {
  emit({ event: 'fatal', message: String(message) })
  exit(2)
}

process.on('uncaughtException', (err) => {
  process.stderr.write('bench.js uncaught: ' + (err && err.stack) + '\n')
  fail('uncaught exception: ' + (err && err.message))
})

function parseArgs (argv) {
  const out = { _: [] }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) { out._.push(a); continue }
    if (i + 1 >= argv.length) throw new Error('missing value for ' + a)
    out[a.slice(2)] = argv[++i]
  }
  return out
}

function num (o, name, dflt) {
  if (o[name] === undefined) return dflt
  const n = Number(o[name])
  if (!Number.isFinite(n) || n < 0) throw new Error('--' + name + ' must be a non-negative number')
  return n
}

function keysOf (hex) {
  const seed = Buffer.from(hex || '', 'hex')
  if (seed.length !== 32) throw new Error('--seed must be 64 hex characters')
  return SecretHandshake.toKeys(seed)
}

const now = () => Number(process.hrtime.bigint()) / 1e9
// User + system CPU time of this process, in seconds.
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }

// The JS net/ws plugins treat port 0 as "random 49152-65535": find a free port ourselves.
function freePort () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = srv.address().port
      srv.close(() => resolve(port))
    })
  })
}

// ---------------------------------------------------------------------------------------------
// Server

// The per-connection protocol, as one pull-stream through: maps incoming chunks to what goes
// back (the echo, the count, or nothing).
function protocol () {
  let mode = 0
  let header = EMPTY
  let expected = -1
  let got = 0
  let acked = false
  return pull(
    pull.map(function (buf) {
      if (mode === 0) {
        mode = buf[0]
        buf = buf.subarray(1)
      }
      if (mode === ECHO) return buf
      if (mode !== SINK) return EMPTY
      if (expected < 0) {
        const take = Math.min(8 - header.length, buf.length)
        header = Buffer.concat([header, buf.subarray(0, take)])
        buf = buf.subarray(take)
        if (header.length < 8) return EMPTY
        expected = Number(header.readBigUInt64BE(0))
      }
      got += buf.length
      if (!acked && got >= expected) {
        acked = true
        const ack = Buffer.alloc(8)
        ack.writeBigUInt64BE(BigInt(got), 0)
        return ack
      }
      return EMPTY
    }),
    pull.filter((buf) => buf.length > 0)
  )
}

async function server (o) {
  const keys = keysOf(o.seed)
  const names = (o.stacks || 'net~shs').split(',')
  // Accept every client at once (synchronously: see node.js for why).
  const shs = Shs({ keys, appKey: MAINNET_APP_KEY, auth: (pk, cb) => cb(null, true) })
  const noauth = Noauth({ keys })
  let tmpDir = null
  const plugs = []
  for (const name of names) {
    const [transport, transform] = name.split('~')
    let t
    if (transport === 'net') t = Net({ host: '127.0.0.1', port: await freePort() })
    else if (transport === 'ws') t = WS({ host: '127.0.0.1', port: await freePort() })
    else if (transport === 'unix') {
      let dir = o['unix-dir']
      if (!dir) dir = tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-bench-js-'))
      t = Unix({ path: dir })
    } else throw new Error('unknown transport in ' + name)
    if (transform !== 'shs' && transform !== 'noauth') throw new Error('unknown transform in ' + name)
    plugs.push({ name, stack: [t, transform === 'shs' ? shs : noauth] })
  }
  const ms = Multiserver(plugs.map((p) => p.stack))
  let errors = 0
  const close = ms.server(
    (stream) => pull(stream.source, protocol(), stream.sink),
    () => { errors++ },
    (err) => {
      if (err) return fail('could not start: ' + (err.message || err))
      const addresses = {}
      for (const p of plugs) addresses[p.name] = Multiserver([p.stack]).stringify('device')
      emit({ event: 'listening', pid: process.pid, addresses })
    }
  )
  let exiting = false
  function shutdown () {
    if (exiting) return
    exiting = true
    try { close() } catch (e) {}
    if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true })
    exit(0)
  }
  process.on('SIGTERM', shutdown)
  process.on('SIGINT', shutdown)
  let pending = ''
  process.stdin.on('data', (d) => {
    pending += d.toString()
    let nl
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl).trim()
      pending = pending.slice(nl + 1)
      if (line === 'gc') {
        if (global.gc) { global.gc(); global.gc() }
        emit({ event: 'gc', errors })
      }
    }
  })
  process.stdin.on('end', shutdown)
  process.stdin.on('error', shutdown)
}

// ---------------------------------------------------------------------------------------------
// Client

function clientNode (keys) {
  const shs = Shs({ keys, appKey: MAINNET_APP_KEY })
  const noauth = Noauth({ keys })
  // A fixed unix path so that the client-side plugin does not mkdtemp (JS quirk).
  const unix = Unix({ path: os.tmpdir() })
  return Multiserver([[Net({}), shs], [WS({}), shs], [unix, shs], [Net({}), noauth]])
}

// A pull-stream source whose values are pushed by the caller; `end()` ends it.
function pushable () {
  const queue = []
  let waiting = null
  let ended = false
  function source (abort, cb) {
    if (abort) { ended = true; return cb(abort) }
    if (queue.length) return cb(null, queue.shift())
    if (ended) return cb(true)
    waiting = cb
  }
  function wake () {
    if (!waiting) return
    const cb = waiting
    if (queue.length) { waiting = null; cb(null, queue.shift()) } else if (ended) { waiting = null; cb(true) }
  }
  source.push = (buf) => { queue.push(buf); wake() }
  source.end = () => { ended = true; wake() }
  return source
}

// connect + handshake + close (our goodbye, then the server's end), `concurrency` at a time.
function handshakes (ms, addr, o, done) {
  const concurrency = Math.max(1, num(o, 'concurrency', 1))
  const warmup = num(o, 'warmup', 0.5)
  const duration = num(o, 'duration', 3)
  const t0 = now()
  const start = t0 + warmup
  const end = start + duration
  let ops = 0
  let total = 0
  let errors = 0
  let firstError = null
  let running = 0
  let cpuStart = null
  let cpuEnd = null
  let reported = false
  function launch () {
    const t = now()
    if (t >= start && cpuStart === null) cpuStart = cpu()
    if (t >= end) {
      if (cpuEnd === null) cpuEnd = cpu()
      if (running === 0 && !reported) {
        reported = true
        done({ ops, ops_total: total, errors, first_error: firstError, secs: duration, rate: ops / duration, client_cpu_secs: cpuEnd - (cpuStart === null ? cpuEnd : cpuStart) })
      }
      return
    }
    running++
    let finished = false
    const finish = (err) => {
      if (finished) return
      finished = true
      running--
      if (err && err !== true) { errors++; firstError = firstError || String(err.message || err) } else {
        total++
        const t = now()
        if (t >= start && t < end) ops++
      }
      setImmediate(launch)
    }
    ms.client(addr, (err, stream) => {
      if (err) return finish(err)
      pull(pull.empty(), stream.sink)
      pull(stream.source, pull.onEnd(finish))
    })
  }
  for (let i = 0; i < concurrency; i++) launch()
}

// Echo (mode 'E') or one-way (mode 'S') transfer of `bytes` on one connection.
function transfer (ms, addr, o, oneway, done) {
  const bytes = num(o, 'bytes', 64 << 20)
  const chunkLen = 65536
  const chunk = Buffer.alloc(chunkLen)
  for (let i = 0; i < chunkLen; i++) chunk[i] = (i * 31 + 7) & 0xff
  ms.client(addr, (err, stream) => {
    if (err) return done({ error: String(err.message || err) })
    const t0 = now()
    const c0 = cpu()
    let sent = 0
    let received = 0
    const want = oneway ? 8 : bytes
    let finished = false
    let waitingEnd = null
    let first = true
    function source (abort, cb) {
      if (abort) return cb(abort)
      if (first) {
        first = false
        if (!oneway) return cb(null, Buffer.from([ECHO]))
        const head = Buffer.alloc(9)
        head[0] = SINK
        head.writeBigUInt64BE(BigInt(bytes), 1)
        return cb(null, head)
      }
      if (sent < bytes) {
        const n = Math.min(chunkLen, bytes - sent)
        sent += n
        return cb(null, n === chunkLen ? chunk : chunk.subarray(0, n))
      }
      if (received >= want) return cb(true)
      waitingEnd = cb
    }
    function finish (error) {
      if (finished) return
      finished = true
      const secs = now() - t0
      done({ bytes, secs, mb_per_s: bytes / secs / 1e6, client_cpu_secs: cpu() - c0, error: error || null })
    }
    pull(source, stream.sink)
    pull(stream.source, pull.drain((buf) => {
      received += buf.length
      if (received >= want) {
        finish(received === want ? null : 'received ' + received + ' bytes, expected ' + want)
        if (waitingEnd) { const cb = waitingEnd; waitingEnd = null; cb(true) }
      }
    }, (err) => finish(received >= want ? null : 'stream ended after ' + received + ' bytes: ' + (err && err.message))))
  })
}

function percentile (sorted, p) {
  if (!sorted.length) return null
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
}

// Ping-pong of `size`-byte messages; the first `warmup` round trips are not recorded.
function latency (ms, addr, o, done) {
  const size = Math.max(1, num(o, 'size', 100))
  const rounds = Math.max(1, num(o, 'rounds', 1000))
  const warmup = num(o, 'warmup', 10)
  const maxSecs = num(o, 'max-secs', 5)
  const msg = Buffer.alloc(size, 0x61)
  ms.client(addr, (err, stream) => {
    if (err) return done({ error: String(err.message || err) })
    const out = pushable()
    const samples = []
    let round = 0
    let got = 0
    let sentAt = 0
    let finished = false
    const t0 = now()
    function send () {
      sentAt = now()
      out.push(round === 0 ? Buffer.concat([Buffer.from([ECHO]), msg]) : msg)
    }
    function finish (error) {
      if (finished) return
      finished = true
      out.end()
      samples.sort((a, b) => a - b)
      done({
        rounds: samples.length,
        p50_us: percentile(samples, 0.5),
        p90_us: percentile(samples, 0.9),
        p99_us: percentile(samples, 0.99),
        max_us: samples.length ? samples[samples.length - 1] : null,
        error: error || null
      })
    }
    pull(out, stream.sink)
    pull(stream.source, pull.drain((buf) => {
      got += buf.length
      if (got < size) return
      if (got > size) return finish('received more than one message')
      const rtt = (now() - sentAt) * 1e6
      got = 0
      if (round >= warmup) samples.push(rtt)
      round++
      if (samples.length >= rounds || now() - t0 > maxSecs) return finish(null)
      send()
    }, (err) => finish(finished ? null : 'stream ended: ' + (err && err.message))))
    send()
  })
}

// Opens `count` connections (`concurrency` handshakes at a time) and keeps them idle.
function hold (ms, addr, o, done) {
  const count = Math.max(1, num(o, 'count', 1000))
  const concurrency = Math.max(1, num(o, 'concurrency', 64))
  const streams = []
  let started = 0
  let settled = 0
  let errors = 0
  let firstError = null
  const t0 = now()
  function launch () {
    if (started >= count) return
    started++
    ms.client(addr, (err, stream) => {
      settled++
      if (err) { errors++; firstError = firstError || String(err.message || err) } else streams.push(stream)
      if (settled === count) opened()
      else launch()
    })
  }
  function opened () {
    emit({ event: 'opened', ok: streams.length, errors, first_error: firstError, secs: now() - t0 })
    let closing = false
    function closeAll () {
      if (closing) return
      closing = true
      const c0 = now()
      let left = streams.length
      if (!left) return done({ closed: 0, secs: 0 })
      for (const s of streams) {
        pull(pull.empty(), s.sink)
        pull(s.source, pull.onEnd(() => { if (--left === 0) done({ closed: streams.length, secs: now() - c0 }) }))
      }
    }
    process.stdin.on('data', (d) => { if (d.toString().includes('close')) closeAll() })
    process.stdin.on('end', closeAll)
    process.stdin.resume()
  }
  for (let i = 0; i < Math.min(concurrency, count); i++) launch()
}

function client (o) {
  const mode = o._[1]
  const addr = o.addr
  if (!addr) throw new Error('client needs --addr')
  const ms = clientNode(keysOf(o.seed))
  const limit = setTimeout(() => fail('client timed out'), num(o, 'timeout', 300) * 1000)
  const done = (result) => {
    clearTimeout(limit)
    emit(Object.assign({ event: 'result', mode }, result))
    exit(0)
  }
  if (mode === 'handshakes') return handshakes(ms, addr, o, done)
  if (mode === 'echo') return transfer(ms, addr, o, false, done)
  if (mode === 'oneway') return transfer(ms, addr, o, true, done)
  if (mode === 'latency') return latency(ms, addr, o, done)
  if (mode === 'hold') return hold(ms, addr, o, done)
  throw new Error('unknown client mode ' + mode)
}

function main () {
  const o = parseArgs(process.argv.slice(2))
  try {
    if (o._[0] === 'server') return server(o).catch((e) => fail(e.message))
    if (o._[0] === 'client') return client(o)
  } catch (e) {
    return fail(e.message)
  }
  process.stderr.write('usage: bench.js server --seed HEX --stacks LIST | client MODE --addr A --seed HEX [...]\n')
  process.exit(2)
}

main()
