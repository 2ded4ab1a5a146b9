"""Slow links and half-open peers over real network paths, not socket options: fanoutd runs in a
network namespace of its own, bound to 192.0.2.1 (RFC 5737), and its clients reach it from
other namespaces over veth pairs. The test creates every namespace itself (names carry its PID)
and removes them in a finally block, on failure and on SIGTERM too.

(a) slow link: one subscriber's path is shaped to 1 Mbit/s (tbf on the server end's egress), a
    second subscriber has an unshaped path, and a publisher sends 3,000 messages of 1-4 KiB at
    1,500/s (~30 Mbit/s). With --policy disconnect and --client-hard-limit 1m (slack for a fast
    reader the CPU starves a moment on a loaded machine; the slow link's 7 MB backlog passes it
    anyway) the slow one is
    disconnected (slow_disconnected, overflow_hard) and stops counting in PUBLISH's replies;
    with --policy drop-newest it stays subscribed, loses messages (dropped_newest > 0) and
    receives exactly the others, in order, once its queue drains. Either way the fast one
    receives every message, byte for byte, in order, the slow one no more than the link carries
    (< 1.5 Mbit/s measured), and nothing is left queued at the end.
(b) link down: with --tcp-user-timeout 2000, two subscribers lose their link mid-stream, one by
    its own veth end going down, one by the server's end going down. fanoutd must close both
    within 20 s, and not before 1.5 s: the timeout (its log names ETIMEDOUT for both client
    ids), not the output policy, which a 64 MiB limit keeps out of it. Their queues are freed
    and counted (deliveries_discarded rises, nothing is left queued) while a third subscriber
    on a healthy path keeps receiving every message in order. The contrast: the same run
    without --tcp-user-timeout still holds both after 8 s, their pushes waiting in fanoutd's
    queue (keepalive does not probe while data is unacknowledged; the kernel retransmits for
    ~15 minutes).
Every run ends with INFO's delivery accounting balanced and fanoutd exiting 0 on SIGTERM.
Skips (a line "SKIPPED: why", exit 0) when not root, iproute2 is missing, `ip netns add` is
refused, tc/tbf is unavailable (part a), or the backend cannot run on this kernel.

usage: netns_test.py FANOUTD_BINARY [--backend epoll|io_uring] [--only slow_link|link_down]
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import local_servers  # noqa: E402  (tools/pylib, put on the path by run_py.sh)
import netns_lib as nl  # noqa: E402

PREFIX = "fanoutns"
PASSED, FAILED, SKIPPED = [], [], []


def check(name, cond, detail=""):
    (PASSED if cond else FAILED).append(name)
    print(f"{'ok  ' if cond else 'FAIL'} {name}" + (f"  ({detail})" if detail else ""), flush=True)


def skip(why):
    SKIPPED.append(why)
    print(f"SKIPPED: {why}", flush=True)


class BackendUnavailable(Exception):
    pass


def start_server(binary, ns, backend, args):
    srv = nl.Server(binary, ns, backend, args)
    if srv.skip:
        os.unlink(srv.log.name)
        raise BackendUnavailable(srv.skip)
    return srv


def mbit_per_s(sub):
    """What one subscriber received per second, from its first message to its last."""
    if len(sub.times) < 2 or sub.times[-1] <= sub.times[0]:
        return 0.0
    return sub.reader.bytes * 8 / (sub.times[-1] - sub.times[0]) / 1e6


def slow_link(binary, backend, policy):
    count, rate = 3000, 1500
    tag = f"{backend}: slow link, {policy}:"
    topo = nl.Topology(PREFIX, f"{backend[:2]}-{policy[:4]}")
    srv = info = pub = None
    subs = []
    try:
        slow_ns, slow_dev, _ = topo.add_path("slow", 2)
        fast_ns, _, _ = topo.add_path("fast", 3)
        rc, out = nl.run("tc", "-n", topo.server, "qdisc", "add", "dev", slow_dev, "root", "tbf",
                         "rate", "1mbit", "burst", "32kbit", "latency", "400ms", check=False)
        if rc != 0:
            skip(f"{tag} tc tbf is not available: {out}")
            return
        srv = start_server(binary, topo.server, backend,
                           ["--shards", "2", "--policy", policy, "--client-hard-limit", "1m",
                            "--client-soft-limit", "0"])
        info = nl.Info(topo.server, srv.port)
        fast = nl.Subscriber("fast", fast_ns, srv.port, ["stream"])
        slow = nl.Subscriber("slow", slow_ns, srv.port, ["stream"])
        subs = [fast, slow]
        for s in subs:
            s.start()
        pub = nl.Publisher(topo.server, srv.port, "stream", count, rate)
        pub.start()
        pub.join(timeout=count / rate + 20)
        check(f"{tag} publisher sent {count} messages", pub.error is None and len(pub.replies) == count,
              f"{len(pub.replies)} replies, error {pub.error!r}")
        t_pub = (pub.done_at or time.time()) - pub.started_at
        got_all = nl.wait_for(lambda: len(fast.seqs) >= count or fast.eof_at, 20)
        check(f"{tag} fast subscriber received every message in order, byte for byte",
              got_all and fast.seqs == list(range(count)) and not fast.bad and fast.eof_at is None,
              f"{len(fast.seqs)} of {count}, {len(fast.bad)} bad, eof {fast.eof_at}, "
              f"{mbit_per_s(fast):.1f} Mbit/s, published over {t_pub:.2f} s")
        if policy == "disconnect":
            nl.wait_for(lambda: info.get()["slow_disconnected"] >= 1, 10)
            # Whatever the kernel held for it still trickles out over the shaped link, then EOF.
            nl.wait_for(lambda: slow.eof_at is not None, 30, step=0.1)
            f = info.get()
            check(f"{tag} slow subscriber disconnected by the hard limit",
                  f["slow_disconnected"] == 1 and f["overflow_hard"] >= 1 and f["dropped_newest"] == 0
                  and f["dropped_oldest"] == 0,
                  f"slow_disconnected {f['slow_disconnected']}, overflow_hard {f['overflow_hard']}, "
                  f"dropped_newest {f['dropped_newest']}, dropped_oldest {f['dropped_oldest']}")
            check(f"{tag} slow subscriber saw its connection end", slow.eof_at is not None,
                  f"eof {slow.eof_at - pub.started_at:.1f} s after the first publish" if slow.eof_at else "no EOF")
            check(f"{tag} slow subscriber got an unbroken prefix of the stream, nothing after its cut",
                  slow.seqs == list(range(len(slow.seqs))) and not slow.bad and 0 < len(slow.seqs) < count,
                  f"{len(slow.seqs)} messages, {len(slow.bad)} bad")
            r = pub.replies
            check(f"{tag} PUBLISH counted both, then only the fast one",
                  r and r[0] == 2 and r[-1] == 1 and all(a >= b for a, b in zip(r, r[1:])),
                  f"first {r[:1]}, last {r[-1:]}, distinct {sorted(set(r))}")
            check(f"{tag} only the fast subscriber is left", info.numsub("stream")["stream"] == 1)
        else:
            # Every push owed is decided (sent, queued or dropped) once due counts both subscribers.
            nl.wait_for(lambda: info.get()["deliveries_due"] >= 2 * count, 10)
            f = info.get()
            dropped = f["dropped_newest"]
            # Once its queue drains over the shaped link it holds exactly what was not dropped.
            nl.wait_for(lambda: len(slow.seqs) >= count - dropped or slow.eof_at, 40, step=0.1)
            f = info.get()
            check(f"{tag} slow subscriber kept, newest messages dropped",
                  dropped > 0 and f["dropped_newest"] == dropped and f["slow_disconnected"] == 0
                  and f["dropped_oldest"] == 0 and slow.eof_at is None
                  and info.numsub("stream")["stream"] == 2,
                  f"dropped_newest {dropped}, slow_disconnected {f['slow_disconnected']}, eof {slow.eof_at}")
            check(f"{tag} slow subscriber received exactly the messages not dropped, in order",
                  slow.in_order() and not slow.bad and len(slow.seqs) == count - dropped,
                  f"{len(slow.seqs)} received + {dropped} dropped vs {count}, {len(slow.bad)} bad, "
                  f"drained {slow.times[-1] - pub.started_at:.1f} s after the first publish" if slow.times else "")
            check(f"{tag} PUBLISH counted both throughout", set(pub.replies) == {2}, f"{sorted(set(pub.replies))}")
        check(f"{tag} the slow path carried no more than its 1 Mbit/s",
              0 < mbit_per_s(slow) < 1.5 and mbit_per_s(fast) > 10,
              f"slow {mbit_per_s(slow):.2f} Mbit/s, fast {mbit_per_s(fast):.1f} Mbit/s")
        empty, q = drained(info, 20)
        check(f"{tag} nothing left queued once the stream is over", empty, queue_detail(q))
        ok, detail, _ = info.balanced()
        check(f"{tag} delivery accounting balances", ok, detail)
    finally:
        finish(srv, info, pub, subs, topo, tag)


def shard_lines(f):
    return "; ".join(f"{k} {v}" for k, v in f.items() if k.startswith("shard") and k[5:].isdigit())


def closing_lines(srv):
    """The server's "closing client" lines (debug), each as "id=N: reason"."""
    out = []
    for line in srv.log_text().splitlines():
        if "closing client" not in line:
            continue
        try:
            ev = local_servers.parse_log_line(line)
        except ValueError:
            out.append(line)
            continue
        out.append(f"id={ev.get('id')}: {ev.get('reason')}")
    return out


