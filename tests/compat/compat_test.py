"""Compatibility with real Redis clients and with Redis itself.

Starts fanoutd (the binary under test) and a real redis-server, then runs the same checks
against both: byte-for-byte replies to raw RESP sequences (differential: Redis is the
reference, not our reading of it), redis-py (Debian python3-redis), redis-cli,
redis-benchmark and ioredis (Node.js, from third_party/node). Run with Debian's /usr/bin/python3, which sees python3-redis.

usage: compat_test.py FANOUTD_BINARY [--backend epoll|io_uring]
"""
import json
import os
import re
import shutil
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import redis

# local_servers.py (//tools/pylib) is on the module path: tools/pylib/run_py.sh puts it there.
import local_servers  # noqa: E402
from checks import check, summary  # noqa: E402  (tools/pylib)
from local_servers import free_port, wait_port  # noqa: E402
from local_servers import resp_command as mb  # noqa: E402


def start_fanoutd(binary, backend):
    p, port, _ = local_servers.start_fanoutd(binary, backend, ["--shards", "2", "--log-level", "warn"])
    return p, port


def start_redis(extra=()):
    if not shutil.which("redis-server"):
        raise SystemExit("redis-server is missing: run tools/setup.sh")
    port = free_port()
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--protected-mode", "no", *extra],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not wait_port(port):
        p.kill()
        raise SystemExit("redis-server did not start")
    return p, port


def resp_values(data):
    """Counts complete top-level RESP values in data (stops at the first incomplete one)."""
    def one(i):
        nl = data.find(b"\r\n", i)
        if nl < 0:
            return -1
        kind, line = data[i:i + 1], data[i + 1:nl]
        j = nl + 2
        if kind in b"$=!":
            n = int(line)
            if n < 0:
                return j
            return j + n + 2 if len(data) >= j + n + 2 else -1
        if kind in b"*>~%|":
            n = int(line)
            for _ in range(max(n, 0) * (2 if kind in b"%|" else 1)):
                j = one(j)
                if j < 0:
                    return -1
            return j
        return j
    count, i = 0, 0
    while i < len(data):
        j = one(i)
        if j < 0:
            break
        count, i = count + 1, j
    return count


def exchange(port, steps, expect=None):
    """Sends each step and collects its replies. With `expect` (values per step, from the
    reference run) it reads until that many values arrived; otherwise until 0.1 s of quiet after
    the first bytes (0.3 s for the first bytes: Redis writes a reply at once, so the quiet after
    it only ends the step; waiting 0.3 s there made this test grow to over 3 minutes)."""
    s = socket.create_connection(("127.0.0.1", port))
    out = []
    for k, step in enumerate(steps):
        s.sendall(step)
        data = b""
        deadline = time.time() + 5
        while time.time() < deadline:
            done = expect is not None and resp_values(data) >= expect[k]
            s.settimeout(0.05 if done else ((0.1 if data else 0.3) if expect is None else 0.5))
            try:
                d = s.recv(1 << 16)
            except socket.timeout:
                if done or (expect is None and data):
                    break
                continue
            if not d:
                data += b"<EOF>"
                break
            data += d
        out.append(data)
    s.close()
    return out


def normalize(b):
    # Connection ids and server identity legitimately differ, and fanoutd answers as a cluster node
    # (HELLO's mode "cluster") where this redis-server is standalone.
    b = re.sub(rb"\$2\r\nid\r\n:\d+", b"$2\r\nid\r\n:N", b)
    b = re.sub(rb"\$4\r\nmode\r\n\$\d+\r\n(cluster|standalone)\r\n", b"MODE", b)
    b = re.sub(rb"\$6\r\nserver\r\n\$\d+\r\n\w+\r\n\$7\r\nversion\r\n\$\d+\r\n[\d.]+\r\n",
               b"SERVER-VERSION", b)
    return b


