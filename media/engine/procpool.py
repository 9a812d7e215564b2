"""Long-lived worker processes for native decoders that hold the GIL (pocketsphinx).

A decoder that holds the GIL for a whole call stops every session of the process while it runs
(a 6 s pocketsphinx decode in a worker thread stopped the event loop for up to 3 s), so it runs
in worker processes instead. Each worker is a spawned process that builds one
:class:`WorkerBackend` (from a dotted path and options), loads its model once, and serves the
utterances assigned to it, each with its own decoder.

Protocol, over one duplex pipe per worker (small pickled tuples):
- server → worker: ``(key, op, payload)``, op ``begin`` / ``audio`` / ``peek`` / ``end`` /
  ``abort``; `key` names one utterance, unique in the server process.
- worker → server: ``(key, kind, text)``, kind ``partial`` / ``first_pass`` / ``final`` /
  ``error``; key 0 is the worker itself (``ready`` or ``failed`` once, after loading).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import logging
import multiprocessing
import multiprocessing.util
import os
import queue
import signal
import threading
import weakref
from collections.abc import Callable, Mapping
from itertools import count
from typing import Any

from media.engine.threads import ThreadBridge

logger = logging.getLogger(__name__)

Answers = list[tuple[str, str]]
OPS = ("begin", "audio", "peek", "end", "abort")
_WORKER = 0  # the key of messages about the worker itself


def _default_process_count() -> int:
    env = os.environ.get("ENGINE_WORKER_PROCESSES")
    if env:
        return max(1, int(env))
    return os.cpu_count() or 1


class WorkerPoolError(Exception):
    """The pool has no worker able to decode (its model failed to load, or it is closed)."""


class WorkerBackend:
    """What a worker process runs: the decoders of the utterances assigned to it.

    Built in the worker as ``cls(**options)``; :meth:`load` runs once before the first message.
    Each op returns the answers ``(kind, text)`` to send back for the utterance `key`. Every
    ``peek`` and ``end`` is answered by exactly one ``final`` (an unknown key: an empty one).
    """

    def __init__(self, **options: Any) -> None:
        self.options = options

    def load(self) -> None:
        """Load the model (raise when it cannot: the pool reports the error)."""

    def begin(self, key: int, payload: Any) -> Answers:
        raise NotImplementedError

    def audio(self, key: int, payload: Any) -> Answers:
        raise NotImplementedError

    def peek(self, key: int, payload: Any) -> Answers:
        return self.end(key, payload)

    def end(self, key: int, payload: Any) -> Answers:
        raise NotImplementedError

    def abort(self, key: int, payload: Any) -> Answers:
        raise NotImplementedError

    def discard(self, key: int) -> None:
        """Forget `key` after one of its ops raised (its decoder may be in any state)."""
        with contextlib.suppress(Exception):
            self.abort(key, None)


def _import(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _worker_main(conn: Any, backend_path: str, options: dict[str, Any]) -> None:
    """A worker process: load the backend, then serve messages until the server goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the process group: the
    # server stops its workers itself (closing the pipe ends this loop).
    try:
        backend = _import(backend_path)(**options)
        backend.load()
    except BaseException as exc:  # noqa: BLE001 - reported to the server, which logs it
        conn.send((_WORKER, "failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send((_WORKER, "ready", str(os.getpid())))
    while True:
        try:
            key, op, payload = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if op not in OPS:
                raise ValueError(f"unknown op {op!r}")
            answers = getattr(backend, op)(key, payload)
        except Exception as exc:  # noqa: BLE001 - the utterance fails, the worker goes on
            backend.discard(key)
            answers = [("error", f"{type(exc).__name__}: {exc}")]
        for kind, text in answers:
            conn.send((key, kind, text))


OnAnswer = Callable[["Utterance", str, str], None]


class Utterance:
    """One utterance on one worker; its methods are called on the session's loop.

    Audio is sent in chunks of `chunk_bytes` (and before a peek or end), not frame by frame.
    `on_answer(utterance, kind, text)` runs on the loop for each answer; kind is ``partial``,
    ``first_pass`` or ``final`` (an error or a dead worker: an empty final).
    """

    __slots__ = ("key", "session_id", "bridge", "on_answer", "worker", "_buffer", "_chunk_bytes")

    def __init__(
        self,
        key: int,
        session_id: str,
        bridge: ThreadBridge,
        on_answer: OnAnswer,
        worker: _Worker,
        chunk_bytes: int,
    ) -> None:
        self.key = key
        self.session_id = session_id
        self.bridge = bridge
        self.on_answer = on_answer
        self.worker = worker
        self._buffer = bytearray()
        self._chunk_bytes = chunk_bytes

    def audio(self, pcm: bytes) -> None:
        self._buffer += pcm
        if len(self._buffer) >= self._chunk_bytes:
            self._flush()

    def peek(self) -> None:
        self._flush()
        self.worker.send((self.key, "peek", None))

    def end(self) -> None:
        self._flush()
        self.worker.send((self.key, "end", None))

    def abort(self) -> None:
        """Drop the utterance: nothing more is delivered for it."""
        self._buffer.clear()
        self.worker.forget(self.key)
        self.worker.send((self.key, "abort", None))

    def _flush(self) -> None:
        if self._buffer:
            self.worker.send((self.key, "audio", bytes(self._buffer)))
            self._buffer.clear()

    def post(self, kind: str, text: str) -> None:
        self.bridge.post(self.on_answer, self, kind, text)


class _Worker:
    """One worker process, the pipe to it, and its reader and writer threads."""

    def __init__(self, pool: ProcessPool, slot: int) -> None:
        self.pool = pool
        self.slot = slot
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_worker_main,
            args=(child, pool.backend, pool.options),
            name=f"{pool.name}-{slot}",
            daemon=True,
        )
        self.process.start()
        child.close()  # the worker's end: with the worker gone, our reader sees end of file
        self.pid = self.process.pid
        self.ready = threading.Event()
        self.failed = ""
        self.dead = False
        self.routes: dict[int, Utterance] = {}  # open utterances, guarded by pool.lock
        self._outbox: queue.SimpleQueue[tuple[int, str, Any] | None] = queue.SimpleQueue()
        for role, target in (("writer", self._write), ("reader", self._read)):
            name = f"{pool.name}-{slot}-{role}"
            threading.Thread(target=target, name=name, daemon=True).start()

    def send(self, message: tuple[int, str, Any]) -> None:
        if not self.dead:
            self._outbox.put(message)

    def stop(self) -> None:
        """Stop the process; the reader then sees the pipe close."""
        self._outbox.put(None)
        with contextlib.suppress(OSError):
            self.process.terminate()

    def forget(self, key: int) -> None:
        with self.pool.lock:
            self.routes.pop(key, None)

    def _write(self) -> None:
        while True:
            message = self._outbox.get()
            if message is None:
                return
            try:
                self.conn.send(message)
            except (OSError, ValueError):  # the worker is gone: the reader handles it
                return

    def _read(self) -> None:
        while True:
            try:
                key, kind, text = self.conn.recv()
            except (EOFError, OSError):
                break
            if key == _WORKER:
                if kind == "failed":
                    self.failed = text
                self.ready.set()
                continue
            with self.pool.lock:
                utterance = self.routes.get(key)
                if kind in ("final", "error"):
                    self.routes.pop(key, None)
            if utterance is None:
                continue  # aborted
            if kind == "error":
                logger.error(
                    "session %s: %s failed: %s", utterance.session_id, self.pool.name, text
                )
                kind, text = "final", ""  # unblock the turn: it ends with no text
            utterance.post(kind, text)
        self._outbox.put(None)
        self.pool._worker_died(self)


class ProcessPool:
    """Worker processes serving one backend configuration, started once per server process.

    Threading and ordering invariants:
    - The event loop never blocks on a worker: it queues messages for the worker's writer
      thread (a busy worker's full pipe stalls that thread, not the loop).
    - One reader thread per worker reads its answers and posts each to the session's loop
      through :meth:`ThreadBridge.post`: an utterance's answers reach the loop in order.
    - An utterance stays on one worker from begin to final, so its audio is decoded in order.
      A session's next utterance goes to the same worker while the previous one's final is
      due (a peek's final then precedes the resumed utterance's partials), else to the least
      loaded worker.
    - A worker that dies is replaced; each utterance it had open gets an empty final. One that
      dies before it is ready (its model does not load, the main module cannot be imported
      again in a spawned process) is not: a new one would fail the same way.
    - Start method `spawn`: the server process has threads and an event loop, where `fork` is
      unsafe. The server's main module must guard its start-up with ``__name__ == "__main__"``.

    Args:
        backend: dotted path of a :class:`WorkerBackend` subclass (built in each worker).
        options: its keyword arguments (picklable).
        processes: worker count; default `ENGINE_WORKER_PROCESSES` or the number of CPUs.
        chunk_ms: audio is sent to the worker every `chunk_ms` of 16 kHz PCM16.
    """

    _pools: dict[tuple[Any, ...], ProcessPool] = {}
    _pools_lock = threading.Lock()
    # Every pool of this process, shared or not, for `close_all` at exit.
    _every: weakref.WeakSet[ProcessPool] = weakref.WeakSet()
    _every_lock = threading.Lock()
    _keys = count(1)

    def __init__(
        self,
        backend: str,
        options: Mapping[str, Any] | None = None,
        processes: int | None = None,
        chunk_ms: int = 100,
    ) -> None:
        self.backend = backend
        self.options = dict(options or {})
        self.processes = max(1, processes or _default_process_count())
        self.chunk_bytes = max(640, chunk_ms * 32)
        self.name = backend.rpartition(".")[2]
        self.lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._closed = False
        self._pid = os.getpid()
        with ProcessPool._every_lock:
            ProcessPool._every.add(self)

    @classmethod
    def get(
        cls, backend: str, options: Mapping[str, Any] | None = None, processes: int | None = None
    ) -> ProcessPool:
        """The process-wide pool for this configuration (not started: see :meth:`start`)."""
        key = (backend, tuple(sorted((options or {}).items())), processes)
        with cls._pools_lock:
            pool = cls._pools.get(key)
            if pool is None or pool._pid != os.getpid():  # a forked child starts its own
                pool = cls._pools[key] = cls(backend, options, processes)
            return pool

    @classmethod
    def close_all(cls) -> None:
        with cls._pools_lock:
            cls._pools.clear()
        with cls._every_lock:
            pools = list(cls._every)
        pools = [pool for pool in pools if pool._pid == os.getpid()]
        for pool in pools:  # first, so that no worker stopped below is reported or replaced
            pool._closed = True
        for pool in pools:
            try:
                pool.close()
            except Exception:  # the other pools are closed all the same
                logger.exception("%s pool: closing failed", pool.name)

    def start(self) -> None:
        """Start the workers (once; they load their model in the background)."""
        with self.lock:
            if self._closed:
                raise WorkerPoolError(f"the {self.name} pool is closed")
            if not self._workers:
                self._workers = [_Worker(self, slot) for slot in range(self.processes)]

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Start the pool if needed and wait until its workers have loaded their model.

        Raises :class:`WorkerPoolError` when none could (the first worker's error).
        """
        self.start()
        for worker in list(self._workers):
            if not worker.ready.wait(timeout_s):
                raise WorkerPoolError(f"{self.name} worker {worker.pid} did not start in time")
        if all(w.failed for w in self._workers):
            raise WorkerPoolError(self._workers[0].failed)

    def worker_pids(self) -> list[int]:
        with self.lock:
            return [w.pid for w in self._workers if not w.dead]

    def open(
        self,
        *,
        session_id: str,
        bridge: ThreadBridge,
        on_answer: OnAnswer,
        begin: Any,
        after: Utterance | None = None,
    ) -> Utterance:
        """Open an utterance on a worker and send its ``begin`` (call on the loop).

        `after`: the session's previous utterance; while its final is due the new one goes to
        the same worker, so the session's answers stay in order.
        """
        self.start()
        with self.lock:
            worker = None
            if after is not None and not after.worker.dead and after.key in after.worker.routes:
                worker = after.worker
            if worker is None:
                alive = [w for w in self._workers if not w.dead and not w.failed]
                if not alive:
                    raise WorkerPoolError(f"no {self.name} worker is running")
                worker = min(alive, key=lambda w: len(w.routes))
            key = next(self._keys)
            utterance = Utterance(key, session_id, bridge, on_answer, worker, self.chunk_bytes)
            worker.routes[key] = utterance
        worker.send((key, "begin", begin))
        return utterance

    def _worker_died(self, worker: _Worker) -> None:
        """Reader thread of a worker whose pipe closed: replace it, fail its utterances."""
        worker.process.join(1.0)
        if not worker.ready.is_set() and not worker.failed:
            worker.failed = f"exited with code {worker.process.exitcode} before it was ready"
        replacement = None
        # SIGTERM or SIGINT is a shutdown (the server's process group is stopping): a worker
        # started now would outlive its parent's pipe. Anything else (a crash, SIGKILL from
        # the OOM killer) is replaced.
        stopping = worker.process.exitcode in (-signal.SIGTERM, -signal.SIGINT)
        if stopping and not self._closed:
            logger.info("%s worker %s stopped by a signal", self.name, worker.pid)
        elif not self._closed and not worker.failed:
            logger.warning(
                "%s worker %s exited (code %s); starting another",
                self.name,
                worker.pid,
                worker.process.exitcode,
            )
            replacement = _Worker(self, worker.slot)
        elif worker.failed and not self._closed:
            logger.error("%s worker %s could not start: %s", self.name, worker.pid, worker.failed)
        with self.lock:
            worker.dead = True
            routes, worker.routes = worker.routes, {}
            if replacement is not None:
                if self._closed or self._workers[worker.slot] is not worker:
                    replacement.stop()
                else:
                    self._workers[worker.slot] = replacement
        worker.ready.set()  # nobody waits forever on a worker that is gone
        for utterance in routes.values():
            logger.warning(
                "session %s: %s worker %s died; the utterance ends with no text",
                utterance.session_id,
                self.name,
                worker.pid,
            )
            utterance.post("final", "")

    def close(self) -> None:
        """Stop the workers (at exit; open utterances get nothing more)."""
        with self.lock:
            self._closed = True
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.stop()
        for worker in workers:
            worker.process.join(2.0)
            if worker.process.exitcode is None:
                worker.process.kill()


# multiprocessing.util (imported above) registered its exit handler, which terminates the
# workers, before this one: it runs after it, so the pools are closed by then and do not
# restart the workers it stops.
atexit.register(ProcessPool.close_all)
