"""The chaos harness: a study under chaos must meet its budget exactly and lose no trial.

:func:`run_chaos` runs a study of short trials (shampoo, 20 training rows, 2 or 5
epochs, batch 4, one unit, two regimes, pruning off; ``[workers]`` heartbeat every
1 s, 10 retries) with ``tuner worker`` processes on a private PostgreSQL cluster
(:class:`tests.helpers.pgcluster.PrivateCluster`: the machine's own server is never
touched). Every process gets the database URL from ``TUNER_STORAGE``, never on its
command line, and keeps its stderr and stdout in a log file. The Keras engine
makes a trial last about a second (2-3 on a busy 2-core machine); the fast
engine's tenth of a second would end the study before the chaos does. Workers
train packs of ``PACK`` trials.

While the study runs, one step every ``kill_every`` seconds:

- SIGKILL a random worker and start a replacement, ``kills`` times;
- SIGTERM a random worker and start a replacement, as a rollout does, ``terms``
  times (any worker that catches SIGTERM: in its start-up, a claim, a trial, a
  tell); each must exit 130;
- once, SIGSTOP a worker that is running a trial, keep it frozen until another
  worker has failed that trial by heartbeat (longer than the grace period),
  then SIGCONT it;
- once, stop PostgreSQL for longer than the grace period, then start it again;
- once, start ``tuner run FILE --workers 2 --no-artifacts`` beside the workers
  and SIGTERM it once its workers are in trials;

then rerun ``tuner run`` to completion and wait for every worker to finish. A
worker that exits on its own before the budget is met is replaced (and counted
as an unexpected exit). :func:`account` counts trials by the service's rules (a
FAIL trial that some trial retries, per Optuna's ``retry_history``, does not
count; every other finished trial does), and the :class:`ChaosResult` holds:

- finished trials against the budget;
- trials lost: budget slots that never finished;
- trials double-counted: finished trials above the budget, or two counting
  trials in one slot (an original and its retry, or two retries of one trial);
- trials left RUNNING or WAITING;
- FAIL trials never retried that did not fail by themselves (no ``fail_reason``,
  or marked ``requeue`` by an interrupted worker);
- tracebacks in the processes' logs;
- unexpected exit statuses (a worker not 0, the interrupted run not 130, the
  rerun not 0, or a process still running at the end);
- kills and SIGTERMs survived.

Every count but the budget, the kills and the SIGTERMs must be 0, and every chaos step must
have happened before the study finished (:attr:`ChaosResult.ok`). Besides each
process's ``NAME.err`` and ``NAME.out``, the log directory holds ``trials.txt``
(every trial's state, retry links and times) and ``postgresql.log``.

``benchmarks/chaos.py`` runs it at full size, ``tests/end_to_end/test_chaos.py``
small; it lives among the test helpers so that the test needs no benchmark.
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import optuna
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState

from tests.helpers.pgcluster import PrivateCluster
from tests.helpers.studies import short_trials_toml

STUDY_NAME = "chaos"
HEARTBEAT_INTERVAL = 1
GRACE_PERIOD = 3
MAX_RETRY = 10
PACK = 4
"""Trials per pack: packs are exercised, and a kill loses a few trials' work. The width
the study would choose (a tenth of the budget: 20) makes a Keras pack last minutes on
a busy 2-core machine, so that a kill every 5 s ends nearly every pack before it
finishes and the study stalls."""
POLL = 0.2
STALE_AFTER = 2 * HEARTBEAT_INTERVAL + 0.5
"""A running trial whose last beat is older than this has a frozen worker."""
MAX_UNEXPECTED_REPLACEMENTS = 10
EXPECTED_EXIT = {"create": 0, "worker": 0, "interrupted run": 130, "rerun": 0}
EXIT_TERMINATED = 130
"""A SIGTERMed worker's exit status: its trials queued again, whatever it was doing."""

T = TypeVar("T")


# ---------------------------------------------------------------------------
# Counting trials


@dataclass(frozen=True)
class Accounting:
    """A study's trials against its budget, by the service's counting rules."""

    budget: int
    finished: int
    lost: int
    double_counted: int
    running: int
    waiting: int
    failed_unretried: int
    retries: int
    details: tuple[str, ...]