# Sequences whose replies must match Redis 7 byte for byte.
DIFF_CASES = {
    # Fanout is pub/sub only: data commands such as GET are (correctly) unknown to it, so the
    # differential cases stay within the implemented command set.
    "unknown command": [mb("FOO", "a", "b"), mb("NOSUCHCMD"), mb("X", "a\r\nb")],
    "subscribe flow": [mb("SUBSCRIBE", "a", "b"), mb("PUBLISH", "x", "y"), mb("PING"), mb("PING", "hi"),
                       mb("ECHO", "x"), mb("UNSUBSCRIBE"), mb("UNSUBSCRIBE"), mb("PING")],
    "pattern flow": [mb("PSUBSCRIBE", "n*", "[ab]?"), mb("PUNSUBSCRIBE", "n*"), mb("PUNSUBSCRIBE"),
                     mb("PUNSUBSCRIBE")],
    "shard flow": [mb("SUNSUBSCRIBE"), mb("SSUBSCRIBE", "q"), mb("SUBSCRIBE", "z"), mb("SUNSUBSCRIBE"),
                   mb("UNSUBSCRIBE")],
    "resp3 flow": [mb("HELLO", "3"), mb("SUBSCRIBE", "a"), mb("PING"), mb("UNSUBSCRIBE", "a", "b"),
                   mb("CLIENT", "GETNAME"), mb("RESET"), mb("PING")],
    "hello errors": [mb("HELLO", "4"), mb("HELLO", "x"), mb("HELLO", "3", "FOO"),
                     mb("HELLO", "2", "AUTH", "u", "p")],
    "hello setname": [mb("HELLO", "3", "SETNAME", "me"), mb("CLIENT", "GETNAME")],
    "auth": [mb("AUTH", "p"), mb("AUTH", "u", "p"), mb("AUTH", "default", "p")],
    "select": [mb("SELECT", "0"), mb("SELECT", "15"), mb("SELECT", "16"), mb("SELECT", "x")],
    "client": [mb("CLIENT", "SETNAME", "a b"), mb("CLIENT", "SETNAME", "ab"), mb("CLIENT", "GETNAME"),
               mb("CLIENT", "FOO"), mb("CLIENT")],
    "arity": [mb("PUBLISH", "a"), mb("SUBSCRIBE"), mb("PSUBSCRIBE"), mb("ECHO"), mb("PING", "a", "b"),
              mb("SELECT")],
    "pubsub introspection": [mb("PUBSUB", "NUMSUB", "a", "b"), mb("PUBSUB", "NUMPAT"),
                             mb("PUBSUB", "CHANNELS", "zz*"), mb("PUBSUB", "SHARDNUMSUB", "x"),
                             mb("PUBSUB", "SHARDCHANNELS"), mb("PUBSUB", "FOO")],
    "publish nobody": [mb("PUBLISH", "nobody-listens", "x"), mb("SPUBLISH", "nobody", "x")],
    "inline": [b"PING\r\n", b"ECHO \"a b\" \r\n", b"echo 'x y'\n", b"\r\n", b"PING\n"],
    "inline unbalanced": [b"echo 'x\r\n"],
    "bad bulk length": [b"*2\r\n$4\r\nECHO\r\n$x\r\n"],
    "bad multibulk": [b"*99999999999\r\n"],
    "huge bulk": [b"*1\r\n$999999999999\r\n"],
    "expected dollar": [b"*1\r\nfoo\r\n"],
    "empty multibulk": [b"*0\r\n*1\r\n$4\r\nPING\r\n"],
    "quit": [mb("SUBSCRIBE", "a"), mb("QUIT")],
    "split command": [b"*2\r\n$4\r\nEC", b"HO\r\n$3\r\nabc\r\n"],
    "subscribed context names the subcommand": [mb("SUBSCRIBE", "a"), mb("CLIENT", "ID"),
                                                mb("PUBSUB", "NUMPAT")],
    "subscribed context, commands Redis has": [mb("SUBSCRIBE", "a"), mb("SET", "k", "v"), mb("SET", "k"),
                                               mb("CLIENT", "FOO"), mb("CLIENT", "ID", "x"), mb("PUBSUB", "FOO"),
                                               mb("ACL", "FOO"), mb("MEMORY", "FOO"), mb("MEMORY", "USAGE"),
                                               mb("MULTI"), mb("NOSUCH"), mb("UNSUBSCRIBE")],
    "client reply": [mb("CLIENT", "REPLY", "OFF"), mb("PING"), mb("CLIENT", "REPLY", "SKIP"), mb("PING"),
                     mb("CLIENT", "REPLY", "ON"), mb("PING"), mb("CLIENT", "REPLY", "SKIP"), mb("PING"),
                     mb("PING", "b"), mb("CLIENT", "REPLY", "x"), mb("CLIENT", "REPLY")],
    "multi exec": [mb("MULTI"), mb("PUBLISH", "ch", "x"), mb("PING"), mb("ECHO", "e"), mb("EXEC"),
                   mb("MULTI"), mb("FOO"), mb("EXEC"), mb("MULTI"), mb("PUBLISH", "a"), mb("EXEC"),
                   mb("EXEC"), mb("DISCARD"), mb("MULTI"), mb("MULTI"), mb("SUBSCRIBE", "z"), mb("EXEC"),
                   mb("PING")],
    "exec runs what was queued without the subscribed check": [mb("MULTI"), mb("SUBSCRIBE", "ex"),
                                                                mb("PUBLISH", "ex", "hi"), mb("PING"), mb("EXEC")],
    "refused exec": [mb("EXEC", "x"), mb("MULTI"), mb("EXEC", "x"), mb("EXEC"), mb("SUBSCRIBE", "q"), mb("EXEC")],
    "ssubscribe inside exec": [mb("MULTI"), mb("SSUBSCRIBE", "q"), mb("PING"), mb("EXEC")],
    "client reply skip inside multi": [mb("MULTI"), mb("CLIENT", "REPLY", "SKIP"), mb("PING"), mb("EXEC"), mb("PING"),
                                       mb("PING")],
    "client reply with pushes": [mb("CLIENT", "REPLY", "OFF"), mb("SUBSCRIBE", "rp"), mb("UNSUBSCRIBE", "rp"),
                                 mb("PSUBSCRIBE", "r*"), mb("PUNSUBSCRIBE"), mb("CLIENT", "REPLY", "ON")],
    "client reply skip then reset": [mb("CLIENT", "REPLY", "SKIP"), mb("RESET"), mb("PING")],
    "client kill and list ids": [mb("CLIENT", "KILL", "ID", "99999998", "ID", "99999999"), mb("CLIENT", "LIST", "ID", "0"),
                                 mb("CLIENT", "LIST", "ID", "-1"), mb("CLIENT", "UNBLOCK", "1", "foo")],
    "multi discard": [mb("MULTI"), mb("PING"), mb("DISCARD"), mb("PING"), mb("MULTI", "x")],
    "resp3 multi": [mb("HELLO", "3"), mb("MULTI"), mb("PING"), mb("CLIENT", "GETNAME"), mb("EXEC")],
    "resp3 numsub is a flat array": [mb("HELLO", "3"), mb("PUBSUB", "NUMSUB", "a", "b"),
                                     mb("PUBSUB", "SHARDNUMSUB", "a"), mb("PUBSUB", "NUMSUB")],
    "pubsub and auth syntax": [mb("PUBSUB", "CHANNELS", "a", "b"), mb("PUBSUB", "shardchannels", "a", "b"),
                               mb("PUBSUB", "NUMPAT", "x"), mb("AUTH", "a", "b", "c"), mb("PUBSUB", "HELP")],
    "punsubscribe in subscription order": [mb("PSUBSCRIBE", "z*", "a*", "m*", "b*", "c*", "y*"), mb("PUNSUBSCRIBE")],
    "leading zero multibulk": [b"*01\r\n$4\r\nPING\r\n"],
    "leading zero bulk": [b"*1\r\n$04\r\nPING\r\n"],
    "minus zero bulk": [b"*1\r\n$-0\r\n"],
    "integer arguments": [mb("SELECT", "01"), mb("HELLO", "03"), mb("SELECT", "-0"), mb("SELECT", "+1"),
                          mb("SELECT", " 1"), mb("SELECT", "-1")],
    "inline vertical tab is part of a name": [b"PUBLISH a\x0bb x\r\n", b"PUBSUB NUMSUB a\x0bb\r\n",
                                              b"ECHO\ta\r\n", b"  \x0b PING\r\n"],
    "client subcommand errors": [mb("CLIENT", "KILL", "1.2.3.4:5"), mb("CLIENT", "KILL", "ID", "99999999"),
                                 mb("CLIENT", "KILL", "foo", "bar"), mb("CLIENT", "LIST", "TYPE", "foo"),
                                 mb("CLIENT", "LIST", "ID", "x"), mb("CLIENT", "LIST", "TYPE", "master"),
                                 mb("CLIENT", "NO-EVICT", "maybe"), mb("CLIENT", "NO-EVICT", "on"),
                                 mb("CLIENT", "PAUSE"), mb("CLIENT", "KILL"), mb("CLIENT", "KILL", "USER", "nobody"),
                                 mb("CLIENT", "KILL", "ID", "0"), mb("CLIENT", "GETREDIR"),
                                 mb("CLIENT", "UNBLOCK", "5"), mb("CLIENT", "INFO", "x"), mb("CLIENT", "UNPAUSE")],
    # Fanout answers COMMAND from Redis's own metadata for the commands it has (containers list only
    # the subcommands Fanout has, so they are left out here).
    "command metadata": [mb("COMMAND", "INFO", "publish", "SUBSCRIBE", "nosuch", "ping"),
                         mb("COMMAND", "DOCS", "publish", "nosuch", "echo"), mb("COMMAND", "GETKEYS", "publish", "a", "b"),
                         mb("COMMAND", "GETKEYS", "nosuch", "a"), mb("COMMAND", "LIST", "FILTERBY", "MODULE", "x"),
                         mb("COMMAND", "LIST", "FILTERBY", "BOGUS", "x"), mb("COMMAND", "LIST", "x"),
                         mb("HELLO", "3"), mb("COMMAND", "INFO", "psubscribe", "nosuch"), mb("COMMAND", "DOCS", "hello")],
    "config set": [mb("CONFIG", "SET", "nosuch", "1"), mb("CONFIG", "SET", "timeout", "1", "TIMEOUT", "2"),
                   mb("CONFIG", "SET", "timeout", "1", "maxclients"), mb("CONFIG", "SET", "timeout"),
                   mb("CONFIG", "SET", "timeout", "7", "tcp-keepalive", "60"), mb("CONFIG", "GET", "timeout"),
                   mb("CONFIG", "SET", "loglevel", "notice"), mb("CONFIG", "GET", "loglevel"),
                   mb("CONFIG", "SET", "client-output-buffer-limit", "pubsub 64mb 16mb 30"),
                   mb("CONFIG", "GET", "client-output-buffer-limit")],
}

