"""fanoutd's configuration as an operator meets it: a config file in redis.conf syntax (Redis's
directives read as Redis reads them, Fanout's own as fanout-*, flags overriding the file), errors
that name file, line and directive, --check-config, and live changes: CONFIG SET on every shard
and CONFIG REWRITE back into the file, read again by the next start.

usage: config_file_test.py FANOUTD_BINARY [--backend epoll|io_uring]
"""
import os
import subprocess
import sys
import tempfile

import redis  # Debian's python3-redis (run_py.sh runs /usr/bin/python3)

import local_servers  # noqa: E402
from checks import check, summary  # noqa: E402  (tools/pylib)


CONF = """# Fanout's pub/sub part of a redis.conf
bind 127.0.0.1
port 7399
maxclients 1234
timeout 0
tcp-keepalive 120
client-output-buffer-limit normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 61
client-query-buffer-limit 48mb
save ""
appendonly no
fanout-policy drop-oldest
fanout-shards 2
loglevel notice
cluster-enabled no
cluster-announce-ip 10.0.0.5
user alice on >secret &news.* +@pubsub +acl|whoami
"""


def write(dirname, name, text):
    path = os.path.join(dirname, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def config_get(r, name):
    return r.config_get(name).get(name)


def file_and_flags(binary, backend, tmp):
    path = write(tmp, "fanoutd.conf", CONF)
    p, port, log_path = local_servers.start_fanoutd(binary, backend, [path, "--maxclients", "99"])
    try:
        r = redis.Redis(port=port, decode_responses=True)
        check("a flag overrides the file (maxclients)", config_get(r, "maxclients") == "99", config_get(r, "maxclients"))
        check("port auto from the flag, not the file's 7399", port != 7399, port)
        check("tcp-keepalive from the file", config_get(r, "tcp-keepalive") == "120")
        check("client-output-buffer-limit's pubsub class, Redis's units (mb = MiB)",
              config_get(r, "client-output-buffer-limit").endswith("pubsub 33554432 8388608 61"),
              config_get(r, "client-output-buffer-limit"))
        check("client-query-buffer-limit 48mb", config_get(r, "client-query-buffer-limit") == str(48 << 20))
        check("fanout-policy from the file", config_get(r, "fanout-policy") == "drop-oldest")
        check("loglevel notice", config_get(r, "loglevel") == "notice")
        check("cluster-enabled no: a standalone Redis", config_get(r, "cluster-enabled") == "no" and
              r.info("cluster").get("cluster_enabled") == 0, r.info("cluster"))
        check("cluster-announce-ip from the file", config_get(r, "cluster-announce-ip") == "10.0.0.5")
        info = r.info("server")
        check("INFO config_file is the file's absolute path", info.get("config_file") == os.path.realpath(path),
              info.get("config_file"))
        alice = redis.Redis(port=port, username="alice", password="secret", decode_responses=True)
        check("the file's user line signs alice in", alice.acl_whoami() == "alice")
        with open(log_path) as f:
            log = f.read()
        check("skipped Redis directives are named once", "skipped Redis directives Fanout has no use for: save, appendonly"
              in log, log[-500:])

        # CONFIG SET: every shard takes it (many connections spread over both shards).
        check("CONFIG SET two parameters", r.config_set("maxclients", "500") and
              r.execute_command("CONFIG", "SET", "timeout", "30", "fanout-policy", "drop-newest") == "OK")
        clients = [redis.Redis(port=port, decode_responses=True) for _ in range(16)]
        seen = {c.info("backpressure").get("output_policy") for c in clients}
        check("every shard runs the new policy", seen == {"drop-newest"}, seen)
        seen = {config_get(c, "timeout") for c in clients}
        check("every shard sees the new timeout", seen == {"30"}, seen)
        for c in clients:
            c.close()

        def err(*args):
            try:
                r.execute_command(*args)
                return None
            except redis.ResponseError as e:
                return str(e)

        check("immutable", err("CONFIG", "SET", "port", "1") ==
              "CONFIG SET failed (possibly related to argument 'port') - can't set immutable config")
        check("unknown", err("CONFIG", "SET", "nosuch", "1") ==
              "Unknown option or number of arguments for CONFIG SET - 'nosuch'")
        check("duplicate", err("CONFIG", "SET", "timeout", "1", "TIMEOUT", "2") ==
              "CONFIG SET failed (possibly related to argument 'TIMEOUT') - duplicate parameter")
        check("bad value, nothing applied", err("CONFIG", "SET", "timeout", "5", "maxclients", "x") is not None and
              config_get(r, "timeout") == "30")
        check("odd arguments", err("CONFIG", "SET", "timeout", "1", "maxclients") == "syntax error")
        check("names are checked before values, as Redis", err("CONFIG", "SET", "timeout", "abc", "timeout", "5") ==
              "CONFIG SET failed (possibly related to argument 'timeout') - duplicate parameter")
        # Two CONFIG REWRITEs at once from two shards never leave a broken file (the review's case).
        import threading
        errors = []

        def rewrite_loop(v):
            cl = redis.Redis(port=port, decode_responses=True)
            for _ in range(40):
                try:
                    cl.config_set("fanout-max-channel-len", str(v))
                    cl.config_rewrite()
                except redis.ResponseError as e:
                    errors.append(str(e))
        threads = [threading.Thread(target=rewrite_loop, args=(v,)) for v in (1, 4096, 5555)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        r2 = subprocess.run([binary, path, "--check-config"], capture_output=True, text=True, timeout=30)
        check("concurrent CONFIG REWRITEs: no error, the file still valid", not errors and r2.returncode == 0,
              (errors[:3], r2.stderr))
        r.config_set("fanout-max-channel-len", "65536")

        # CONFIG REWRITE: in place, comments and other lines kept.
        r.config_set("client-output-buffer-limit", "pubsub 64mb 16mb 30")
        r.config_set("cluster-announce-port", "17379")
        check("CONFIG REWRITE", r.config_rewrite())
        with open(path) as f:
            text = f.read()
        check("rewritten in place: maxclients 500 where 1234 was", "maxclients 500\n" in text and "1234" not in text and
              text.index("maxclients") < text.index("timeout"), text)
        check("comments, skipped directives and users kept", text.startswith("# Fanout's pub/sub part") and
              'save ""' in text and "user alice on >secret" in text, text)
        check("client-output-buffer-limit rewritten", "client-output-buffer-limit pubsub 67108864 16777216 30\n" in text,
              text)
        check("fanout-policy rewritten", "fanout-policy drop-newest\n" in text, text)
        check("cluster settings kept and added", "cluster-enabled no\n" in text and "cluster-announce-ip 10.0.0.5\n" in
              text and "cluster-announce-port 17379\n" in text, text)
    finally:
        p.terminate()
        p.wait(timeout=10)
    # The next start reads what CONFIG REWRITE wrote.
    p, port, _ = local_servers.start_fanoutd(binary, backend, [path])
    try:
        r = redis.Redis(port=port, decode_responses=True)
        check("restart reads the rewritten file", config_get(r, "maxclients") == "500" and
              config_get(r, "timeout") == "30", (config_get(r, "maxclients"), config_get(r, "timeout")))
    finally:
        p.terminate()
        p.wait(timeout=10)


def without_file(binary, backend):
    p, port, _ = local_servers.start_fanoutd(binary, backend, [])
    try:
        r = redis.Redis(port=port, decode_responses=True)
        try:
            r.config_rewrite()
            check("CONFIG REWRITE without a file fails", False)
        except redis.ResponseError as e:
            check("CONFIG REWRITE without a file fails as Redis", str(e) == "The server is running without a config file",
                  str(e))
        # CONFIG SET requirepass: the default user's password on every shard, for new sign-ins;
        # clients already signed in stay (as in Redis).
        check("CONFIG SET requirepass", r.config_set("requirepass", "s3cret"))
        others = [redis.Redis(port=port, decode_responses=True) for _ in range(8)]
        refused = 0
        for o in others:
            try:
                o.ping()
            except redis.AuthenticationError:
                refused += 1
            except redis.ResponseError as e:
                refused += "NOAUTH" in str(e)
        check("every shard asks new clients for the password", refused == len(others), refused)
        check("the asking client stays signed in", r.ping())
        check("the new password works", redis.Redis(port=port, password="s3cret").ping())
        check("CONFIG GET requirepass", config_get(r, "requirepass") == "s3cret")
        check("CONFIG SET requirepass '' turns it off", r.config_set("requirepass", "") and
              redis.Redis(port=port).ping())
        try:
            r.config_set("aclfile", "/tmp/anywhere.acl")
            check("CONFIG SET aclfile is refused (immutable, as in Redis)", False)
        except redis.ResponseError as e:
            check("CONFIG SET aclfile is refused (immutable, as in Redis)", "can't set immutable config" in str(e), str(e))
        check("CONFIG SET save '' is the no-op it is in Fanout", r.execute_command("CONFIG", "SET", "save", "") == "OK")
        try:
            r.config_set("maxmemory", "100mb")
            check("CONFIG SET maxmemory 100mb is refused", False)
        except redis.ResponseError as e:
            check("CONFIG SET maxmemory 100mb is refused", "only '0' is accepted" in str(e), str(e))
    finally:
        p.terminate()
        p.wait(timeout=10)


def errors(binary, backend, tmp):
    def run(*args):
        return subprocess.run([binary, *args], capture_output=True, text=True, timeout=30)

    good = write(tmp, "good.conf", CONF)
    r = run(good, "--check-config")
    check("--check-config on a good file", r.returncode == 0 and "configuration OK" in r.stdout, (r.returncode, r.stderr))
    cases = [
        ("port 7000\nmaxclients 10\nbogus 1\n", ":3: 'bogus 1': unknown directive bogus"),
        ('bind "127.0.0.1\n', ":1: 'bind \"127.0.0.1': unbalanced quotes"),
        ("maxclients many\n", ":1: 'maxclients many': maxclients must be between 1 and 10000000, got 'many'"),
        ("daemonize yes\n", ":1: 'daemonize yes': daemonize yes: fanoutd stays in the foreground"),
        ("client-output-buffer-limit pubsub 1mb\n", "client-output-buffer-limit takes <class> <hard> <soft> <seconds>"),
        ("include /etc/other.conf\n", "include: Fanout reads one config file"),
        ("maxmemory 1gb\n", "maxmemory: Fanout stores no data"),
    ]
    for i, (text, want) in enumerate(cases):
        path = write(tmp, f"bad{i}.conf", text)
        for extra in ([], ["--check-config"]):
            r = run(path, "--port", "auto", "--backend", backend, *extra)
            last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
            check(f"{text.strip()!r} {extra}: exit 2 naming file, line and directive",
                  r.returncode == 2 and last.startswith("fanoutd: " + path) and want in last, (r.returncode, last))
    both = write(tmp, "both.conf", "aclfile /tmp/x.acl\nuser a on nopass\n")
    r = run(both, "--check-config")
    check("users in the file and an ACL file: refused, as Redis refuses them",
          r.returncode == 2 and "users defined in redis.conf and at the same setting an ACL file" in r.stderr, r.stderr)
    fifo = os.path.join(tmp, "fifo.conf")
    os.mkfifo(fifo)
    r = run(fifo, "--check-config")
    check("a FIFO named as the config file is refused, not waited on", r.returncode == 2 and
          "is not a regular file" in r.stderr, r.stderr)
    r = run("/nonexistent/fanoutd.conf")
    check("a missing file", r.returncode == 2 and "cannot open /nonexistent/fanoutd.conf" in r.stderr, r.stderr)
    r = run("--port", "0", "--backend", backend)
    check("port 0: no TCP listener, and nothing else to listen on", r.returncode == 2 and
          "port 0 turns the TCP listener off" in r.stderr, r.stderr)
    # --check-config refuses what the start would (it passed both before: the newcomer's review).
    r = run("--check-config", "--port", "0")
    check("--check-config: port 0 and nothing else to listen on", r.returncode == 2 and
          "port 0 turns the TCP listener off" in r.stderr, (r.returncode, r.stderr))
    r = run("--check-config", "--bind", "0.0.0.0", "--port", "7390")
    check("--check-config: protected mode refuses a non-loopback bind without a password", r.returncode == 2 and
          "refusing to listen on 0.0.0.0 without authentication" in r.stderr, (r.returncode, r.stderr))
    r = run("--check-config", "--bind", "0.0.0.0", "--port", "7390", "--requirepass", "x")
    check("--check-config: with a password it passes", r.returncode == 0, (r.returncode, r.stderr))
    r = run("--check-config", "--aclfile", "/nonexistent/acl")
    check("--check-config reads the ACL file", r.returncode == 2 and "/nonexistent/acl" in r.stderr, r.stderr)


def main():
    binary = sys.argv[1]
    backend = sys.argv[sys.argv.index("--backend") + 1] if "--backend" in sys.argv else "epoll"
    with tempfile.TemporaryDirectory() as tmp:
        file_and_flags(binary, backend, tmp)
        without_file(binary, backend)
        errors(binary, backend, tmp)
    sys.exit(summary())


if __name__ == "__main__":
    main()
