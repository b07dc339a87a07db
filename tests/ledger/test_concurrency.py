"""Several threads and processes appending at once still build one valid chain."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

from tailguard.ledger import Ledger

from .records import step

_WRITER = textwrap.dedent(
    """
    import sys
    from tailguard.ledger import Ledger
    url, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with Ledger.open(url) as ledger:
        for i in range(n):
            ledger.append("okr", {"okr_id": f"{name}-{i}", "writer": name, "i": i})
        ledger.append_many([("okr", {"okr_id": f"{name}-b{i}", "writer": name}) for i in range(5)])
    """
)


@pytest.mark.slow
def test_four_writer_processes_keep_one_valid_chain(ledger_url: str) -> None:
    """Four processes appending concurrently leave 4 x N records, contiguous and verified."""
    n = 40
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, ledger_url, f"w{w}", str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for w in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    with Ledger.open(ledger_url) as ledger:
        report = ledger.verify()
        assert report.ok, report.message
        assert report.records == 4 * (n + 5)
        writers = {r.fields["writer"] for r in ledger.records()}
        assert writers == {"w0", "w1", "w2", "w3"}
        # Each batch is one unbroken segment even with other writers interleaving.
        for w in range(4):
            seqs = [r.seq for r in ledger.records() if r.record_id.startswith(f"w{w}-b")]
            assert seqs == list(range(seqs[0], seqs[0] + 5))


def test_eight_threads_sharing_one_ledger_keep_one_valid_chain(ledger: Ledger) -> None:
    """Threads sharing one Ledger object never fork or lose a record."""
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(15):
                ledger.append("step", step(f"t{t}-{i}", f"run-{t}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = ledger.verify()
    assert (report.ok, report.records) == (True, 120)
