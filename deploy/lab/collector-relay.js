// Stand-in for the OpenTelemetry Collector in deploy/lab (its image cannot be pulled there):
// forwards every OTLP/HTTP POST to the analyzer unchanged.
const http = require('http');
http.createServer((q, s) => {
  const c = [];
  q.on('data', (d) => c.push(d)).on('end', () => {
    const r = http.request({ host: 'analyzer', port: 4318, path: q.url, method: 'POST', headers: { 'content-type': q.headers['content-type'] || 'application/x-protobuf' } }, (rr) => { s.writeHead(rr.statusCode, rr.headers); rr.pipe(s); });
    r.on('error', (e) => { s.writeHead(502); s.end(String(e)); });
    r.end(Buffer.concat(c));
  });
}).listen(4318, '0.0.0.0', () => console.log('relay listening on 4318'));
