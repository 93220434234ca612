// Drives Segment's Node SDK, unmodified, against the producer.
//
// usage: node send_node.js HOST WRITE_KEY PREFIX GZIP(0|1) CAPTURE_FILE
//
// Sends track, page, identify and alias for the ids PREFIX-anon, PREFIX-user,
// PREFIX-old and session PREFIX-s, with the SDK's own message ids
// ("node-next-<time>-<uuid>", not UUIDs), in one batch. The SDK has no gzip
// of its own: with GZIP 1 its documented httpClient option hands it a client
// that compresses the body it built. The request body is written to
// CAPTURE_FILE so that the test can send the very same batch again. Exits 1
// unless every request was answered 200 and no error was emitted.
'use strict'
const zlib = require('zlib')
const fs = require('fs')
const { Analytics, FetchHTTPClient } = require('@segment/analytics-node')

const [host, writeKey, prefix, gzip, capture] = process.argv.slice(2)
const fetchClient = new FetchHTTPClient()
const gzipClient = {
  makeRequest(req) {
    const body = zlib.gzipSync(Buffer.from(req.body))
    return fetchClient.makeRequest({ ...req, body, headers: { ...req.headers, 'Content-Encoding': 'gzip' } })
  },
}
const analytics = new Analytics({
  writeKey,
  host,
  flushAt: 4,
  flushInterval: 60000,
  maxRetries: 2,
  ...(gzip === '1' ? { httpClient: gzipClient } : {}),
})
let failed = false
analytics.on('error', (e) => { console.error('error', e); failed = true })
analytics.on('http_request', (r) => fs.writeFileSync(capture, r.body))
analytics.on('http_response', (r) => { if (r.status !== 200) { console.error('status', r.status); failed = true } })

const anon = prefix + '-anon', user = prefix + '-user'
analytics.track({ userId: user, anonymousId: anon, event: 'Order Completed',
  properties: { total: 42, session_id: prefix + '-s' } })
analytics.page({ anonymousId: anon, category: 'Docs', name: 'Home',
  properties: { url: 'https://example.com/' + prefix } })
analytics.identify({ userId: user, anonymousId: anon, traits: { plan: 'pro' } })
analytics.alias({ previousId: prefix + '-old', userId: user })
analytics.closeAndFlush({ timeout: 30000 }).then(() => process.exit(failed ? 1 : 0))
