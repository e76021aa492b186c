#!/usr/bin/env node
'use strict'
// Which alternative of each address would multiserver 3.8.2's client dial?
// stdin: one JSON string (an address) per line. stdout: one JSON object per line, in order:
//   {"index": i, "stack": "net~shs"}  the i-th `;`-separated alternative, with that stack
//   {"none": true}                    no alternative is understood
//   {"throws": "message"}             the reference throws synchronously on this address
// Stacks, in this order: net~shs, ws~shs, unix~noauth (as interop/tests/address.rs builds them).
// Nothing is dialled: each plug's client only records what it was asked to dial.

const fs = require('fs')
const Multiserver = require('multiserver')
const compose = require('multiserver/compose')
const Net = require('multiserver/plugins/net')
const WS = require('multiserver/plugins/ws')
const Unix = require('multiserver/plugins/unix-socket')
const Shs = require('multiserver/plugins/shs')
const Noauth = require('multiserver/plugins/noauth')

const shs = Shs({ seed: Buffer.alloc(32, 7), appKey: Buffer.alloc(32, 1) })
const noauth = Noauth({ keys: { publicKey: Buffer.alloc(32, 9) } })
const plugs = [
  [Net({}), shs],
  [WS({}), shs],
  [Unix({ path: '/nonexistent-multiserver-dir' }), noauth]
].map((ary) => {
  const plug = compose(ary)
  plug.client = (addr, cb) => cb(null, { addr, name: plug.name })
  return plug
})
const ms = Multiserver(plugs)

// Node warns about url.parse on odd input; the warnings say nothing about the choice.
process.removeAllListeners('warning')
process.on('warning', () => {})

const lines = fs.readFileSync(0, 'utf8').split('\n').filter(Boolean)
const out = []
for (const line of lines) {
  const input = JSON.parse(line)
  let result = null
  try {
    ms.client(input, (err, chosen) => {
      if (err) result = { none: true }
      else result = { index: input.split(';').indexOf(chosen.addr), stack: chosen.name }
    })
  } catch (err) {
    result = { throws: String(err && err.message) }
  }
  out.push(JSON.stringify(result))
}
process.stdout.write(out.join('\n') + '\n')
