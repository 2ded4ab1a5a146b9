// ioredis over TLS: a subscriber and a publisher (tls: {ca, cert, key}, the server's certificate
// checked against the test CA and 127.0.0.1), PING, SUBSCRIBE, then PUBLISH of binary payloads
// (0 B, 64 B, 20 KiB: past one 16 KiB TLS record) that must arrive intact and in order.
// Prints one JSON object with what it observed; exits non-zero on an error or after 15 s.
// usage: NODE_PATH=.../node_modules node tls_ioredis_check.js PORT CA_FILE [CERT_FILE KEY_FILE]
const fs = require("fs");
const Redis = require("ioredis");
const [port, ca, cert, key] = process.argv.slice(2);
const tls = { ca: fs.readFileSync(ca) };
if (cert) {
  tls.cert = fs.readFileSync(cert);
  tls.key = fs.readFileSync(key);
}
const opts = { port: Number(port), host: "127.0.0.1", tls, maxRetriesPerRequest: 1,
               retryStrategy: () => null };
const sub = new Redis(opts);
const pub = new Redis(opts);
const out = { errors: [], receivers: [], received: [] };
sub.on("error", (e) => out.errors.push(String(e)));
pub.on("error", (e) => out.errors.push(String(e)));
const timer = setTimeout(() => { out.timeout = true; finish(1); }, 15000);
function finish(code) {
  clearTimeout(timer);
  console.log(JSON.stringify(out));
  sub.disconnect();
  pub.disconnect();
  process.exit(code);
}
function payload(size) {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 7 + 13) & 0xff;  // every byte value, \r\n and NUL
  return b;
}
const sizes = [0, 64, 20 * 1024];
(async () => {
  out.ping = await pub.ping();
  out.subscribed = await sub.subscribe("tls-io");
  const all = new Promise((resolve) => {
    sub.on("messageBuffer", (ch, msg) => {
      const want = payload(sizes[out.received.length] ?? 0);
      out.received.push({ channel: ch.toString(), size: msg.length, intact: want.equals(msg) });
      if (out.received.length === sizes.length) resolve();
    });
  });
  for (const size of sizes) out.receivers.push(await pub.publish("tls-io", payload(size)));
  await all;
  finish(0);
})().catch((e) => { out.errors.push(String(e)); finish(1); });