# Users for the ACL differential: both servers load this same file. The default user may only
# subscribe to public.*; publishers and subscribers get separate rights by channel glob.
ACL_FILE = """user default on nopass resetchannels &public.* -@all +ping +subscribe +unsubscribe
user pub on >pubpw resetchannels &news.* +publish +ping
user sub on #{sub_hash} resetchannels &news.* &alerts +@pubsub -publish -spublish -pubsub +acl|whoami
user off1 off >offpw +@all allchannels
user all on >allpw allchannels +@all
"""

# Each sequence runs on a fresh connection (signed in as the default user); at most two failed
# AUTHs each, as Fanout closes a client at its third.
ACL_CASES = {
    "acl default user": [mb("PING"), mb("ECHO", "x"), mb("PUBLISH", "public.x", "y"),
                         mb("SUBSCRIBE", "private"), mb("SUBSCRIBE", "public.a", "public.b"),
                         mb("SUBSCRIBE", "public.c", "private"), mb("UNSUBSCRIBE", "public.a")],
    "acl publisher": [mb("AUTH", "pub", "pubpw"), mb("PUBLISH", "news.x", "hi"), mb("PUBLISH", "alerts", "hi"),
                      mb("SPUBLISH", "news.x", "a"), mb("SUBSCRIBE", "news.x"), mb("PSUBSCRIBE", "news.*"),
                      mb("PUBSUB", "CHANNELS"), mb("PUBSUB", "NUMSUB", "a"), mb("CLIENT", "ID"),
                      mb("ACL", "WHOAMI"), mb("INFO"), mb("ECHO", "x"), mb("PING")],
    "acl subscriber": [mb("AUTH", "sub", "subpw"), mb("ACL", "WHOAMI"), mb("PUBLISH", "news.a", "x"),
                       mb("SUBSCRIBE", "news.a", "other"), mb("PSUBSCRIBE", "news.a*"), mb("PSUBSCRIBE", "*"),
                       mb("SUBSCRIBE", "news.a", "alerts"), mb("PSUBSCRIBE", "news.*"),
                       mb("SSUBSCRIBE", "news.z"), mb("SSUBSCRIBE", "elsewhere"), mb("PING"),
                       mb("UNSUBSCRIBE", "news.a", "alerts"), mb("PUNSUBSCRIBE", "news.*"),
                       mb("SUNSUBSCRIBE", "news.z")],
    "acl sign in and out": [mb("AUTH", "off1", "offpw"), mb("AUTH", "pub", "subpw"),
                            mb("HELLO", "3", "AUTH", "sub", "subpw"), mb("ACL", "WHOAMI"),
                            mb("AUTH", "pub", "pubpw"), mb("ACL", "WHOAMI"), mb("RESET"),
                            mb("ACL", "WHOAMI"), mb("PING")],
    "acl auth with one argument": [mb("AUTH", "x"), mb("AUTH", "nosuch", "x")],
    "acl errors": [mb("AUTH", "all", "allpw"), mb("ACL", "FOO"), mb("ACL", "WHOAMI", "x"), mb("ACL", "WHOAMI"),
                   mb("PUBLISH", "anything", "x")],
    # The ACL commands. ACL LIST and GETUSER describe rules as Redis does; only the order of the
    # single-command rules differs (Redis's is its hash table's: acl_normalize sorts them).
    "acl introspection": [mb("AUTH", "all", "allpw"), mb("ACL", "LIST"), mb("ACL", "USERS"), mb("ACL", "GETUSER", "sub"),
                          mb("ACL", "GETUSER", "nosuch"), mb("ACL", "GETUSER", "default"), mb("ACL", "HELP"),
                          mb("ACL", "HELP", "x"), mb("ACL", "CAT"), mb("ACL", "CAT", "nosuch"), mb("ACL", "CAT", "a", "b"),
                          mb("acl", "log", "1", "2"), mb("ACL", "LOG", "x"), mb("ACL", "LOG", "-5"),
                          mb("ACL", "GENPASS", "0"), mb("ACL", "GENPASS", "x"), mb("ACL", "GENPASS", "4097"),
                          mb("ACL", "LIST", "x"), mb("ACL", "USERS", "x"), mb("ACL", "GETUSER"), mb("ACL"),
                          mb("HELLO", "3"), mb("ACL", "GETUSER", "pub"), mb("ACL", "GETUSER", "nosuch"), mb("ACL", "LIST")],
    "acl dryrun": [mb("AUTH", "all", "allpw"), mb("ACL", "DRYRUN", "nosuch", "publish", "a", "b"),
                   mb("ACL", "DRYRUN", "pub", "publish", "news.a", "b"), mb("ACL", "DRYRUN", "pub", "publish", "other", "b"),
                   mb("ACL", "DRYRUN", "pub", "subscribe", "x"), mb("ACL", "DRYRUN", "pub", "publish", "x"),
                   mb("ACL", "DRYRUN", "pub", "client", "nosuch"), mb("ACL", "DRYRUN", "sub", "psubscribe", "news.*", "x*"),
                   mb("ACL", "DRYRUN", "pub", "client", "id"), mb("ACL", "DRYRUN", "pub", "auth", "a", "b"),
                   mb("ACL", "DRYRUN", "sub")],
    "acl setuser": [mb("AUTH", "all", "allpw"), mb("ACL", "SETUSER", "x"), mb("ACL", "GETUSER", "x"),
                    mb("ACL", "SETUSER", "y", "reset"),
                    mb("ACL", "SETUSER", "z", "on", "%R~a", "%W~b", "~c", "%RW~d", "%W~a", "&ch", "+get", "skip-sanitize-payload"),
                    mb("ACL", "SETUSER", "w", "on", "+@all", "-@dangerous", "nopass", "allchannels", ">pw", "nopass"),
                    mb("ACL", "SETUSER", "v", "+@pubsub", "-pubsub|numsub", "+select|0", "+select|1", "+SELECT|0"),
                    mb("ACL", "SETUSER", "u2", "+@all", "-@keyspace", "-@write", "+@connection"),
                    mb("ACL", "SETUSER", "u3", "+@read", "+@hash", "-hget"), mb("ACL", "SETUSER", "u4", "+client", "-client|kill"),
                    mb("ACL", "SETUSER", "u5", "+@admin", "-@dangerous", "+CONFIG|get", "~*"),
                    mb("ACL", "SETUSER", "x", ">p1", ">p2", "#" + "a" * 64, "<p1", "!" + "a" * 64),
                    mb("ACL", "SETUSER", "", "on"), mb("ACL", "LIST"), mb("ACL", "GETUSER", "z"),
                    mb("ACL", "DELUSER", "x", "y", "z", "w", "v", "u2", "u3", "u4", "u5", "", "nosuch"), mb("ACL", "USERS")],
    "acl setuser errors": [mb("AUTH", "all", "allpw"), mb("ACL", "SETUSER", "bad", "on", "+nosuch"),
                           mb("ACL", "SETUSER", "bad", "on", "+@nosuch"), mb("ACL", "SETUSER", "bad", "bogus"),
                           mb("ACL", "SETUSER", "bad", "allchannels", "&x"), mb("ACL", "SETUSER", "bad", "allkeys", "~x"),
                           mb("ACL", "SETUSER", "bad", "<nopw"), mb("ACL", "SETUSER", "bad", "#abc"),
                           mb("ACL", "SETUSER", "bad", "#" + "A" * 64), mb("ACL", "SETUSER", "bad", "+client|list|x"),
                           mb("ACL", "SETUSER", "bad", "+client|"), mb("ACL", "SETUSER", "bad", "+client|nosuch"),
                           mb("ACL", "SETUSER", "bad", "-select|0"), mb("ACL", "SETUSER", "bad", "(+get", "~x"),
                           mb("ACL", "SETUSER", "a b"), mb("ACL", "SETUSER", "a\x00b"), mb("ACL", "SETUSER"),
                           mb("ACL", "SETUSER", "bad", "&a b"), mb("ACL", "SETUSER", "bad", "+"), mb("ACL", "SETUSER", "bad", "@x"),
                           mb("ACL", "GETUSER", "bad"), mb("ACL", "DELUSER"), mb("ACL", "DELUSER", "default"),
                           mb("ACL", "DELUSER", "nosuch", "default")],
    "acl log": [mb("AUTH", "all", "allpw"), mb("ACL", "LOG", "RESET"), mb("AUTH", "pub", "wrong"), mb("auth", "nosuch", "x"),
                mb("AUTH", "pub", "pubpw"), mb("PUBLISH", "nope", "x"), mb("PUBLISH", "nope", "x"), mb("SUBSCRIBE", "x"),
                mb("ACL", "WHOAMI"), mb("RESET"), mb("AUTH", "sub", "subpw"), mb("SUBSCRIBE", "news.a", "no1", "no2"),
                mb("HELLO", "3", "AUTH", "all", "allpw"), mb("ACL", "LOG"), mb("ACL", "LOG", "2"), mb("HELLO", "2"),
                mb("ACL", "LOG", "1"), mb("ACL", "LOG", "RESET"), mb("ACL", "LOG")],
    "acl log in multi": [mb("AUTH", "all", "allpw"), mb("ACL", "SETUSER", "m", "on", "nopass", "resetchannels", "&a", "+@all"),
                         mb("AUTH", "m", "x"), mb("MULTI"), mb("PUBLISH", "nope", "x"), mb("EXEC"), mb("MULTI"),
                         mb("AUTH", "pub", "bad"), mb("EXEC"), mb("ACL", "LOG", "2"), mb("ACL", "DELUSER", "m")],
    "acl exec after the rules changed": [mb("AUTH", "sub", "subpw"), mb("MULTI"), mb("SUBSCRIBE", "news.a"),
                                         mb("AUTH", "pub", "pubpw"), mb("SUBSCRIBE", "news.b"), mb("PUBLISH", "news.x", "y"),
                                         mb("EXEC"), mb("RESET"), mb("AUTH", "all", "allpw"), mb("ACL", "LOG", "1")],
    # ACL LOAD itself is in acl_files_and_clients: Redis 7.0.15 then closes the client's connection.
    "acl save": [mb("AUTH", "all", "allpw"), mb("ACL", "SETUSER", "saved", "on", ">pw", "&s.*", "+@pubsub", "~k"),
                 mb("ACL", "SAVE"), mb("ACL", "DELUSER", "saved"), mb("ACL", "LOAD", "x"), mb("ACL", "SAVE", "x")],
}


