// h2c: a cleartext HTTP/1.1 server that switches to HTTP/2 when the client asks (RFC 7540 §3.2).
// The client here is curl (`curl --http2 http://…`).
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { enableH2c } from 'upshift';

const server = createServer((req, res) => res.end(`hello over HTTP/${req.httpVersion}\n`));
enableH2c(server); // opt-in: RFC 9113 deprecates h2c
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${server.address().port}/`;

const output = await new Promise((resolve, reject) =>
  execFile('curl', ['--silent', '--http2', '--write-out', 'curl saw HTTP/%{http_version}\n', url], (error, stdout) =>
    error ? reject(error) : resolve(stdout),
  ),
);
process.stdout.write(output);
server.close();
server.closeAllConnections();
