#!/usr/bin/python3
# Writes net/redis_commands.inc: every command and subcommand of a running redis-server with its
# arity, from its COMMAND reply. Fanout uses the table to answer commands it does not have as
# Redis would (net/commands.cc). Run against the Redis version Fanout is compared with (7.0.15):
#   redis-server --port 16399 --save '' &  /usr/bin/python3 tools/gen_redis_commands.py 16399
import argparse
import os

ap = argparse.ArgumentParser(description="Writes net/redis_commands.inc from a running redis-server's COMMAND reply.")
ap.add_argument("port", type=int, nargs="?", default=6379, help="the redis-server's port on 127.0.0.1 (default 6379)")
port = ap.parse_args().port

import redis  # noqa: E402  (Debian's python3-redis; after the arguments, so --help needs nothing)

conn = redis.Redis(port=port).connection_pool.get_connection("COMMAND")
conn.send_command("COMMAND")
rows = []


def categories(info):
    """COMMAND's ACL categories (["@slow", "@pubsub"]) as core/acl.h's constants."""
    names = [c.decode().lstrip("@") for c in info[6]]
    return " | ".join("kAcl" + n.capitalize() for n in names) or "0"


for info in conn.read_response():
    rows.append((info[0].decode(), info[1], categories(info)))
    for sub in (info[9] if len(info) > 9 else None) or []:
        rows.append((sub[0].decode(), sub[1], categories(sub)))
rows.sort()
version = redis.Redis(port=port).info("server")["redis_version"]
out = [
    "// Redis %s's commands and subcommands with their arities (N exact, -N at least N) and ACL" % version,
    "// categories, from its COMMAND reply (tools/gen_redis_commands.py). Fanout answers those it does",
    "// not have as Redis would in RESP2 subscribed mode (subcommand and arity errors first, then",
    "// \"Can't execute\": server.c, processCommand), and ACL rules may name any of them (acl.c).",
    "// clang-format off",
]
line = ""
for name, arity, cats in rows:
    item = '{"%s", %d, %s}, ' % (name, arity, cats)
    if len(line) + len(item) > 100:
        out.append(line.rstrip())
        line = ""
    line += item
out.append(line.rstrip())
out.append("// clang-format on")
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "net", "redis_commands.inc")
with open(path, "w") as f:
    f.write("\n".join(out) + "\n")
print("%d commands and subcommands of Redis %s -> %s" % (len(rows), version, os.path.normpath(path)))