# PUNSUBSCRIBE is not here: Redis 7.0 keeps a client's patterns in a list, in subscription order.
UNSUBSCRIBE_ALL = {mb("UNSUBSCRIBE"), mb("SUNSUBSCRIBE")}


def unordered(data):
    """(S)UNSUBSCRIBE without arguments walks Redis's dict, whose hash seed is random per
    process, so channel order is arbitrary: compare the set of names and the count sequence."""
    frames = re.findall(rb"[*>]3\r\n\$\d+\r\n(\w+)\r\n(\$-1\r\n|_\r\n|\$\d+\r\n.*?\r\n):(\d+)\r\n",
                        data, re.S)
    return (sorted(f[1] for f in frames), [f[0] + f[2] for f in frames], len(frames))


def acl_normalize(b, path=None):
    """What legitimately differs in ACL replies: the order of single-command rules in a
    description (Redis's is its hash table's, random per process), ACL LOG's ages and client
    lines (ids, ports), and the ACL file's path."""
    def sort_rules(m):
        return m.group(1) + b" ".join(sorted(m.group(2).split(b" ")))
    b = re.sub(rb"(@[a-z]+ )([+-][a-z|_0-9-]+(?: [+-][a-z|_0-9-]+)*)", sort_rules, b)
    b = re.sub(rb"(age-seconds\r\n)(\$\d+\r\n[\d.e-]+|,[\d.e-]+)\r\n", rb"\1AGE\r\n", b)
    b = re.sub(rb"\$\d+\r\nid=\d+ addr=[^\r]*\r\n", b"CLIENT-INFO\r\n", b)
    if path:
        b = b.replace(path.encode(), b"ACLFILE")
    return normalize(b)


