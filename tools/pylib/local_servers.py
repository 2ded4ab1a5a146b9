"""Helpers shared by the Python test and benchmark scripts for servers on loopback."""
import socket
import time


def free_port():
    """A loopback port that was free a moment ago (for servers without a port-0 mode)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=10):
    """True once something accepts connections on 127.0.0.1:port, False after `timeout` s."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False
