"""``Store.writer_if_free``: holds the write lock only when no other thread does, never waits."""

from __future__ import annotations

import threading

from clinikfhir.sandbox._store import Store


def test_writer_if_free_holds_the_lock_only_when_nobody_else_does() -> None:
    store = Store()
    try:
        with store.writer_if_free() as free:
            assert free
            with store.write() as conn:  # re-entrant: no wait
                conn.execute("CREATE TABLE t(x)")
                conn.execute("INSERT INTO t VALUES (1)")
            # while this thread holds it, another thread's probe finds it taken
            seen: list[bool] = []

            def probe() -> None:
                with store.writer_if_free() as other:
                    seen.append(other)

            worker = threading.Thread(target=probe)
            worker.start()
            worker.join()
            assert seen == [False]
        holding, release, done = threading.Event(), threading.Event(), threading.Event()

        def hold() -> None:
            with store.write():
                holding.set()
                release.wait()
            done.set()

        writer = threading.Thread(target=hold)
        writer.start()
        holding.wait()
        with store.writer_if_free() as free:
            assert not free  # another thread's write transaction is open: do not wait for it
        release.set()
        writer.join()
        assert done.is_set()
        with store.writer_if_free() as free, store.read() as conn:
            assert free
            assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
    finally:
        store.close()
