"""How the load is spread over a server's processes: connections held per process, CPU split."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time

import pytest

from benchmarks import balance
from bentokit import server

LISTENER = textwrap.dedent("""
    import socket, sys, time
    sock = socket.socket()
    sock.bind(("127.0.0.1", int(sys.argv[1])))
    sock.listen(16)
    print("listening", flush=True)
    held = [sock.accept()[0] for _ in range(int(sys.argv[2]))]
    time.sleep(60)
""")


def test_connections_are_counted_per_process_of_the_group():
    port = server.free_port()
    child = subprocess.Popen([sys.executable, "-c", LISTENER, str(port), "3"], stdout=subprocess.PIPE,
                             text=True, start_new_session=True)
    clients = []
    try:
        assert child.stdout.readline().strip() == "listening"
        clients = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
        held: dict[int, int] = {}
        for _ in range(100):  # accept() runs in the child: poll until it has taken all three
            held = balance.connections(child.pid, port)
            if sum(held.values()) == 3:
                break
            time.sleep(0.05)
        assert held == {child.pid: 3}
        assert balance.connections(child.pid, server.free_port()) == {}
    finally:
        for client in clients:
            client.close()
        child.kill()
        child.wait(timeout=10)


@pytest.mark.parametrize(("values", "share"), [([20, 12], 0.625), ([32], 1.0), ([16, 16], 0.5),
                                               ([0, 0], None), ([], None)])
def test_busiest_share(values, share):
    assert balance.busiest_share(values) == share


def test_cpu_split_leaves_out_idle_processes_and_counts_new_ones():
    before = {1: 10.0, 2: 3.0, 3: 1.0}
    after = {1: 15.5, 2: 7.0, 3: 1.01, 4: 0.5}
    assert balance.cpu_split(before, after) == [5.5, 4.0, 0.5]
