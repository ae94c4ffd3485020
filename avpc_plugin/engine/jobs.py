"""The job queue: jobs wait in order, one worker thread runs them on the warm Separator.

Every accepted job ends with exactly one of ``/avpc/done``, ``/avpc/error`` or
``/avpc/cancelled`` on the channel that submitted it. While a job runs, a ticker thread sends its
latest progress every ``progress_interval`` seconds (the Separator reports only between model
batches), and never after the job's final message: state changes and progress sends share one lock.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from avpc_plugin.audio.io import (
    AudioFileError,
    AudioWriteError,
    OutputEscapeError,
    OutputExistsError,
    audio_info,
    time_range_to_samples,
)
from avpc_plugin.engine.protocol import (
    MAX_ECHOED_ID,
    Address,
    ErrorCode,
    JobSpec,
    ProtocolError,
    clip_text,
)
from avpc_plugin.engine.transport import Channel, Double
from avpc_plugin.separate.separator import SeparationCancelled, Separator
from avpc_plugin.video.decode import VideoError

LOG = logging.getLogger("avpc.engine")

DEFAULT_PROGRESS_INTERVAL = 0.25
"""Seconds between progress messages of a running job (4 per second)."""
FINISHED_JOBS_KEPT = 200
"""Finished jobs remembered for ``/avpc/status`` (oldest forgotten first)."""


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


@dataclass(eq=False)
class Job:
    """One separation request and its progress.

    Attributes:
        id: the engine's id for the job (12 hex digits).
        spec: the validated job description.
        reply: where the job's events go (the submitting client).
        fraction: work done, 0..1; ``message`` a short description of the current step.
        submitted, started, finished: ``time.monotonic()`` stamps.
        error: ``(code, message)`` when the job failed.
        written: stem name -> file, once done.
    """

    id: str
    spec: JobSpec
    reply: Channel
    state: JobState = JobState.QUEUED
    fraction: float = 0.0
    message: str = "queued"
    submitted: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    error: tuple[str, str] | None = None
    written: dict[str, Path] = field(default_factory=dict)
    cancel_event: threading.Event = field(default_factory=threading.Event)

    def summary(self) -> dict[str, Any]:
        """JSON-friendly state for ``/avpc/status``."""
        end = self.finished if self.finished is not None else time.monotonic()
        return {
            "id": self.id,
            "ref": self.spec.ref,
            "state": self.state.value,
            "progress": round(self.fraction, 4),
            "message": self.message,
            "source": str(self.spec.source),
            "stems": list(self.spec.outputs),
            "seconds_running": round(end - self.started, 3) if self.started else 0.0,
            "error": {"code": self.error[0], "message": self.error[1]} if self.error else None,
            "outputs": {name: str(path) for name, path in self.written.items()},
        }


class JobQueue:
    """FIFO of jobs run one at a time on ``separator`` by a worker thread.

    Args:
        separator: the warm Separator every job runs on.
        max_queued: jobs waiting at most (the running one not counted); more are refused with
            ``queue_full``.
        progress_interval: seconds between progress messages of the running job.
    """

    def __init__(
        self,
        separator: Separator,
        max_queued: int = 64,
        progress_interval: float = DEFAULT_PROGRESS_INTERVAL,
    ) -> None:
        if max_queued < 1:
            raise ValueError(f"max_queued: expected >= 1, got {max_queued}")
        if progress_interval <= 0:
            raise ValueError(f"progress_interval: expected seconds > 0, got {progress_interval}")
        self.separator = separator
        self.max_queued = max_queued
        self.progress_interval = progress_interval
        self._lock = threading.Condition()
        self._waiting: collections.deque[Job] = collections.deque()
        self._jobs: dict[str, Job] = {}
        self._finished_order: collections.deque[str] = collections.deque()
        self._running: Job | None = None
        self._stopping = False
        self._stopped = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, name="avpc-worker", daemon=True),
            threading.Thread(target=self._tick, name="avpc-progress", daemon=True),
        ]

    # ------------------------------------------------------------------------------ public API

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def submit(self, spec: JobSpec, reply: Channel) -> Job:
        """Queue a job and send ``/avpc/accepted`` (before any other message about it).

        Raises:
            ProtocolError: ``queue_full`` or ``engine_shutdown``.
        """
        with self._lock:
            if self._stopping:
                raise ProtocolError(ErrorCode.ENGINE_SHUTDOWN, "the engine is shutting down")
            if len(self._waiting) >= self.max_queued:
                raise ProtocolError(
                    ErrorCode.QUEUE_FULL,
                    f"{len(self._waiting)} jobs are waiting already (limit {self.max_queued}); "
                    "try again later",
                )
            job = Job(uuid.uuid4().hex[:12], spec, reply)
            ahead = len(self._waiting) + (self._running is not None)
            self._jobs[job.id] = job
            self._waiting.append(job)
            reply.send(Address.ACCEPTED, job.id, spec.ref, ahead)
            self._lock.notify_all()
        LOG.info(
            "job %s accepted from %s: %s -> %s (%s)",
            job.id,
            reply.describe(),
            spec.source,
            spec.out_dir,
            ", ".join(spec.outputs),
        )
        return job

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job at once, or ask the running one to stop (it answers when it has).

        Raises:
            ProtocolError: ``unknown_job`` or ``job_finished``.
        """
        with self._lock:
            job = self._lookup(job_id)
            if job.state.finished:
                raise ProtocolError(
                    ErrorCode.JOB_FINISHED, f"job {job_id} has already ended ({job.state.value})"
                )
            job.cancel_event.set()
            if job.state is JobState.QUEUED:
                self._waiting.remove(job)
                self._finish(job, JobState.CANCELLED, "cancelled before it started")
                job.reply.send(Address.CANCELLED, job.id)
        LOG.info("job %s: cancel requested", job_id)
        return job

    def get(self, job_id: str) -> Job:
        """Raises ProtocolError ``unknown_job``."""
        with self._lock:
            return self._lookup(job_id)

    def status(self) -> dict[str, Any]:
        """Queue state: the running job, the waiting ones, and counts per state."""
        with self._lock:
            counts = collections.Counter(job.state.value for job in self._jobs.values())
            return {
                "running": self._running.summary() if self._running else None,
                "queued": [job.id for job in self._waiting],
                "counts": dict(counts),
            }

    def stop(self, timeout: float = 120.0) -> None:
        """Refuse new jobs, fail the waiting ones, cancel the running one and join the threads.

        The running job stops at its next model batch (seconds: a job's cycles are capped), removes
        its partial files and sends its final ``engine_shutdown`` error; ``timeout`` bounds the
        wait for it.
        """
        with self._lock:
            self._stopping = True
            while self._waiting:
                job = self._waiting.popleft()
                self._fail(job, ErrorCode.ENGINE_SHUTDOWN, "the engine shut down first")
            running = self._running
            if running is not None:
                running.cancel_event.set()
                LOG.info("waiting for job %s to stop", running.id)
            self._lock.notify_all()
        self._stopped.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                LOG.error(
                    "%s did not stop in %.0f s; partial files may remain", thread.name, timeout
                )

    # ------------------------------------------------------------------------------ internals

    def _lookup(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            shown = clip_text(job_id, MAX_ECHOED_ID)
            raise ProtocolError(ErrorCode.UNKNOWN_JOB, f"no job {shown!r} on this engine")
        return job

    def _finish(self, job: Job, state: JobState, message: str) -> None:
        """Mark a job ended (lock held) and forget the oldest ended jobs."""
        job.state, job.message, job.finished = state, message, time.monotonic()
        self._finished_order.append(job.id)
        while len(self._finished_order) > FINISHED_JOBS_KEPT:
            self._jobs.pop(self._finished_order.popleft(), None)

    def _fail(self, job: Job, code: str, message: str) -> None:
        """Mark a job failed and tell its client (lock held)."""
        job.error = (code, message)
        self._finish(job, JobState.FAILED, message)
        job.reply.send(Address.ERROR, code, message, job.id, job.spec.ref)
        LOG.warning("job %s failed: %s: %s", job.id, code, message)

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._waiting and not self._stopping:
                    self._lock.wait()
                if self._stopping:
                    return
                job = self._waiting.popleft()
                self._running = job
                job.state, job.started, job.message = JobState.RUNNING, time.monotonic(), "started"
                job.reply.send(Address.PROGRESS, job.id, 0.0, "started")
            try:
                self._run(job)
            except Exception as err:  # a bug: keep serving
                LOG.exception("job %s: unexpected error", job.id)
                with self._lock:
                    if not job.state.finished:
                        self._fail(job, ErrorCode.INTERNAL, f"{type(err).__name__}: {err}")
            finally:
                with self._lock:
                    self._running = None

    def _run(self, job: Job) -> None:
        spec = job.spec

        def progress(fraction: float, message: str) -> None:
            job.fraction, job.message = min(max(fraction, 0.0), 1.0), message

        try:
            info = audio_info(spec.source)
            first = _first_sample(spec, info)
            written = self.separator.separate_to_files(
                spec.source,
                spec.outputs,
                stems=list(spec.stems),
                start=spec.start,
                end=spec.end,
                residual=spec.residual,
                normalise=spec.normalise,
                cycles=spec.cycles,
                bit_depth=spec.bit_depth,
                overwrite=spec.overwrite,
                progress=progress,
                cancel=job.cancel_event,
                root=spec.out_dir,
                video_tolerance=spec.video_tolerance,
                dither=spec.dither,
            )
        except SeparationCancelled:
            with self._lock:
                if self._stopping:
                    self._fail(job, ErrorCode.ENGINE_SHUTDOWN, "the engine shut down mid-job")
                    return
                self._finish(job, JobState.CANCELLED, "cancelled")
                job.reply.send(Address.CANCELLED, job.id)
            LOG.info("job %s cancelled after %.2f s", job.id, time.monotonic() - (job.started or 0))
            return
        except OutputExistsError as err:
            code = ErrorCode.OUTPUT_EXISTS
            text = f'{err.path}: already exists (set "overwrite": true to replace it)'
        except OutputEscapeError as err:
            code, text = ErrorCode.PATH_ESCAPE, str(err)
        except AudioWriteError as err:
            code, text = ErrorCode.OUTPUT_FAILED, str(err)
        except (AudioFileError, VideoError) as err:
            code, text = ErrorCode.BAD_SOURCE, str(err)
        except ProtocolError as err:
            code, text = err.code, err.message
        except ValueError as err:
            code, text = ErrorCode.INVALID_JOB, str(err)
        except Exception as err:
            LOG.exception("job %s: separation failed", job.id)
            code, text = ErrorCode.SEPARATION_FAILED, f"{type(err).__name__}: {err}"
        else:
            with self._lock:
                job.written, job.fraction = written, 1.0
                self._finish(job, JobState.DONE, "done")
                job.reply.send(Address.PROGRESS, job.id, 1.0, "done")
                for name, path in written.items():
                    job.reply.send(
                        Address.STEM,
                        job.id,
                        name,
                        str(path),
                        Double(first / info.sample_rate),
                        first,
                        info.sample_rate,
                    )
                elapsed = job.finished - (job.started or job.finished)  # type: ignore[operator]
                summary = {
                    "stems": {name: str(path) for name, path in written.items()},
                    "seconds": round(elapsed, 3),
                    "start_sample": first,
                    "sample_rate": info.sample_rate,
                }
                job.reply.send(Address.DONE, job.id, json.dumps(summary))
            LOG.info("job %s done in %.2f s: %d stem(s)", job.id, elapsed, len(written))
            return
        with self._lock:
            self._fail(job, code, text)

    def _tick(self) -> None:
        while not self._stopped.wait(self.progress_interval):
            with self._lock:
                job = self._running
                if job is not None and job.state is JobState.RUNNING:
                    job.reply.send(Address.PROGRESS, job.id, float(job.fraction), job.message)


def _first_sample(spec: JobSpec, info: Any) -> int:
    """The job's first source sample; a range the source does not hold (a container's length is
    only estimated at submit) is ``invalid_job`` naming ``job.start`` or ``job.end``."""
    try:
        return time_range_to_samples(spec.start, spec.end, info)[0]
    except (ValueError, OverflowError) as err:
        key = "end" if str(err).startswith("end") else "start"
        detail = str(err).split(": ", 1)[-1]
        raise ProtocolError(ErrorCode.INVALID_JOB, f"job.{key}: {detail}") from None
