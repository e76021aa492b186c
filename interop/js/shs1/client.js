#!/usr/bin/env node
'use strict'
// shs1-test client adapter: client.js NETWORK_ID_HEX SERVER_PK_HEX (own key pair is random)
const crypto = require('crypto')
const shs = require('secret-handshake')
const [appKey, serverPk] = process.argv.slice(2).map((h) => Buffer.from(h, 'hex'))
const keys = shs.toKeys(crypto.randomBytes(32))
const client = shs.createClient(keys, appKey)
require('./common')((cb) => client(serverPk, null, cb))
