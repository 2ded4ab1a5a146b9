// ioredis's Redis.Cluster against one server: connect (CLUSTER SLOTS for the slot map, CLUSTER
// INFO as its ready check), PING, SSUBSCRIBE + SPUBLISH and SUBSCRIBE + PUBLISH each deliver, and
// the slot map it built names one node. With TLS_CA set, every connection is TLS (the CA, and
// TLS_CERT / TLS_KEY as the client's certificate). Prints one JSON object; exits non-zero on an
// error or after 10 s.
// usage: NODE_PATH=.../node_modules node cluster_ioredis_check.js PORT
const fs = require("fs");
const Redis = require("ioredis");
const port = Number(process.argv[2]);
const redisOptions = { maxRetriesPerRequest: 1 };
if (process.env.TLS_CA) {
  redisOptions.tls = { ca: fs.readFileSync(process.env.TLS_CA), cert: fs.readFileSync(process.env.TLS_CERT),
                       key: fs.readFileSync(process.env.TLS_KEY), servername: "localhost" };
}
const opts = { redisOptions, clusterRetryStrategy: () => null, slotsRefreshTimeout: 5000 };
const cluster = new Redis.Cluster([{ host: "127.0.0.1", port }], opts);
const sub = new Redis.Cluster([{ host: "127.0.0.1", port }], opts);
const out = { errors: [], messages: [] };
cluster.on("error", (e) => out.errors.push(String(e)));
sub.on("error", (e) => out.errors.push(String(e)));
const timer = setTimeout(() => { out.timeout = true; finish(1); }, 10000);
function finish(code) {
  clearTimeout(timer);
  console.log(JSON.stringify(out));
  cluster.disconnect();
  sub.disconnect();
  process.exit(code);
}
(async () => {
  out.ping = await cluster.ping();
  out.nodes = cluster.nodes("master").map((n) => `${n.options.host}:${n.options.port}`);
  out.ssubscribed = await sub.ssubscribe("io-shard");
  out.subscribed = await sub.subscribe("io-chan");
  const both = new Promise((resolve) => {
    const got = () => { if (out.messages.length === 2) resolve(); };
    sub.on("smessage", (ch, msg) => { out.messages.push(["smessage", ch, msg]); got(); });
    sub.on("message", (ch, msg) => { out.messages.push(["message", ch, msg]); got(); });
  });
  out.sreceivers = await cluster.spublish("io-shard", "sharded");
  out.receivers = await cluster.publish("io-chan", "plain");
  await both;
  out.keyslot = await cluster.cluster("KEYSLOT", "{user1000}.following");
  finish(0);
})().catch((e) => { out.errors.push(String(e)); finish(1); });