def differential(fport, rport):
    for name, steps in DIFF_CASES.items():
        want = [normalize(x) for x in exchange(rport, steps)]
        got = [normalize(x) for x in exchange(fport, steps, [resp_values(w) for w in want])]
        for k, step in enumerate(steps):
            if step in UNSUBSCRIBE_ALL:
                want[k], got[k] = unordered(want[k]), unordered(got[k])
        check(f"bytes match redis: {name}", got == want, f"\n  fanoutd: {got}\n  redis:   {want}")


def acl_differential(binary, backend):
    """The same ACL file on both servers: every reply, NOPERM and WRONGPASS included, must match
    Redis's bytes; and redis-py, signed in as separate publisher and subscriber users, must work
    (and be refused) the same way on both."""
    import hashlib
    import tempfile
    paths = {}
    for who in ("fanoutd", "redis"):  # one file each: ACL SAVE writes it
        with tempfile.NamedTemporaryFile("w", prefix=f"fanout-compat-{who}-", suffix=".acl", delete=False) as f:
            f.write(ACL_FILE.format(sub_hash=hashlib.sha256(b"subpw").hexdigest()))
            paths[who] = f.name
    fproc, fport, _ = local_servers.start_fanoutd(binary, backend, ["--shards", "2", "--log-level", "warn",
                                                                    "--aclfile", paths["fanoutd"]])
    rproc, rport = start_redis(["--aclfile", paths["redis"]])
    try:
        for name, steps in ACL_CASES.items():
            want = [acl_normalize(x, paths["redis"]) for x in exchange(rport, steps)]
            got = [acl_normalize(x, paths["fanoutd"]) for x in exchange(fport, steps, [resp_values(w) for w in want])]
            check(f"bytes match redis: {name}", got == want, f"\n  fanoutd: {got}\n  redis:   {want}")
        acl_files_and_clients(fport, rport, paths)
        for port, label in ((fport, "fanoutd"), (rport, "redis")):
            sub = redis.Redis(host="127.0.0.1", port=port, username="sub", password="subpw", socket_timeout=5)
            pub = redis.Redis(host="127.0.0.1", port=port, username="pub", password="pubpw", socket_timeout=5)
            ps = sub.pubsub()
            ps.subscribe("news.a")
            ps.get_message(timeout=2)
            check(f"{label} redis-py ACL publisher reaches subscriber", pub.publish("news.a", "hi") == 1)
            m = ps.get_message(timeout=2)
            check(f"{label} redis-py ACL message", m and m["data"] == b"hi", m)
            for what, call in (("publish outside its channels", lambda: pub.publish("alerts", "x")),
                               ("subscriber publishing", lambda: sub.publish("news.a", "x"))):
                try:
                    call()
                    check(f"{label} redis-py ACL refuses {what}", False, "no error")
                except redis.exceptions.NoPermissionError:
                    check(f"{label} redis-py ACL refuses {what}", True)
            try:
                redis.Redis(host="127.0.0.1", port=port, username="pub", password="bad").ping()
                check(f"{label} redis-py wrong password refused", False, "no error")
            except redis.exceptions.ResponseError as e:  # this redis-py raises WRONGPASS as is
                check(f"{label} redis-py wrong password refused", str(e).startswith("WRONGPASS"), e)
            ps.close()
            sub.close()
            pub.close()
        ok, detail = local_servers.deliveries_balanced(fport, auth=("all", "allpw"))
        check("fanoutd (ACL) delivery accounting adds up", ok, detail)
    finally:
        for p in (fproc, rproc):
            if p.poll() is None:
                p.kill()
                p.wait()
        for path in paths.values():
            if os.path.exists(path):
                os.unlink(path)


