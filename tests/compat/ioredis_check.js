// ioredis against a server: connect (ioredis sends INFO as its ready check), subscribe,
// psubscribe, publish, receive both pushes, then RESP3 is not used (ioredis speaks RESP2).
// Prints one JSON object with what it observed; exits non-zero on timeout.
// usage: NODE_PATH=.../node_modules node ioredis_check.js PORT
const Redis = require("ioredis");
const port = Number(process.argv[2]);
const opts = { port, host: "127.0.0.1", maxRetriesPerRequest: 1, enableOfflineQueue: true,
               retryStrategy: () => null };
const sub = new Redis(opts);
const pub = new Redis(opts);
const out = { errors: [], messages: [] };
sub.on("error", (e) => out.errors.push(String(e)));
pub.on("error", (e) => out.errors.push(String(e)));
const timer = setTimeout(() => { out.timeout = true; finish(1); }, 8000);
function finish(code) {
  clearTimeout(timer);
  console.log(JSON.stringify(out));
  sub.disconnect();
  pub.disconnect();
  process.exit(code);
}
(async () => {
  out.ping = await pub.ping();
  out.subscribed = await sub.subscribe("io-chan");
  out.psubscribed = await sub.psubscribe("io-*");
  const both = new Promise((resolve) => {
    const got = () => { if (out.messages.length === 2) resolve(); };
    sub.on("message", (ch, msg) => { out.messages.push(["message", ch, msg]); got(); });
    sub.on("pmessage", (pat, ch, msg) => { out.messages.push(["pmessage", pat, ch, msg]); got(); });
  });
  out.receivers = await pub.publish("io-chan", "hello");
  out.numsub = await pub.pubsub("NUMSUB", "io-chan");
  await both;
  finish(0);
})().catch((e) => { out.errors.push(String(e)); finish(1); });
