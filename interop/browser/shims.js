// Injected into the browser bundle by build.js: provides the Node globals
// (Buffer, process) that multiserver, secret-handshake and chloride expect.
export { Buffer } from 'buffer'
export { default as process } from 'process'