def acl_files_and_clients(fport, rport, paths):
    """What ACL SAVE writes, what ACL LOAD says of a broken file, ACL CAT's members, and which
    clients a change closes, on both servers."""
    def closed(sock):
        try:
            sock.sendall(mb("PING"))
            sock.settimeout(1)
            return sock.recv(1 << 16) == b""
        except OSError:
            return True

    def run(port, path):
        def cmd(*args):  # each on a connection of its own: Redis 7.0.15's ACL LOAD closes it
            r = redis.Redis(host="127.0.0.1", port=port, username="all", password="allpw", socket_timeout=5)
            try:
                return r.execute_command(*args)
            except redis.exceptions.ResponseError as e:
                return "ERR " + str(e).replace(path, "ACLFILE")
            finally:
                r.close()

        out = {"saved": open(path).read(), "load": cmd("ACL", "LOAD"), "loaded": cmd("ACL", "GETUSER", "saved"),
               "cat pubsub": sorted(cmd("ACL", "CAT", "pubsub")),
               "genpass": [len(cmd("ACL", "GENPASS", n)) for n in ("1", "5", "255")]}
        # Which of a user's clients a change closes.
        cmd("ACL", "SETUSER", "k", "on", "nopass", "+@all", "resetchannels", "&a*", "&b*")
        conns = {}
        for name, command in (("sub a1", ("SUBSCRIBE", "a1")), ("psub b*", ("PSUBSCRIBE", "b*")),
                              ("ssub b1", ("SSUBSCRIBE", "b1")), ("plain", ("PING",))):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(mb("AUTH", "k", "x") + mb(*command))
            read_values(sock, 2)
            conns[name] = sock
        other = socket.create_connection(("127.0.0.1", port))
        other.sendall(mb("AUTH", "all", "allpw"))
        read_values(other, 1)
        gone = set()
        for step, rules in (("superset", ("&c*",)), ("a* revoked", ("resetchannels", "&b*", "&c*")),
                            ("b* revoked", ("resetchannels", "&b1")), ("off", ("off", "resetpass")), ("deluser", None)):
            if rules:
                cmd("ACL", "SETUSER", "k", *rules)
            else:
                cmd("ACL", "DELUSER", "k")
            out[step] = {name: closed(sock) for name, sock in conns.items() if name not in gone}
            gone.update(n for n, c in out[step].items() if c)
        out["other user"] = closed(other)
        for sock in list(conns.values()) + [other]:
            sock.close()
        # A client that has not signed in needs AUTH only while the default user has a password
        # (Redis's authRequired(), asked at every command); one that connected while it had none
        # stays signed in.
        before_password = socket.create_connection(("127.0.0.1", port))
        before_password.sendall(mb("PING"))
        read_values(before_password, 1)
        cmd("ACL", "SETUSER", "default", "resetpass", ">dpw")
        anon = socket.create_connection(("127.0.0.1", port))
        flips = []
        for rules in (None, ("nopass",), ("resetpass", ">dpw"), ("nopass",)):
            if rules:
                cmd("ACL", "SETUSER", "default", *rules)
            for sock in (anon, before_password):
                sock.sendall(mb("PING") + mb("HELLO", "2"))
                flips.append(acl_normalize(read_values(sock, 2)))
        out["not signed in"] = flips
        anon.close()
        before_password.close()
        # A broken file: Redis's errors, and the rules stay.
        before = cmd("ACL", "LIST")
        with open(path, "w") as f:
            f.write("user a on >apw &news* +@all +@nosuch\nuser b on bogus <x\nuser a off\nusers x\n"
                    "user c on +get|x|y\n\n  user  d  on\n")
        out["broken load"] = cmd("ACL", "LOAD")
        out["rules kept"] = cmd("ACL", "LIST") == before
        os.unlink(path)
        out["missing file"] = cmd("ACL", "LOAD")
        return out

    got, want = run(fport, paths["fanoutd"]), run(rport, paths["redis"])
    for key in want:
        g, w = got.get(key), want[key]
        if key in ("saved", "loaded"):
            g, w = [acl_normalize(repr(x).encode()) for x in (g, w)]
        check(f"ACL {key} as redis", g == w, f"\n  fanoutd: {g}\n  redis:   {w}")


