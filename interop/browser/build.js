#!/usr/bin/env node
'use strict'
// Bundles browser/client.js for the browser with esbuild.
//   node browser/build.js          -> writes browser/dist/bundle.js
//   require('./build').bundle()    -> Promise<string> (used by run.js, no file written)
// Node builtins are mapped to npm polyfills (buffer, events, url, process) or,
// for the server/Node-only code paths the client never runs, to stubs.
const path = require('path')
const esbuild = require('esbuild')

const POLYFILLS = { buffer: 'buffer/', events: 'events/', url: 'url/', process: 'process/browser.js' }
const EMPTY = ['fs', 'path', 'http', 'https', 'net', 'tls', 'crypto', 'stream', 'dns', 'zlib', 'child_process', 'worker_threads', 'util']

// multiserver-scopes/non-private-ip call os.networkInterfaces() at load time.
const STUBS = { os: 'module.exports = { networkInterfaces: () => ({}), platform: () => "browser" }' }

const nodeBuiltins = {
  name: 'node-builtins',
  setup (build) {
    const filter = new RegExp('^(node:)?(' + [...Object.keys(POLYFILLS), ...Object.keys(STUBS), ...EMPTY].join('|') + ')$')
    build.onResolve({ filter }, async (args) => {
      const name = args.path.replace(/^node:/, '')
      if (EMPTY.includes(name) || STUBS[name]) return { path: name, namespace: 'stub' }
      return build.resolve(POLYFILLS[name], { resolveDir: __dirname, kind: args.kind })
    })
    build.onLoad({ filter: /.*/, namespace: 'stub' }, (args) => ({ contents: STUBS[args.path] || 'module.exports = {}', loader: 'js' }))
  }
}

function options (write) {
  return {
    entryPoints: [path.join(__dirname, 'client.js')],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2020',
    inject: [path.join(__dirname, 'shims.js')],
    define: { global: 'globalThis' },
    plugins: [nodeBuiltins],
    logLevel: 'warning',
    write,
    outfile: path.join(__dirname, 'dist', 'bundle.js')
  }
}

exports.bundle = async () => (await esbuild.build(options(false))).outputFiles[0].text

if (require.main === module) {
  esbuild.build(options(true)).then(
    () => console.log('wrote', options(true).outfile),
    (e) => { console.error(e.message); process.exit(1) }
  )
}