def drained(info, timeout):
    """Polls INFO (0.1 s apart) until no push and no byte is queued. Returns (ok, fields last
    seen). Not back to back: an INFO sent right on the heels of the previous reply can find that
    reply still counted in queued_output_bytes (the gauge is refreshed once per loop iteration)."""
    last = {}

    def empty():
        last.update(info.get())
        return last["deliveries_queued"] == 0 and last["queued_output_bytes"] == 0
    return nl.wait_for(empty, timeout, step=0.1), last


def queue_detail(f):
    return (f"deliveries_queued {f.get('deliveries_queued')}, queued_output_bytes "
            f"{f.get('queued_output_bytes')}; {shard_lines(f)}")


def finish(srv, info, pub, subs, topo, tag):
    try:
        for s in subs:
            s.finish()
        if pub:
            pub.finish()
        if info:
            info.close()
        if srv:
            rc = srv.stop()
            check(f"{tag} fanoutd exits 0 on SIGTERM", rc == 0,
                  f"exit {rc}" + ("" if rc == 0 else f"; log: {srv.log_text()[-2000:]!r}"))
            os.unlink(srv.log.name)
    finally:
        topo.remove()


def link_down(binary, backend, user_timeout_ms):
    rate, window = 300, (20 if user_timeout_ms else 8)
    tag = f"{backend}: link down, " + (f"--tcp-user-timeout {user_timeout_ms}:" if user_timeout_ms
                                        else "no --tcp-user-timeout:")
    topo = nl.Topology(PREFIX, f"{backend[:2]}-{'ut' if user_timeout_ms else 'no'}")
    srv = info = pub = None
    subs = []
    try:
        fast_ns, _, _ = topo.add_path("fast", 3)
        cutc_ns, _, cutc_dev = topo.add_path("cutc", 4)
        cuts_ns, cuts_dev, _ = topo.add_path("cuts", 5)
        # --log-level debug: fanoutd logs why it closes each client.
        args = ["--shards", "2", "--policy", "disconnect", "--client-hard-limit", "64m", "--client-soft-limit", "0",
                "--log-level", "debug"]
        if user_timeout_ms:
            args += ["--tcp-user-timeout", str(user_timeout_ms)]
        srv = start_server(binary, topo.server, backend, args)
        info = nl.Info(topo.server, srv.port)
        healthy = nl.Subscriber("healthy", fast_ns, srv.port, ["stream"])
        vc = nl.Subscriber("client-end-down", cutc_ns, srv.port, ["stream", "only-c"])
        vs = nl.Subscriber("server-end-down", cuts_ns, srv.port, ["stream", "only-s"])
        subs = [healthy, vc, vs]
        for s in subs:
            s.start()
        pub = nl.Publisher(topo.server, srv.port, "stream", rate * 60, rate, max_s=60)
        pub.start()
        flowing = nl.wait_for(lambda: len(vc.seqs) >= 100 and len(vs.seqs) >= 100, 10)
        check(f"{tag} both subscribers receive before the cut", flowing, f"{len(vc.seqs)}, {len(vs.seqs)}")
        nl.run("ip", "-n", cutc_ns, "link", "set", cutc_dev, "down")
        nl.run("ip", "-n", topo.server, "link", "set", cuts_dev, "down")
        t_cut = time.time()
        before = info.get()
        closed, at_cut = {}, None
        for _ in range(int(window / 0.1) + 1):  # bounded: one INFO round trip per 0.1 s
            if at_cut is None and time.time() > t_cut + 0.5:  # what was in flight has landed
                at_cut = (len(vc.seqs), len(vs.seqs))
            n = info.numsub("only-c", "only-s")
            for ch in ("only-c", "only-s"):
                if n[ch] == 0 and ch not in closed:
                    closed[ch] = time.time() - t_cut
            if len(closed) == 2 or time.time() > t_cut + window:
                break
            time.sleep(0.1)
        f = info.get()
        times = ", ".join(f"{k} closed after {v:.2f} s" for k, v in sorted(closed.items())) or "none closed"
        if user_timeout_ms:
            check(f"{tag} both cut subscribers closed within {window} s, not before the timeout",
                  len(closed) == 2 and all(1.5 <= t <= window for t in closed.values()), times)
            # The socket error that ends them: ETIMEDOUT from TCP_USER_TIMEOUT, or, with the
            # server's own end of the link down, the route gone (ENETUNREACH, EHOSTUNREACH).
            errors = ("Connection timed out", "Network is unreachable", "No route to host")
            why = [[f"id={v.client_id}: {e}" for e in errors] for v in (vc, vs)]
            logged = nl.wait_for(lambda: all(any(w in closing_lines(srv) for w in ws) for ws in why), 5)
            check(f"{tag} by a socket error (ETIMEDOUT or no route), not the output policy",
                  logged and f["slow_disconnected"] == 0 and f["overflow_hard"] == 0,
                  f"slow_disconnected {f['slow_disconnected']}, overflow_hard {f['overflow_hard']}, "
                  f"log {'has' if logged else 'lacks'} {why}: {closing_lines(srv)}")
            check(f"{tag} their queued pushes were freed and counted",
                  f["deliveries_discarded"] > before["deliveries_discarded"],
                  f"deliveries_discarded {before['deliveries_discarded']} -> {f['deliveries_discarded']}, "
                  f"send_errors {before['send_errors']} -> {f['send_errors']}, queued bytes at cut "
                  f"{before['queued_output_bytes']}")
            check(f"{tag} connected clients back to INFO + publisher + healthy", f["connected_clients"] == 3,
                  f"connected_clients {f['connected_clients']}")
            mark = len(healthy.seqs)
            more = nl.wait_for(lambda: len(healthy.seqs) >= mark + 100, 10)
            check(f"{tag} healthy subscriber keeps receiving after the closes", more,
                  f"{mark} -> {len(healthy.seqs)}")
            check(f"{tag} PUBLISH counts only the healthy one now", pub.replies[-1:] == [1], f"{pub.replies[-1:]}")
        else:
            check(f"{tag} both cut subscribers still held after {window} s",
                  not closed and "Connection timed out" not in srv.log_text(), times)
            check(f"{tag} their pushes wait in fanoutd's queue, nothing lost",
                  f["deliveries_queued"] > 0 and f["deliveries_discarded"] == 0 and f["connected_clients"] == 5,
                  f"deliveries_queued {f['deliveries_queued']}, discarded {f['deliveries_discarded']}, "
                  f"queued bytes {f['queued_output_bytes']}, connected_clients {f['connected_clients']}")
        check(f"{tag} nothing reached the cut subscribers after the cut",
              (len(vc.seqs), len(vs.seqs)) == at_cut and vc.eof_at is None and vs.eof_at is None,
              f"0.5 s after the cut {at_cut}, now {(len(vc.seqs), len(vs.seqs))}")
        pub.stop_flag.set()
        pub.join(timeout=10)
        sent = len(pub.replies)
        got = nl.wait_for(lambda: len(healthy.seqs) >= sent, 10)
        check(f"{tag} healthy subscriber received every message in order",
              got and pub.error is None and healthy.seqs == list(range(sent)) and not healthy.bad,
              f"{len(healthy.seqs)} of {sent}, {len(healthy.bad)} bad, publisher error {pub.error!r}")
        if user_timeout_ms:
            empty, q = drained(info, 10)
            check(f"{tag} nothing left queued: the cut subscribers' queues were freed", empty, queue_detail(q))
        ok, detail, _ = info.balanced()
        check(f"{tag} delivery accounting balances", ok, detail)
    finally:
        finish(srv, info, pub, subs, topo, tag)


