'use strict'
// Shared part of the shs1-test adapters (see README.md): run one side of
// secret-handshake 1.1.21 over stdin/stdout, then write the 112-byte outcome
// encKey(32) | encNonce(24) | decKey(32) | decNonce(24) and exit 0; on any
// handshake failure exit 1 without writing anything else.
const pull = require('pull-stream')
const toPull = require('stream-to-pull-stream')

module.exports = function run (shsSide) {
  pull(
    toPull.source(process.stdin),
    shsSide((err, stream) => {
      if (err) {
        process.stderr.write('handshake failed: ' + err.message + '\n')
        process.exit(1)
      }
      const c = stream.crypto
      const outcome = Buffer.concat([c.encryptKey, c.encryptNonce, c.decryptKey, c.decryptNonce])
      process.stdout.write(outcome, () => process.exit(0))
    }),
    toPull.sink(process.stdout)
  )
}
