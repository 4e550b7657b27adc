// Loaded into the suite's CLI client (node --require).
//
// http-cache-tests@0.4.5 fetches with node-fetch 2, which uses Node's global
// http agent. Since Node 19 that agent keeps connections alive, and node-fetch
// does not retry a request sent on a connection the server is closing at that
// moment; such races show up as "socket hang up" results that have nothing to
// do with caching. The suite was written for a new connection per request.
'use strict'
const http = require('node:http')
http.globalAgent = new http.Agent({ keepAlive: false })