def preflight():
    """The reason namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return f"network namespaces need root (euid {os.geteuid()})"
    if not nl.tool("ip"):
        return "iproute2 is missing (no ip command)"
    probe = f"{PREFIX}-{os.getpid()}-probe"
    rc, out = nl.run("ip", "netns", "add", probe, check=False)
    if rc != 0:
        return f"ip netns add is not permitted: {out}"
    nl.run("ip", "netns", "del", probe, check=False)
    return None


def main():
    binary = sys.argv[1]
    backend = sys.argv[sys.argv.index("--backend") + 1] if "--backend" in sys.argv else "epoll"
    # SIGTERM (Bazel's timeout) unwinds through the finally blocks that remove the namespaces.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    why = preflight()
    if why:
        print(f"SKIPPED: {backend}: {why}", flush=True)
        return 0
    nl.remove_stale_namespaces(PREFIX)
    start = time.time()
    # --only slow_link|link_down runs one part (for debugging); the test runs both.
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    try:
        if only in (None, "slow_link"):
            if nl.tool("tc"):
                slow_link(binary, backend, "disconnect")
                slow_link(binary, backend, "drop-newest")
            else:
                skip(f"{backend}: slow link: tc (iproute2) is missing")
        if only in (None, "link_down"):
            link_down(binary, backend, 2000)
            link_down(binary, backend, 0)
    except BackendUnavailable as e:
        skip(str(e))
    print(f"{backend}: {len(PASSED)} passed, {len(FAILED)} failed, {len(SKIPPED)} skipped "
          f"in {time.time() - start:.1f} s", flush=True)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