def account(trials: Sequence[FrozenTrial], budget: int) -> Accounting:
    """Count ``trials`` against ``budget``.

    A slot is a trial that retries none (its ``failed_trial`` system attribute is
    unset) together with every retry of it. A trial counts when it is COMPLETE or
    PRUNED, or FAIL and retried by no trial; each slot should end with exactly
    one counting trial, or still have one RUNNING or WAITING.
    """
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}

    def counts(trial: FrozenTrial) -> bool:
        if trial.state == TrialState.FAIL:
            return trial.number not in retried
        return trial.state in (TrialState.COMPLETE, TrialState.PRUNED)

    def describe(members: list[FrozenTrial]) -> str:
        return ", ".join(
            f"{t.number} {t.state.name}{' (retried)' if t.number in retried else ''}"
            for t in members
        )

    slots: dict[int, list[FrozenTrial]] = {}
    for trial in trials:
        slots.setdefault(trial.system_attrs.get("failed_trial", trial.number), []).append(trial)
    details = []
    orphaned = doubled = 0
    for root, members in sorted(slots.items()):
        counting = [t for t in members if counts(t)]
        live = [t for t in members if t.state in (TrialState.RUNNING, TrialState.WAITING)]
        if len(counting) > 1:
            doubled += len(counting) - 1
            details.append(f"slot of trial {root} counts {len(counting)}: {describe(members)}")
        elif not counting and not live:
            orphaned += 1
            details.append(f"slot of trial {root} has nothing that counts: {describe(members)}")
    unretried = [
        t
        for t in trials
        if t.state == TrialState.FAIL
        and t.number not in retried
        and ("fail_reason" not in t.user_attrs or "requeue" in t.system_attrs)
    ]
    if unretried:
        details.append(f"failed, never retried: trials {describe(unretried)}")
    left = [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    if left:
        details.append(f"left unfinished: trials {describe(left)}")
    finished = sum(map(counts, trials))
    states = Counter(t.state for t in trials)
    return Accounting(
        budget=budget,
        finished=finished,
        lost=max(budget - finished, orphaned),
        double_counted=max(finished - budget, doubled),
        running=states[TrialState.RUNNING],
        waiting=states[TrialState.WAITING],
        failed_unretried=len(unretried),
        retries=sum("failed_trial" in t.system_attrs for t in trials),
        details=tuple(details),
    )


# ---------------------------------------------------------------------------
# The result


@dataclass(frozen=True)
class ChaosResult:
    """What a chaos run did and what it found."""

    trials: Accounting
    tracebacks: int
    unexpected_exits: int
    kills: int
    terms: int
    done: tuple[str, ...]
    skipped: tuple[str, ...]
    exits: tuple[str, ...]
    notes: tuple[str, ...]
    error_lines: tuple[str, ...]
    seconds: float
    logs: Path | None

    def counts(self) -> dict[str, int]:
        """The counts that must all be 0, by label."""
        trials = self.trials
        return {
            "trials lost": trials.lost,
            "trials double-counted": trials.double_counted,
            "trials left RUNNING or WAITING": trials.running + trials.waiting,
            "trials failed, never retried": trials.failed_unretried,
            "tracebacks in logs": self.tracebacks,
            "unexpected exit statuses": self.unexpected_exits,
        }

    @property
    def ok(self) -> bool:
        """Every count 0 and every chaos step done."""
        return not any(self.counts().values()) and not self.skipped

    def report(self) -> str:
        """The summary a developer reads."""
        trials = self.trials
        lines = [
            f"finished trials                 {trials.finished} of {trials.budget} (budget)"
            f" in {self.seconds:.0f} s; {trials.retries} retries",
            *(f"{label:<32}{value}" for label, value in self.counts().items()),
            f"{'kills survived':<32}{self.kills}",
            f"{'SIGTERMs survived':<32}{self.terms}",
            "chaos done:",
            *(f"  {step}" for step in self.done),
        ]
        if self.skipped:
            lines += ["chaos skipped (the study finished, or 2/3 of the time passed, first):"]
            lines += [f"  {step}" for step in self.skipped]
        if any(self.counts().values()):
            why = (*trials.details, *self.exits, *self.notes)
            lines += ["why:", *(f"  {line}" for line in why)] if why else []
            lines += ["error lines in the logs (count, line, logs):"]
            lines += [f"  {line}" for line in self.error_lines] or ["  none"]
        if self.logs is not None:
            lines.append(f"logs: {self.logs}")
        lines.append("OK" if self.ok else "FAILED")
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# Processes


@dataclass
class _Process:
    name: str
    role: str
    popen: subprocess.Popen
    logs: tuple[Path, Path]
    killed: bool = False
    terminated: bool = False
    reaped: bool = False

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def children(self) -> list[int]:
        try:
            text = Path(f"/proc/{self.popen.pid}/task/{self.popen.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in text.split()]


def _database_connections(pid: int, port: int) -> int:
    """How many TCP connections process ``pid`` has open to ``port``."""
    sockets = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            sockets.add(target[8:-1])
    connections = 0
    for table in ("tcp", "tcp6"):
        try:
            rows = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            connections += remote_port == port and fields[9] in sockets
    return connections


def _handles_sigterm(pid: int) -> bool:
    """Whether ``pid`` catches SIGTERM: a worker does once its start-up is over."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) >> (signal.SIGTERM - 1) & 1)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# ---------------------------------------------------------------------------
# The run


class _Chaos:
    def __init__(
        self,
        cluster: PrivateCluster,
        scratch: Path,
        study_file: Path,
        budget: int,
        grace: int,
        stall: float,
        deadline: float,
        rng: random.Random,
        out: Callable[[str], None],
    ) -> None:
        self.cluster = cluster
        self.scratch = scratch
        self.study_file = study_file
        self.budget = budget
        self.grace = grace
        self.stall = stall
        self.deadline = deadline
        self.rng = rng
        self.out = out
        self.started = time.monotonic()
        self.env = {
            **os.environ,
            "TUNER_STORAGE": cluster.url,
            "TUNER_ARTIFACTS": str(scratch / "artifacts"),
            "TF_NUM_INTRAOP_THREADS": "1",
            "TF_NUM_INTEROP_THREADS": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
        (scratch / "logs").mkdir(exist_ok=True)
        self.processes: list[_Process] = []
        self.next_index = 0
        self.pending_replacements = 0
        self.unexpected_replacements = 0
        self.kills = 0
        self.terms = 0
        self.done: list[str] = []
        self.skipped: list[str] = []
        self.unexpected: list[str] = []
        self._storage: optuna.storages.RDBStorage | None = None
        self.notes: list[str] = []
        self._asked = 0.0
        self._finished = 0
        self.last_progress = time.monotonic()

    # -- bookkeeping

    def say(self, message: str) -> None:
        self.out(f"[{time.monotonic() - self.started:6.1f} s] {message}")

    def spawn(self, name: str, role: str, argv: list[str]) -> _Process:
        logs = (self.scratch / "logs" / f"{name}.err", self.scratch / "logs" / f"{name}.out")
        with logs[0].open("w") as err, logs[1].open("w") as stdout:
            popen = subprocess.Popen(
                [sys.executable, "-m", "tuner", *argv],
                cwd=self.scratch,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=err,
                start_new_session=True,  # Ctrl-C of the benchmark reaches only the benchmark
            )
        process = _Process(name, role, popen, logs)
        self.processes.append(process)
        return process

    def start_worker(self) -> _Process:
        index = self.next_index
        self.next_index += 1
        argv = ["worker", STUDY_NAME, "--quiet", "--no-artifacts", "--worker-index", str(index)]
        return self.spawn(f"worker-{index}", "worker", argv)

    def workers(self) -> list[_Process]:
        return [p for p in self.processes if p.role == "worker" and p.alive]

    def victim(self) -> _Process:
        """A random worker, one past its start-up if there is one (else any)."""
        workers = self.workers()
        settled = [w for w in workers if self.settled([w.popen.pid], 3)]
        return self.rng.choice(settled or workers)

    def tick(self) -> None:
        """Reap processes that exited; replace workers that died before the budget was met."""
        for process in self.processes:
            if process.reaped or process.alive:
                continue
            process.reaped = True
            status = process.popen.returncode
            if process.killed:
                continue
            expected = EXIT_TERMINATED if process.terminated else EXPECTED_EXIT[process.role]
            if status != expected:
                what = f"{process.name}: exit status {status} (expected {expected})"
                self.unexpected.append(what)
                self.say(what)
                if (
                    process.role == "worker"
                    and not self.finished()
                    and self.unexpected_replacements < MAX_UNEXPECTED_REPLACEMENTS
                ):
                    self.unexpected_replacements += 1
                    self.pending_replacements += 1
        while self.pending_replacements and self.cluster.running:
            self.pending_replacements -= 1
            self.say(f"started {self.start_worker().name} as a replacement")

    def pause(self, seconds: float, until_finished: bool = True) -> None:
        """A deliberate chaos interval; ends early once the budget is met, if so asked."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and not (until_finished and self.finished()):
            self.tick()
            time.sleep(POLL)

    def wait_for(self, condition: Callable[[], T], seconds: float) -> T | None:
        """Poll ``condition`` until it is truthy (returned) or ``seconds`` pass (None)."""
        end = min(time.monotonic() + seconds, self.deadline)
        while True:
            self.tick()
            value = condition()
            if value:
                return value
            if time.monotonic() >= end:
                return None
            time.sleep(POLL)

    # -- the database

    def storage(self) -> optuna.storages.RDBStorage:
        if self._storage is None:
            self._storage = optuna.storages.RDBStorage(
                self.cluster.url,
                engine_kwargs={"pool_pre_ping": True, "connect_args": {"connect_timeout": 3}},
                skip_table_creation=True,
            )
        return self._storage

    def trials(self) -> list[FrozenTrial] | None:
        """The study's trials; None while the database does not answer."""
        if not self.cluster.running:
            return None
        try:
            storage = self.storage()
            study_id = storage.get_study_id_from_name(STUDY_NAME)
            return storage.get_all_trials(study_id, deepcopy=False)
        except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError):
            return None

    def finished(self) -> bool:
        """Whether the budget is met (asked of the database at most once a second)."""
        if time.monotonic() - self._asked >= 1:
            trials = self.trials()
            if trials is not None:
                finished = account(trials, self.budget).finished
                if finished != self._finished:
                    self._finished, self.last_progress = finished, time.monotonic()
            self._asked = time.monotonic()
        return self._finished >= self.budget

    def stalled(self) -> bool:
        """Whether no trial has finished for ``stall`` seconds (the budget unmet)."""
        return not self.finished() and time.monotonic() - self.last_progress > self.stall

    def running_trials(self) -> list[str]:
        """The RUNNING trials, each with its age and its last heartbeat's."""
        query = sqlalchemy.text(
            "SELECT t.number, LOCALTIMESTAMP - t.datetime_start, LOCALTIMESTAMP - h.heartbeat"
            " FROM trials t JOIN studies s ON s.study_id = t.study_id"
            " LEFT JOIN trial_heartbeats h ON h.trial_id = t.trial_id"
            " WHERE s.study_name = :name AND t.state = 'RUNNING' ORDER BY t.number"
        )
        try:
            with self.storage().engine.connect() as connection:
                rows = connection.execute(query, {"name": STUDY_NAME}).all()
        except sqlalchemy.exc.SQLAlchemyError as error:
            return [f"RUNNING trials unknown: {str(error).splitlines()[0]}"]
        return [
            f"trial {number} RUNNING for {age.total_seconds():.0f} s, last heartbeat "
            + ("never" if beat is None else f"{beat.total_seconds():.0f} s ago")
            for number, age, beat in rows
        ]

    def stale_trials(self) -> set[int]:
        """RUNNING trials whose last heartbeat is older than ``STALE_AFTER`` seconds."""
        query = sqlalchemy.text(
            "SELECT t.number FROM trials t"
            " JOIN studies s ON s.study_id = t.study_id"
            " JOIN trial_heartbeats h ON h.trial_id = t.trial_id"
            " WHERE s.study_name = :name AND t.state = 'RUNNING'"
            " AND h.heartbeat < LOCALTIMESTAMP - :age * INTERVAL '1 second'"
        )
        try:
            with self.storage().engine.connect() as connection:
                rows = connection.execute(query, {"name": STUDY_NAME, "age": STALE_AFTER})
                return {row[0] for row in rows}
        except sqlalchemy.exc.SQLAlchemyError:
            return set()

    def state_of(self, number: int) -> TrialState | None:
        trials = self.trials()
        return None if trials is None else trials[number].state

    def settled(self, pids: list[int], connections: int) -> bool:
        """Whether each worker of ``pids`` catches SIGTERM and holds ``connections``.

        A worker in its loop holds three: its trials', its heartbeat's and the slot
        lock's. Start-up opens two for a moment, and may catch SIGTERM from the
        start, so only three tell that a worker is past it (start-up does not ride
        out a lost database, and a stop then is not the chaos meant here).
        """
        return all(
            _handles_sigterm(pid) and _database_connections(pid, self.cluster.port) >= connections
            for pid in pids
        )

    # -- the steps

    def create(self) -> None:
        created = self.spawn("create", "create", ["create", str(self.study_file)])
        if created.popen.wait(timeout=180) != 0:
            raise RuntimeError(f"tuner create failed: {created.logs[0].read_text()}")
        created.reaped = True
        self.say(f"study {STUDY_NAME!r} created, budget {self.budget}")

    def wait_until_running(self) -> None:
        def running() -> bool:
            trials = self.trials() or []
            return any(t.state == TrialState.RUNNING for t in trials)

        if not self.wait_for(running, 180):
            raise RuntimeError("no trial started running within 180 s; see the workers' logs")
        self.say("trials are running")

    def kill(self) -> None:
        if not self.workers():
            return
        victim = self.victim()
        victim.killed = True
        victim.popen.send_signal(signal.SIGKILL)
        victim.popen.wait(timeout=30)
        self.kills += 1
        replacement = self.start_worker()
        self.say(f"SIGKILL {victim.name}; started {replacement.name}")

    def terminate(self) -> None:
        """SIGTERM a random worker that catches it, as a rollout does, and start a replacement.

        A worker catches SIGTERM once the command line is read (before that, in
        its first moments, it has touched nothing and the signal ends it); from
        then on it must exit 130 wherever the signal lands.
        """
        catching = [w for w in self.workers() if _handles_sigterm(w.popen.pid)]
        if not catching:
            return
        victim = self.rng.choice(catching)
        victim.terminated = True
        victim.popen.send_signal(signal.SIGTERM)
        self.terms += 1
        replacement = self.start_worker()
        exited = self.wait_for(lambda: not victim.alive, 60)
        status = victim.popen.poll() if exited else "still running 60 s later"
        self.say(f"SIGTERM {victim.name}: exit status {status}; started {replacement.name}")

    def freeze(self) -> None:
        """SIGSTOP a worker in a trial until that trial is failed by heartbeat, then SIGCONT.

        A worker caught between trials (perhaps holding the slot lock) is thawed
        at once and another tried; the last try stays frozen past the grace period
        whatever it caught.
        """
        attempts = 5
        for attempt in range(1, attempts + 1):
            if not self.workers():
                return
            victim = self.victim()
            step = self.freeze_once(victim, last=attempt == attempts)
            if step is not None:
                self.say(f"{step}; SIGCONT")
                self.done.append(step)
                return
            self.say(f"SIGSTOP {victim.name} caught no trial (between trials); SIGCONT")

    def freeze_once(self, victim: _Process, last: bool) -> str | None:
        """Freeze ``victim``; None (thawed at once) if it runs no trial, unless ``last``."""
        before = self.stale_trials()
        victim.popen.send_signal(signal.SIGSTOP)
        frozen = time.monotonic()
        caught = self.wait_for(lambda: self.stale_trials() - before, STALE_AFTER + 3)
        if not caught and not last:
            victim.popen.send_signal(signal.SIGCONT)
            return None
        outcome = "no trial"
        if caught:
            number = min(caught)
            failed = self.wait_for(
                lambda: self.state_of(number) == TrialState.FAIL, self.grace + 30
            )
            outcome = f"trial {number} {'' if failed else 'NOT '}failed by heartbeat"
        self.pause(self.grace + 1 - (time.monotonic() - frozen), until_finished=False)
        victim.popen.send_signal(signal.SIGCONT)
        seconds = time.monotonic() - frozen
        return f"SIGSTOP {victim.name} for {seconds:.1f} s (grace {self.grace} s): {outcome}"

    def stop_postgres(self) -> None:
        """Stop PostgreSQL for longer than the grace period, then start it again."""
        pids = [p.popen.pid for p in self.workers()]
        if not self.wait_for(lambda: self.settled(pids, 3), 120):
            self.say("not every worker past its start-up within 120 s; stopping PostgreSQL anyway")
        self.cluster.stop("fast")
        stopped = time.monotonic()
        self.say("PostgreSQL stopped")
        self.pause(self.grace + 3, until_finished=False)  # the outage
        self.cluster.start()
        step = f"PostgreSQL stopped for {time.monotonic() - stopped:.1f} s (grace {self.grace} s)"
        self.say(f"{step}; started again")
        self.done.append(step)

    def interrupt_run(self) -> None:
        """Start ``tuner run`` beside the workers; SIGTERM it once its workers are in trials."""
        argv = ["run", str(self.study_file), "--workers", "2", "--no-artifacts", "--no-progress"]
        run = self.spawn("run-1", "interrupted run", argv)
        self.say("started tuner run --workers 2")

        def working() -> list[int]:
            children = run.children()
            return children if len(children) == 2 and self.settled(children, 3) else []

        children = self.wait_for(working, 120)
        if not children:
            self.say("tuner run's workers were not in trials within 120 s; SIGTERM anyway")
            children = run.children()
        if not run.alive:  # it met the budget on its own: nothing to interrupt
            run.killed = True  # its exit status is no finding
            self.skipped.append("SIGTERM of tuner run: the budget was met before its workers ran")
            return
        run.popen.send_signal(signal.SIGTERM)
        self.say(f"SIGTERM tuner run (its workers: {children})")
        exited = self.wait_for(lambda: not run.alive, 90)
        left = [pid for pid in children if _alive(pid)]
        if left:
            self.unexpected.append(f"run-1: its workers {left} still running after SIGTERM")
            for pid in left:
                os.kill(pid, signal.SIGKILL)
        if not exited:
            self.unexpected.append("run-1: still running 90 s after SIGTERM")
            self.stop(run)
        step = f"tuner run SIGTERMed in trials: exit status {run.popen.poll()}"
        self.say(step)
        self.done.append(step)

    def chaos(self, kills: int, terms: int, kill_every: float, until: float) -> None:
        specials = [
            ("SIGSTOP of a worker", self.freeze),
            ("PostgreSQL stop", self.stop_postgres),
            ("SIGTERM of tuner run", self.interrupt_run),
        ]
        steps: list[tuple[str, Callable[[], None]]] = []
        for index in range(max(kills, terms, len(specials))):
            if index < kills:
                steps.append((f"SIGKILL #{index + 1}", self.kill))
            if index < terms:
                steps.append((f"SIGTERM #{index + 1}", self.terminate))
            if index < len(specials):
                steps.append(specials[index])
        for position, (name, step) in enumerate(steps):
            self.pause(kill_every)
            if self.finished() or time.monotonic() > until:
                self.skipped += [name for name, _ in steps[position:] if "#" not in name]
                break
            step()
        self.done.insert(0, f"{self.kills} SIGKILLs of workers, each replaced")
        self.done.insert(1, f"{self.terms} SIGTERMs of workers (a rollout), each replaced")
        if kills > self.kills:
            self.skipped.append(f"{kills - self.kills} of {kills} SIGKILLs")
        if terms > self.terms:
            self.skipped.append(f"{terms - self.terms} of {terms} SIGTERMs")

    def rerun(self) -> None:
        argv = ["run", str(self.study_file), "--workers", "2", "--no-artifacts", "--no-progress"]
        run = self.spawn("run-2", "rerun", argv)
        self.say("rerunning tuner run --workers 2 to completion")
        self.wait_for(lambda: not run.alive or self.stalled(), self.deadline - time.monotonic())
        status = run.popen.poll()
        self.done.append(f"tuner run rerun: {'still running' if status is None else status}")

    def wait_for_workers(self) -> None:
        """Wait for every process to exit; stop waiting if the study stalls."""

        def over() -> bool:
            exited = not any(p.alive for p in self.processes) and not self.pending_replacements
            return exited or self.stalled()

        self.wait_for(over, self.deadline - time.monotonic())
        when = "at the deadline"
        if self.stalled():
            when = f"when the study stalled (no trial finished for {self.stall:.0f} s)"
            self.notes += [f"the study stalled at {self._finished} of {self.budget} finished"]
            self.notes += self.running_trials()
        for process in self.processes:
            if process.alive:
                self.unexpected.append(f"{process.name}: still running {when}")
                self.say(f"{process.name} still running {when}; killed")
                self.stop(process)
        self.tick()
        self.say("every process has exited")

    def stop(self, process: _Process) -> None:
        """SIGKILL ``process`` and its children; its exit status is no finding."""
        process.killed = True
        for pid in process.children():
            os.kill(pid, signal.SIGKILL)
        process.popen.send_signal(signal.SIGKILL)
        process.popen.wait(timeout=30)

    def stop_everything(self) -> None:
        for process in self.processes:
            if process.alive:
                self.stop(process)
        if self._storage is not None:
            self._storage.engine.dispose()

    def logs(self) -> list[Path]:
        return [log for process in self.processes for log in process.logs]


# ---------------------------------------------------------------------------
# Logs

_TRACEBACK = "Traceback (most recent call last):"
_ERROR = re.compile(r"error|exception|cannot|giving up|interrupted|fatal", re.IGNORECASE)
_NOISE = re.compile(r"^[IWE]\d{4} [\d:.]+ +\d+ \S+\] |^During handling of the above")
"""TensorFlow's C++ log lines (no GPU here: cuInit fails), and chained tracebacks' joints."""


def _write_trials(path: Path, trials: list[FrozenTrial]) -> None:
    """One line per trial: what a developer needs to follow slots and retries."""
    lines = ["number state value failed_trial retry_history started completed fail_reason"]
    for t in trials:
        fields = (
            t.number,
            t.state.name,
            t.value,
            t.system_attrs.get("failed_trial", "-"),
            ",".join(map(str, t.system_attrs.get("retry_history", []))) or "-",
            t.datetime_start and t.datetime_start.time(),
            t.datetime_complete and t.datetime_complete.time(),
            t.user_attrs.get("fail_reason", "-"),
        )
        lines.append(" ".join(map(str, fields)))
    path.write_text("\n".join(lines) + "\n")


def _tracebacks(logs: list[Path]) -> int:
    return sum(log.read_text(errors="replace").count(_TRACEBACK) for log in logs)


def _error_lines(logs: list[Path], limit: int = 30) -> list[str]:
    """The logs' error lines, each once with its count and logs; a traceback as its exception."""
    found: Counter[str] = Counter()
    where: dict[str, set[str]] = {}
    for log in logs:
        in_traceback, frame = False, ""
        for raw in log.read_text(errors="replace").splitlines():
            line = raw.strip()
            if raw.startswith(_TRACEBACK):
                in_traceback, frame = True, ""
                continue
            if in_traceback and raw[:1].isspace():
                if line.startswith("File "):
                    frame = line
                continue
            if in_traceback:
                in_traceback = False
                line = f"{line}  [{frame}]" if frame else line
            elif not _ERROR.search(line) or _NOISE.search(line):
                continue
            found[line[:300]] += 1
            where.setdefault(line[:300], set()).add(log.stem)
    return [
        f"{count}x {line}  ({', '.join(sorted(where[line]))})"
        for line, count in found.most_common(limit)
    ]


# ---------------------------------------------------------------------------
# Running it


def _study(trials: int, repeats: int, engine: str, grace: int) -> str:
    """The study file: short trials, so that the chaos meets many of them."""
    return short_trials_toml(
        STUDY_NAME,
        trials=trials,
        repeats=repeats,
        engine=engine,
        workers={
            "heartbeat_interval": HEARTBEAT_INTERVAL,
            "grace_period": grace,
            "max_retry": MAX_RETRY,
            "trials_per_graph": PACK,
        },
    )


@contextmanager
def _scratch(workdir: Path | None, keep: bool) -> Iterator[tuple[Path, list[bool]]]:
    """A working directory; a temporary one is removed unless kept (second item: keep it)."""
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        yield workdir, [True]
        return
    directory = Path(tempfile.mkdtemp(prefix="tuner-chaos-"))
    keeping = [keep]
    try:
        yield directory, keeping
    finally:
        if not keeping[0]:
            shutil.rmtree(directory, ignore_errors=True)


def run_chaos(
    trials: int = 200,
    workers: int = 4,
    *,
    kills: int = 20,
    terms: int = 10,
    kill_every: float = 5.0,
    seconds: float = 900.0,
    repeats: int = 1,
    engine: str = "keras",
    grace: int = GRACE_PERIOD,
    stall: float = 120.0,
    seed: int | None = None,
    workdir: Path | None = None,
    keep: bool = False,
    out: Callable[[str], None] = print,
) -> ChaosResult:
    """Run a study of ``trials`` with ``workers`` workers under chaos; see the module doc.

    Args:
        trials: The study's budget.
        workers: Worker processes kept running (killed ones are replaced).
        kills: SIGKILLs of workers.
        terms: SIGTERMs of workers, each replaced (a rollout).
        kill_every: Seconds between chaos steps.
        seconds: Limit of the whole run; chaos stops at two thirds of it.
        repeats: Fits per trial (1 or 2 keep trials short).
        engine: ``keras`` (about a second per trial) or ``fast`` (a tenth of that).
        grace: The study's ``grace_period``; freezes and outages last longer.
        stall: Seconds without a finished trial after which the end's waits give up
            (the processes left are killed and counted).
        seed: Seeds the choice of victims; None: random (printed).
        workdir: Where the study file and the logs go; None: a temporary directory,
            removed afterwards unless ``keep`` or something was wrong.
        keep: Keep the temporary directory.
        out: Where progress lines go.

    Raises:
        tests.helpers.pgcluster.ClusterError: PostgreSQL could not be set up.
        RuntimeError: The study could not be created, or no trial ever started.
    """
    seed = random.randrange(2**31) if seed is None else seed
    started = time.monotonic()
    deadline = started + seconds
    with PrivateCluster() as cluster, _scratch(workdir, keep) as (scratch, keeping):
        out(
            f"chaos: {trials} trials, {workers} workers, {kills} kills and {terms} SIGTERMs "
            f"every {kill_every:g} s, "
            f"{engine} engine, {repeats} repeat(s), grace {grace} s, seed {seed}; "
            f"PostgreSQL {cluster.version} "
            f"(private) on 127.0.0.1:{cluster.port}; logs in {scratch / 'logs'}"
        )
        study_file = scratch / f"{STUDY_NAME}.toml"
        study_file.write_text(_study(trials, repeats, engine, grace))
        rng = random.Random(seed)
        chaos = _Chaos(cluster, scratch, study_file, trials, grace, stall, deadline, rng, out)
        try:
            chaos.create()
            for _ in range(workers):
                chaos.start_worker()
            chaos.wait_until_running()
            chaos.chaos(kills, terms, kill_every, until=started + seconds * 2 / 3)
            chaos.rerun()
            chaos.wait_for_workers()
        finally:
            chaos.stop_everything()
            shutil.copy(cluster.log, scratch / "logs" / "postgresql.log")
        final = chaos.trials()
        if final is None:
            raise RuntimeError("the study's trials could not be read at the end")
        _write_trials(scratch / "logs" / "trials.txt", final)
        logs = chaos.logs()
        result = ChaosResult(
            trials=account(final, trials),
            tracebacks=_tracebacks(logs),
            unexpected_exits=len(chaos.unexpected),
            kills=chaos.kills,
            terms=chaos.terms,
            done=tuple(chaos.done),
            skipped=tuple(chaos.skipped),
            exits=tuple(chaos.unexpected),
            notes=tuple(chaos.notes),
            error_lines=tuple(_error_lines(logs)),
            seconds=time.monotonic() - started,
            logs=scratch / "logs",
        )
        keeping[0] = keeping[0] or not result.ok
        return result if keeping[0] else dataclasses.replace(result, logs=None)
