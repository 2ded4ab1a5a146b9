"""Records what real clients send, as seed corpora for the fuzz targets.

Starts fanoutd (port 0) behind a recording proxy on loopback, runs redis-cli, redis-py and
redis-benchmark through the proxy, and writes each client connection's bytes as seeds:
  corpus/resp_parser_fuzz/real-*   (control byte 0x00, then the stream)
  corpus/dispatch_fuzz/real-*      (the stream sent by client 0 in chunks: dispatch_seeds.encode)
Run with Debian's /usr/bin/python3 (redis-py):  /usr/bin/python3 tests/fuzz/capture_seeds.py FANOUTD
"""
import hashlib
import os
import socket
import subprocess
import sys
import threading
import time

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "pylib"))
import local_servers  # noqa: E402
import dispatch_seeds  # noqa: E402

captured = []
lock = threading.Lock()


def pump(src, dst, record):
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        if not data:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return
        if record is not None:
            record.append(data)
        try:
            dst.sendall(data)
        except OSError:
            return


def proxy(listener, port):
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        server = socket.create_connection(("127.0.0.1", port))
        record = []
        with lock:
            captured.append(record)
        threading.Thread(target=pump, args=(client, server, record), daemon=True).start()
        threading.Thread(target=pump, args=(server, client, None), daemon=True).start()


def write(dirname, name, data):
    d = os.path.join(HERE, "corpus", dirname)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    fanoutd = sys.argv[1]
    proc, port, _ = local_servers.start_fanoutd(fanoutd, "epoll", ["--shards", "1"])
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    pport = listener.getsockname()[1]
    threading.Thread(target=proxy, args=(listener, port), daemon=True).start()
    try:
        cli = ["redis-cli", "-p", str(pport)]
        for args in (["PING"], ["PUBLISH", "news", "hello world"], ["PUBSUB", "CHANNELS", "*"],
                     ["PUBSUB", "NUMSUB", "a", "b"], ["INFO", "server"], ["HELLO", "3"],
                     ["CLIENT", "SETNAME", "seed"], ["SPUBLISH", "s", "x"]):
            subprocess.run(cli + args, capture_output=True, timeout=10)
        r = redis.Redis(port=pport)
        p = r.pubsub()
        p.subscribe("news", "sports")
        p.psubscribe("n*", "[a-c]?x")
        r.publish("news", "from redis-py")
        time.sleep(0.1)
        while p.get_message(timeout=0.1):
            pass
        p.unsubscribe("sports")
        p.punsubscribe()
        p.close()
        r3 = redis.Redis(port=pport, protocol=3) if "protocol" in redis.Redis.__init__.__code__.co_varnames else None
        if r3:
            r3.ping()
        subprocess.run(["redis-benchmark", "-p", str(pport), "-n", "200", "-c", "2", "-P", "4", "-q",
                        "PUBLISH", "bench", "payload"], capture_output=True, timeout=60)
        time.sleep(0.3)
    finally:
        listener.close()
        proc.terminate()
        proc.wait(timeout=10)
    n = 0
    with lock:
        streams = [b"".join(rec) for rec in captured]
    for data in streams:
        if not data:
            continue
        data = data[:4096]
        tag = hashlib.sha1(data).hexdigest()[:12]
        write("resp_parser_fuzz", f"real-{tag}", b"\x00" + data)
        write("dispatch_fuzz", f"real-{tag}", dispatch_seeds.encode(data))
        n += 1
    print(f"captured {n} client connections")


if __name__ == "__main__":
    main()
