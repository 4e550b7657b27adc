// The HTTP cache test suite's origin server, on 127.0.0.1 only.
//
//   node conformance/origin.mjs SUITE_DIR PORT
//
// http-cache-tests ships server/server.mjs, which listens on every interface
// and reads its settings from npm_* variables. This serves the same request
// handlers (the suite's server/handle-*.mjs) from a loopback listener. They
// keep per-test state in memory, so scripts/cache-tests.sh starts a fresh one
// for every run.
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import process from 'node:process'
import { pathToFileURL } from 'node:url'

const [suiteArg, portArg] = process.argv.slice(2)
const port = Number(portArg)
if (!suiteArg || !Number.isInteger(port) || port < 1 || port > 65535) {
  console.error('usage: node origin.mjs SUITE_DIR PORT')
  process.exit(2)
}
const suite = path.resolve(suiteArg)
// The npm package keeps its handlers in server/, the current git tree in
// test-engine/server/.
const serverDir = ['server', 'test-engine/server']
  .map(dir => path.join(suite, dir))
  .find(dir => fs.existsSync(path.join(dir, 'handle-test.mjs')))
if (!serverDir) {
  console.error(`origin: no server/handle-test.mjs under ${suite}`)
  process.exit(2)
}
const handler = async name =>
  (await import(pathToFileURL(path.join(serverDir, `handle-${name}.mjs`)).href)).default
const byPrefix = {
  config: await handler('config'),
  test: await handler('test'),
  state: await handler('state')
}
const serveFile = await handler('file')
// The file handler resolves paths against the working directory.
process.chdir(suite)

const server = http.createServer((request, response) => {
  let url
  try {
    url = new URL(request.url, `http://127.0.0.1:${port}/`)
  } catch {
    response.writeHead(400, { 'Content-Type': 'text/plain' })
    response.end('bad request target\n')
    return
  }
  const segments = url.pathname.split('/').slice(1)
  const handle = byPrefix[segments[0]]
  try {
    if (handle) handle(segments.slice(1), request, response)
    else serveFile(url, request, response)
  } catch (err) {
    console.error(`origin: ${request.method} ${request.url}: ${err && err.stack}`)
    if (!response.headersSent) response.writeHead(500, { 'Content-Type': 'text/plain' })
    response.end('origin handler failed\n')
  }
})
server.on('error', err => {
  console.error(`origin: ${err.message}`)
  process.exit(1)
})
server.listen(port, '127.0.0.1', () => console.error(`origin: ${suite} on http://127.0.0.1:${port}/`))
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close()
    server.closeAllConnections?.()
    process.exit(0)
  })
}
