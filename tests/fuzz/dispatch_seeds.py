"""Seeds for tests/fuzz/dispatch_fuzz (see its header for the input format): scripted scenarios
across two shards, and encode() for what capture_seeds.py records from real clients.
Writes tests/fuzz/corpus/dispatch_fuzz/script-*.   usage: python3 tests/fuzz/dispatch_seeds.py
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "pylib"))
from local_servers import resp_command as cmd  # noqa: E402
SEND, COMPLETE, HALF_CLOSE, RESET, CONNECT, STALE, ITERATE, TIME = range(8)


def op(action, client=0, mode=0):
    return bytes([action | (client << 3) | (mode << 6)])


def send(client, data):
    out = b""
    for i in range(0, len(data), 255):
        piece = data[i:i + 255]
        out += op(SEND, client) + bytes([len(piece)]) + piece
    return out


def settle(rounds=1):
    """Both shards: every op completed as a healthy kernel would, then an iteration."""
    return (op(ITERATE, 0, 1) + op(ITERATE, 1, 1)) * rounds


def encode(stream, client=0):
    """A captured client stream as a seed: the client sends it in chunks, the shards settle."""
    out = op(CONNECT, client) + settle()
    for i in range(0, len(stream), 200):
        out += send(client, stream[i:i + 200]) + settle()
    return out + op(HALF_CLOSE, client) + settle(2)


def scripts():
    s = {}
    # Subscribers on both shards, RESP2 and RESP3, a publisher on each: the rings carry messages
    # both ways; one subscriber reads slowly (short sends, EAGAIN) while publishing goes on.
    x = op(CONNECT, 0) + op(CONNECT, 1) + op(CONNECT, 2) + op(CONNECT, 3) + settle()
    x += send(0, cmd("SUBSCRIBE", "news")) + send(1, cmd("HELLO", "3") + cmd("PSUBSCRIBE", "n*"))
    x += settle(2)
    for i in range(20):
        x += send(2, cmd("PUBLISH", "news", "a%d" % i)) + send(3, cmd("PUBLISH", "news", "b%d" % i))
        x += op(ITERATE, 0) + op(ITERATE, 1)
        x += op(COMPLETE, 0, 1) + bytes([i, 7]) + op(COMPLETE, 1, 2) + bytes([i, 0])
        x += op(ITERATE, 0) + op(ITERATE, 1)
    s["cross-shard"] = x + settle(4)
    # A subscriber resets with sends in flight; its fd is reused by the next client, and a stale
    # completion for the old connection arrives after.
    x = op(CONNECT, 0) + op(CONNECT, 1) + settle()
    x += send(0, cmd("SUBSCRIBE", "c")) + settle(2)
    x += send(1, cmd("PUBLISH", "c", "x" * 200) * 8) + op(ITERATE, 1) + op(ITERATE, 0)
    x += op(RESET, 0) + op(ITERATE, 0) + op(COMPLETE, 0, 3) + bytes([0, 0]) + settle(2)
    x += op(CONNECT, 2) + op(STALE, 2, 1) + bytes([0]) + op(STALE, 2, 0) + bytes([1]) + settle(2)
    x += send(2, cmd("SUBSCRIBE", "c")) + settle() + send(1, cmd("PUBLISH", "c", "y")) + settle(3)
    s["reuse-and-stale"] = x
    # A publisher blocked on a full ring (mailbox depth 16) while the other shard does not run,
    # then released; a half-closed client and a slowloris one reaped by the clock.
    x = op(CONNECT, 0) + op(CONNECT, 1) + op(CONNECT, 3) + settle()
    x += send(1, cmd("SUBSCRIBE", "q")) + settle(2)
    x += send(0, b"".join(cmd("PUBLISH", "q", "m%d" % i) for i in range(40)))
    x += op(ITERATE, 0, 1) * 4 + op(ITERATE, 1, 1) + op(ITERATE, 0, 1) * 2 + settle(6)
    x += send(3, b"*2\r\n$4\r\nPING\r\n$") + op(TIME) + bytes([60]) + settle(2)
    x += op(HALF_CLOSE, 0) + settle(3)
    s["blocked-publisher"] = x
    # The metrics endpoint (clients 6 and 7): a scrape, pipelined requests read one at a time
    # while a response is only partly sent, a refused request, a slow head reaped by the clock.
    get = b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n"
    x = op(CONNECT, 6) + op(CONNECT, 7) + op(CONNECT, 0) + settle()
    x += send(0, cmd("SUBSCRIBE", "m")) + send(6, get) + settle(2)
    x += send(7, get + b"HEAD /healthz HTTP/1.1\r\nHost: a\r\n\r\n" + b"GET /x HTTP/1.0\r\n\r\n")
    x += op(ITERATE, 1) + op(COMPLETE, 7, 1) + bytes([0, 100]) + op(ITERATE, 1) + settle(4)
    x += send(6, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc") + settle(2)
    x += op(CONNECT, 6) + settle() + send(6, b"GET /healthz HTTP/1.1\r\nHo") + op(TIME) + bytes([150]) + settle(2)
    s["metrics-endpoint"] = x
    # ACL changes made on both shards while the user's subscribers are on both: SETUSER takes a
    # channel away (a subscriber on each shard is closed), DELUSER, ACL LOG, LIST from the other.
    x = op(CONNECT, 0) + op(CONNECT, 1) + op(CONNECT, 2) + op(CONNECT, 3) + settle()
    x += send(0, cmd("AUTH", "sub", "s") + cmd("SUBSCRIBE", "news.a", "news.b"))
    x += send(1, cmd("AUTH", "sub", "s") + cmd("PSUBSCRIBE", "news.*") + cmd("SUBSCRIBE", "news.a"))
    x += settle(2)
    x += send(2, cmd("ACL", "SETUSER", "sub", "resetchannels", "&news.a") + cmd("ACL", "LOG"))
    x += send(3, cmd("ACL", "SETUSER", "x", "on", "nopass", "+@all") + cmd("ACL", "DELUSER", "pub"))
    x += op(ITERATE, 0) + op(ITERATE, 1) + settle(4)
    x += send(3, cmd("AUTH", "pub", "p") + cmd("ACL", "LIST") + cmd("ACL", "GETUSER", "sub")) + settle(3)
    s["acl-changes"] = x
    # FANOUT TOPCHANNELS over channels on both shards, walked in slices while messages flow, and
    # /metrics' own walk on shard 0 as time passes.
    x = op(CONNECT, 0) + op(CONNECT, 1) + op(CONNECT, 2) + op(CONNECT, 6) + settle()
    x += send(0, cmd("SUBSCRIBE", *["t%d" % i for i in range(300)])) + send(1, cmd("SUBSCRIBE", "t1", "u")) + settle(3)
    x += send(2, cmd("PUBLISH", "t1", "m" * 50) + cmd("PUBLISH", "u", "n") + cmd("FANOUT", "TOPCHANNELS", "3"))
    x += settle(4) + op(TIME) + bytes([20]) + settle(3) + send(6, get) + settle(3)
    x += send(2, cmd("FANOUT", "TOPCHANNELS", "2", "BY", "SUBSCRIBERS") + cmd("FANOUT", "HELP")) + settle(4)
    s["top-channels"] = x
    # CLUSTER, as cluster clients ask it (ioredis: SLOTS then INFO; redis-py: INFO, SLOTS, COMMAND),
    # in RESP2 and RESP3, with the errors and a subscribed client's refusal.
    x = op(CONNECT, 0) + op(CONNECT, 1) + settle()
    x += send(0, cmd("CLUSTER", "SLOTS") + cmd("CLUSTER", "INFO") + cmd("READONLY") + cmd("CLUSTER", "KEYSLOT", "{a}b"))
    x += send(1, cmd("HELLO", "3") + cmd("CLUSTER", "SHARDS") + cmd("CLUSTER", "NODES") + cmd("CLUSTER", "MYID"))
    x += settle(2)
    x += send(0, cmd("CLUSTER", "GETKEYSINSLOT", "1", "-1") + cmd("CLUSTER", "COUNTKEYSINSLOT", "16384") +
              cmd("CLUSTER", "ADDSLOTS", "1") + cmd("CLUSTER", "NOSUCH") + cmd("CLUSTER", "HELP"))
    x += send(1, cmd("SSUBSCRIBE", "s") + cmd("CLUSTER", "SLOTS") + cmd("READWRITE")) + settle(3)
    s["cluster"] = x
    return s


def main():
    d = os.path.join(HERE, "corpus", "dispatch_fuzz")
    os.makedirs(d, exist_ok=True)
    for name, data in scripts().items():
        with open(os.path.join(d, "script-" + name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