def read_values(sock, n, timeout=5):
    """Reads until `n` whole RESP values have arrived (or the timeout); returns the bytes."""
    sock.settimeout(timeout)
    data = b""
    end = time.time() + timeout
    while resp_values(data) < n and time.time() < end:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        data += chunk
    return data


def delivery_bytes(fport, rport):
    """A message, a pmessage and RESP3 pushes arrive byte-identical to Redis's."""
    def run(port):
        sub = socket.create_connection(("127.0.0.1", port))
        sub3 = socket.create_connection(("127.0.0.1", port))
        sub.sendall(mb("SUBSCRIBE", "news.x") + mb("PSUBSCRIBE", "news.*"))
        sub3.sendall(mb("HELLO", "3") + mb("SUBSCRIBE", "news.x") + mb("PSUBSCRIBE", "news.*"))
        read_values(sub, 2)   # the two confirmations
        read_values(sub3, 3)  # HELLO's map and the two confirmations
        pub = socket.create_connection(("127.0.0.1", port))
        pub.sendall(mb("PUBLISH", "news.x", "hello\r\nworld"))
        out = [read_values(pub, 1)]
        for s in (sub, sub3):
            out.append(read_values(s, 2))  # message and pmessage
            s.close()
        pub.close()
        return out
    got, want = run(fport), run(rport)
    check("message/pmessage bytes match redis (RESP2 and RESP3)", got == want, f"\n  {got}\n  {want}")


def with_redis_py(port, label):
    r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
    check(f"{label} redis-py ping", r.ping() is True)
    p = r.pubsub()
    p.subscribe("chan")
    p.psubscribe("ch*")
    for _ in range(2):
        m = p.get_message(timeout=2)
        check(f"{label} redis-py confirmation", m is not None and m["type"] in ("subscribe", "psubscribe"), m)
    check(f"{label} redis-py publish count", r.publish("chan", "v1") == 2)
    got = []
    end = time.time() + 3
    while len(got) < 2 and time.time() < end:
        m = p.get_message(timeout=0.5)
        if m:
            got.append(m)
    types = sorted(m["type"] for m in got)
    check(f"{label} redis-py message and pmessage", types == ["message", "pmessage"], got)
    check(f"{label} redis-py payload", all(m["data"] == b"v1" for m in got), got)
    check(f"{label} redis-py numsub", r.pubsub_numsub("chan") == [(b"chan", 1)])
    check(f"{label} redis-py numpat", r.pubsub_numpat() == 1)
    check(f"{label} redis-py channels", r.pubsub_channels() == [b"chan"])
    p.unsubscribe()
    p.punsubscribe()
    p.close()
    r.close()


def with_redis_cli(port, label):
    cli = ["redis-cli", "-p", str(port)]
    out = subprocess.run(cli + ["PING"], capture_output=True, text=True, timeout=10)
    check(f"{label} redis-cli ping", out.stdout.strip() == "PONG", out)
    sub = subprocess.Popen(cli + ["SUBSCRIBE", "cli-chan"], stdout=subprocess.PIPE, text=True)
    psub = subprocess.Popen(cli + ["PSUBSCRIBE", "cli-*"], stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 5
    n = 0
    while time.time() < deadline:
        n = int(subprocess.run(cli + ["PUBLISH", "cli-chan", "hello"], capture_output=True,
                               text=True, timeout=10).stdout.strip() or 0)
        if n == 2:
            break
        time.sleep(0.1)
    check(f"{label} redis-cli publish reaches both", n == 2, n)
    # Each redis-cli prints the message it got (and flushes): read until the payload shows.
    outs = []
    for proc in (sub, psub):
        fd, data = proc.stdout.fileno(), b""
        end = time.time() + 5
        while time.time() < end and b"\nhello\n" not in data:
            if not select.select([fd], [], [], max(0.0, end - time.time()))[0]:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
        proc.send_signal(signal.SIGINT)
        outs.append(data.decode() + proc.communicate(timeout=5)[0])
    s_out, p_out = outs
    check(f"{label} redis-cli subscribe shows message", "message\ncli-chan\nhello" in s_out, s_out)
    check(f"{label} redis-cli psubscribe shows pmessage", "pmessage\ncli-*\ncli-chan\nhello" in p_out, p_out)
    out = subprocess.run(cli + ["-3", "HELLO", "3"], capture_output=True, text=True, timeout=10)
    check(f"{label} redis-cli RESP3 hello", "proto" in out.stdout and out.returncode == 0, out)


def with_redis_benchmark(port, label):
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-n", "2000", "-c", "10", "-q",
                          "PUBLISH", "bench", "payload"], capture_output=True, text=True, timeout=60)
    check(f"{label} redis-benchmark PUBLISH runs", out.returncode == 0 and "requests per second" in out.stdout,
          out.stdout + out.stderr)
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-n", "2000", "-c", "10", "-q", "-t", "ping"],
                         capture_output=True, text=True, timeout=60)
    check(f"{label} redis-benchmark -t ping runs", out.returncode == 0 and "requests per second" in out.stdout,
          out.stdout + out.stderr)


