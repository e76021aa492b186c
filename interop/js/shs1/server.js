#!/usr/bin/env node
'use strict'
// shs1-test server adapter: server.js NETWORK_ID_HEX SERVER_SK_HEX(64 bytes) SERVER_PK_HEX
const shs = require('secret-handshake')
const [appKey, sk, pk] = process.argv.slice(2).map((h) => Buffer.from(h, 'hex'))
const authorize = (remotePk, cb) => cb(null, true)
require('./common')(shs.createServer({ publicKey: pk, secretKey: sk }, authorize, appKey))
