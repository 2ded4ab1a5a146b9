#!/usr/bin/python3
# Writes net/command_docs.inc: Redis 7.0.15's COMMAND INFO and COMMAND DOCS entries for the commands
# Fanout has, with only the subcommands Fanout has, as the exact RESP2 and RESP3 bytes
# redis-server sends for them. Fanout's COMMAND, COMMAND INFO, COMMAND DOCS, COMMAND COUNT and
# COMMAND LIST answer from it (net/connection_commands.cc), so clients that read command
# metadata see Redis's own description of each command. Run against redis-server 7.0.15:
#   redis-server --port 16399 --save '' &  /usr/bin/python3 tools/gen_command_docs.py 16399
import argparse
import os
import socket

# Fanout's commands, and for a container the subcommands it answers (not those it refuses).
FANOUT = {
    "publish": None, "spublish": None, "subscribe": None, "unsubscribe": None, "psubscribe": None,
    "punsubscribe": None, "ssubscribe": None, "sunsubscribe": None,
    "pubsub": ["channels", "numsub", "numpat", "shardchannels", "shardnumsub", "help"],
    "ping": None, "echo": None, "quit": None, "reset": None, "multi": None, "exec": None, "discard": None,
    "hello": None, "auth": None, "select": None, "info": None,
    "client": ["id", "setname", "getname", "info", "list", "kill", "reply", "no-evict", "getredir",
               "trackinginfo", "help"],
    "config": ["get", "set", "resetstat", "rewrite", "help"],
    "command": ["count", "docs", "info", "list", "help"],
    "acl": ["cat", "deluser", "getuser", "list", "load", "log", "save", "setuser", "users", "whoami", "help"],
    "latency": ["latest", "history", "reset", "doctor", "graph", "histogram", "help"],
    "slowlog": ["get", "len", "reset", "help"],
    "cluster": ["slots", "shards", "nodes", "info", "myid", "keyslot", "countkeysinslot", "getkeysinslot", "links",
                "replicas", "slaves", "count-failure-reports", "help"],
    "readonly": None, "readwrite": None,
}


class Reader:
    """A RESP2/RESP3 reader that keeps each value's exact bytes (start, end) beside its parse."""

    def __init__(self, sock):
        self.sock, self.buf, self.pos = sock, b"", 0

    def _need(self, n):
        while len(self.buf) - self.pos < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = self.buf[self.pos:i]
                self.pos = i + 2
                return line
            self._need(len(self.buf) - self.pos + 1)

    def value(self):
        """Returns (kind, payload, raw bytes)."""
        start = self.pos
        line = self._line()
        t, rest = line[:1], line[1:]
        if t in b"+-:_#,(":
            v = (t, rest)
        elif t in b"$=":
            n = int(rest)
            if n < 0:
                v = (t, None)
            else:
                self._need(n + 2)
                v = (t, self.buf[self.pos:self.pos + n])
                self.pos += n + 2
        elif t in b"*~>%":
            n = int(rest)
            count = n * 2 if t == b"%" else n
            v = (t, [self.value() for _ in range(max(count, 0))])
        else:
            raise ValueError(line)
        return (v[0], v[1], self.buf[start:self.pos])


def connect(port, proto):
    s = socket.create_connection(("127.0.0.1", port))
    r = Reader(s)
    if proto == 3:
        s.sendall(b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n")
        r.value()
    return s, r


def command(s, r, *args):
    s.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in map(str.encode, args)))
    return r.value()


def header(kind, n):
    return kind + b"%d\r\n" % n


def info_entry(v, subs):
    """COMMAND INFO's entry with its subcommand list (element 10) cut to `subs`."""
    kind, elems, raw = v
    if subs is None:
        return raw
    out = header(kind, len(elems))
    for i, e in enumerate(elems):
        if i != 9:
            out += e[2]
            continue
        # Sorted: Redis lists them in its dict's (seeded, varying) order.
        keep = sorted((x for x in e[1] if x[1][0][1].decode().split("|")[1] in subs), key=lambda x: x[1][0][1])
        out += header(e[0], len(keep)) + b"".join(x[2] for x in keep)
    return out


def docs_value(v, subs):
    """COMMAND DOCS's value for one command, its "subcommands" map cut to `subs`."""
    kind, elems, raw = v
    if subs is None:
        return raw
    out = b""
    pairs = 0
    for k, val in zip(elems[0::2], elems[1::2]):
        if k[1] == b"subcommands":
            kept = sorted(((a, b) for a, b in zip(val[1][0::2], val[1][1::2]) if a[1].decode().split("|")[1] in subs),
                          key=lambda ab: ab[0][1])
            n = len(kept) if val[0] == b"%" else 2 * len(kept)
            out += k[2] + header(val[0], n) + b"".join(a[2] + b[2] for a, b in kept)
        else:
            out += k[2] + val[2]
        pairs += 1
    return header(kind, pairs if kind == b"%" else 2 * pairs) + out


def c_string(b):
    out = '"'
    for ch in b:
        c = chr(ch)
        if c == '"' or c == "\\":
            out += "\\" + c
        elif c == "\r":
            out += "\\r"
        elif c == "\n":
            out += "\\n"
        elif 32 <= ch < 127:
            out += c
        else:
            out += "\\x%02x\"\"" % ch
    return out + '"'


def main():
    ap = argparse.ArgumentParser(description="Writes net/command_docs.inc from a running redis-server's COMMAND "
                                             "INFO and COMMAND DOCS replies.")
    ap.add_argument("port", type=int, nargs="?", default=6379, help="the redis-server's port on 127.0.0.1 (default 6379)")
    port = ap.parse_args().port
    rows = []
    version = None
    for name in sorted(FANOUT):
        subs = FANOUT[name]
        row = [name]
        for proto in (2, 3):
            s, r = connect(port, proto)
            info = command(s, r, "COMMAND", "INFO", name)[1][0]
            docs = command(s, r, "COMMAND", "DOCS", name)[1][1]
            if version is None:
                srv = command(s, r, "INFO", "server")[1].decode()
                version = [ln.split(":")[1] for ln in srv.splitlines() if ln.startswith("redis_version:")][0]
            row += [info_entry(info, subs), docs_value(docs, subs)]
            s.close()
        rows.append(row)
    out = ["// Redis %s's COMMAND INFO and COMMAND DOCS for the commands Fanout has, with the subcommands" % version,
           "// Fanout has: {name, info RESP2, docs RESP2, info RESP3, docs RESP3}, the bytes redis-server sends",
           "// (tools/gen_command_docs.py). Generated; do not edit.",
           "// clang-format off"]
    for name, i2, d2, i3, d3 in rows:
        out.append("{%s," % c_string(name.encode()))
        for b in (i2, d2, i3, d3):
            out.append(" %s," % c_string(b))
        out.append("},")
    out.append("// clang-format on")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "net", "command_docs.inc")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    print("%d commands of Redis %s -> %s" % (len(rows), version, os.path.normpath(path)))


if __name__ == "__main__":
    main()