def with_ioredis(port, label):
    here = os.path.dirname(os.path.realpath(__file__))
    pkg = os.environ.get("FANOUT_NODE_PACKAGE", "")
    modules = os.path.join(os.path.dirname(os.path.realpath(pkg)), "node_modules") if pkg else ""
    if not modules or not os.path.isdir(os.path.join(modules, "ioredis")):
        check(f"{label} ioredis installed (tools/setup.sh)", False, modules)
        return
    env = dict(os.environ, NODE_PATH=modules)
    out = subprocess.run(["node", os.path.join(here, "ioredis_check.js"), str(port)], capture_output=True,
                         text=True, timeout=30, env=env)
    try:
        r = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        check(f"{label} ioredis ran", False, out.stdout + out.stderr)
        return
    check(f"{label} ioredis connects (INFO ready check) and pings", r.get("ping") == "PONG", r)
    check(f"{label} ioredis no errors", not r.get("errors") and not r.get("timeout"), r)
    check(f"{label} ioredis publish count", r.get("receivers") == 2, r)
    kinds = sorted(m[0] for m in r.get("messages", []))
    check(f"{label} ioredis message and pmessage", kinds == ["message", "pmessage"], r)
    check(f"{label} ioredis numsub", r.get("numsub") == ["io-chan", 1], r)


# What an operator's dashboards read from prometheus-redis-exporter: CPU, memory, network bytes,
# per-command calls and latency, errors, connected and rejected clients, the largest client
# output buffer.
EXPORTER_SERIES = [
    "redis_cpu_sys_seconds_total", "redis_cpu_user_seconds_total", "redis_memory_used_bytes",
    "redis_memory_used_rss_bytes", "redis_net_input_bytes_total", "redis_net_output_bytes_total",
    "redis_commands_total", "redis_commands_duration_seconds_total", "redis_latency_percentiles_usec",
    "redis_errors_total", "redis_connected_clients", "redis_rejected_connections_total",
    "redis_client_recent_max_output_buffer_bytes", "redis_commands_processed_total", "redis_config_maxclients",
    "redis_pubsub_channels",
]


def exporter_binary():
    found = shutil.which("prometheus-redis-exporter")
    if found:
        return found
    pkg = os.environ.get("FANOUT_NODE_PACKAGE", "")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(pkg)))) if pkg else ""
    unpacked = os.path.join(root, ".tools", "redis-exporter", "usr", "bin", "prometheus-redis-exporter")
    return unpacked if os.path.exists(unpacked) else None


def with_exporter(fport, rport):
    binary = exporter_binary()
    if binary is None:
        check("prometheus-redis-exporter installed (tools/setup.sh)", False)
        return
    logs = {}
    found = {}
    for port, label in ((fport, "fanoutd"), (rport, "redis")):
        listen = free_port()
        proc = subprocess.Popen([binary, "--redis.addr", f"redis://127.0.0.1:{port}",
                                 "--web.listen-address", f"127.0.0.1:{listen}"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            check(f"{label} exporter listening", wait_port(listen))
            r = redis.Redis(port=port)
            r.publish("exporter-chan", "x")
            try:
                r.execute_command("NOSUCHCOMMAND")
            except redis.ResponseError:
                pass
            body = urllib.request.urlopen(f"http://127.0.0.1:{listen}/metrics", timeout=20).read().decode()
        finally:
            proc.terminate()
            logs[label] = proc.communicate(timeout=10)[0]
        found[label] = {re.split(r"[{ ]", l, maxsplit=1)[0]: True for l in body.splitlines() if l.startswith("redis_")}
        count = sum(1 for l in body.splitlines() if l.startswith("redis_"))
        print(f"exporter: {label}: {count} redis_ samples, {len(found[label])} series names", flush=True)
    errors = [l for l in logs["fanoutd"].splitlines() if "level=error" in l or "level=warn" in l]
    check("exporter logs no error scraping fanoutd", not errors, "\n".join(errors))
    missing = [s for s in EXPORTER_SERIES if s not in found["fanoutd"]]
    check("exporter exports what dashboards read from fanoutd", not missing, missing)


def main():
    binary = sys.argv[1]
    backend = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--backend" else "epoll"
    fproc, fport = start_fanoutd(binary, backend)
    rproc, rport = start_redis()
    try:
        differential(fport, rport)
        delivery_bytes(fport, rport)
        for port, label in ((fport, "fanoutd"), (rport, "redis")):
            with_redis_py(port, label)
            with_redis_cli(port, label)
            with_redis_benchmark(port, label)
            with_ioredis(port, label)
        ok, detail = local_servers.deliveries_balanced(fport)
        check("fanoutd delivery accounting adds up", ok, detail)
        with_exporter(fport, rport)
        acl_differential(binary, backend)
        fproc.send_signal(signal.SIGTERM)
        check("fanoutd exits 0 on SIGTERM", fproc.wait(timeout=15) == 0)
    finally:
        for p in (fproc, rproc):
            if p.poll() is None:
                p.kill()
                p.wait()
    return summary()


if __name__ == "__main__":
    sys.exit(main())
