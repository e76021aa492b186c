#!/usr/bin/env node
'use strict'
// Runs the browser side of the bridge test in headless Chromium or Chrome (--chromium PATH,
// else $CHROME_BIN, else /usr/bin/chromium; driven by playwright-core, no browser is downloaded).
//   node browser/run.js ADDRESS [--app-key B64] [--bytes N] [--chunk N]
//        [--data-seed S] [--seed HEX32] [--timeout MS] [--chromium PATH]
// Serves index.html + a freshly built bundle from 127.0.0.1:<random port>,
// loads it, waits for window.__result and prints it as one JSON line
// (same shape as `js/node.js connect`). Exit 0 iff result.ok.
const fs = require('fs')
const os = require('os')
const path = require('path')
const http = require('http')
const { chromium } = require('playwright-core')
const { bundle } = require('./build')

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']

function parseArgs (argv) {
  const o = { _: [] }
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) o[argv[i].slice(2)] = argv[++i]
    else o._.push(argv[i])
  }
  return o
}

function emit (obj) { process.stdout.write(JSON.stringify(obj) + '\n') }

// Tiny static server: only the two files the page needs.
function serve (files) {
  return new Promise((resolve) => {
    const srv = http.createServer((req, res) => {
      const f = files[new URL(req.url, 'http://x').pathname]
      if (!f) { res.writeHead(req.url === '/favicon.ico' ? 204 : 404); return res.end() }
      res.writeHead(200, { 'content-type': f.type, 'cache-control': 'no-store' })
      res.end(f.body)
    })
    srv.listen(0, '127.0.0.1', () => resolve(srv))
  })
}

async function main () {
  const o = parseArgs(process.argv.slice(2))
  const address = o._[0]
  if (!address) throw new Error('usage: run.js ADDRESS [--app-key B64] [--bytes N] ...')
  const timeout = Number(o.timeout || 60000)
  const files = {
    '/': { type: 'text/html', body: fs.readFileSync(path.join(__dirname, 'index.html')) },
    '/bundle.js': { type: 'text/javascript', body: await bundle() }
  }
  const srv = await serve(files)
  const q = new URLSearchParams({ address, bytes: o.bytes || '1024', chunk: o.chunk || '65536', dataSeed: o['data-seed'] || '1', timeout: String(timeout) })
  if (o['app-key']) q.set('appKey', o['app-key'])
  if (o.seed) q.set('seed', o.seed)
  const url = 'http://127.0.0.1:' + srv.address().port + '/?' + q

  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-chromium-'))
  let ctx = null
  try {
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: o.chromium || process.env.CHROME_BIN || '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS, timeout: 30000
    })
    const page = ctx.pages()[0] || await ctx.newPage()
    page.on('console', (m) => process.stderr.write('[page ' + m.type() + '] ' + m.text() + '\n'))
    // An uncaught page error means no result will ever come: fail at once.
    const pageError = new Promise((resolve, reject) => page.on('pageerror', (e) => reject(new Error('page error: ' + e.message))))
    await page.goto(url)
    const handle = await Promise.race([pageError, page.waitForFunction(() => window.__result, null, { timeout: timeout + 5000 })])
    const result = await handle.jsonValue()
    emit(result)
    return result.ok ? 0 : 1
  } finally {
    if (ctx) await ctx.close().catch(() => {})
    srv.close()
    fs.rmSync(profile, { recursive: true, force: true })
  }
}

main().then((code) => process.exit(code), (e) => {
  emit({ event: 'result', ok: false, error: 'browser runner: ' + e.message })
  process.exit(1)
})
