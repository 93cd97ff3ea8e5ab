"""``panslice batch``: many files bounced by Dask distributed's workers, idempotently.

Dask rather than Ray: it is a pure-Python pip install with no daemon of its own, a scheduler
and workers start with one command each on any machine (or as a LocalCluster in-process), it
re-runs the task of a worker that dies, and it is what fsspec and s3fs come from. Ray would
bring a larger runtime (object store, raylet) for features a batch of independent files does
not use.

The client plans (expands the inputs, names the outputs, skips what the stamps say is done)
and the workers bounce (plugin/offline/batch_work.py). Each file is one task; a row per file
comes back and goes to the report and the progress bar.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from typing import Callable, Iterator

from ...dsp.errors import PansliceError
from . import batch_work, stamp
from .batch_report import Progress, Report, row
from .catalogue import CatalogueError, Item, expand, join


@dataclass
class Plan:
    tasks: list[batch_work.Task]     # to bounce
    skipped: list[dict]              # report rows of outputs already current


def plan(items: list[Item], out: str | None,
         settings_for: Callable[[str | None], batch_work.Settings]) -> list[batch_work.Task]:
    """One task per item; its output is the manifest's, or OUT/<name>-<preset or chain>[.ext]."""
    tasks, owners = [], {}
    for it in items:
        st = settings_for(it.preset)
        if it.output:
            output = it.output
            ext = os.path.splitext(output)[1].lower()
            if not st.stems and ext != st.format:   # the format is --format's, not the name's
                raise CatalogueError(f"{output}: would hold {st.format[1:]} (--format {st.format[1:]}); "
                                     f"name it *{st.format}" + (f" or give --format {ext[1:]}" if ext else ""))
        elif out is not None:
            output = join(out, f"{it.name}-{st.name}" + ("" if st.stems else st.format))
        else:
            raise CatalogueError(f"{it.input}: no output: give -o OUT (or an output column)")
        if output in owners:
            raise CatalogueError(f"{it.input} and {owners[output]} would both write {output}")
        if output == it.input:
            raise CatalogueError(f"{it.input}: refusing to overwrite the input file")
        owners[output] = it.input
        tasks.append(batch_work.Task(it.input, output, it.fingerprint, st))
    return tasks


def check(tasks: list[batch_work.Task]) -> Plan:
    """Split ``tasks`` into those to bounce and those whose stamp matches by fingerprint
    (same size and change stamp, same settings, same version): no input is read here. On a
    local disk the stamped outputs must also still exist (a stat each); in an object store
    the stamp is trusted (delete it to have an output redone)."""
    todo, skipped = [], []
    records = stamp.read_many([t.output for t in tasks])
    for t, rec in zip(tasks, records):
        if (stamp.current(rec, t.settings.digest) and rec.get("input_fingerprint") == t.fingerprint
                and _present(rec.get("outputs", []))):
            skipped.append(row(t.input, "skipped", outputs=rec.get("outputs", [])))
        else:
            todo.append(t)
    return Plan(todo, skipped)


def _present(outputs: list[str]) -> bool:
    return all(os.path.exists(o) for o in outputs if "://" not in o)


def connect(workers: int, address: str | None):
    """A Dask client: to the scheduler at ``address``, or to a new LocalCluster of ``workers``
    single-threaded processes on 127.0.0.1. Returns ``(client, cluster or None)``."""
    from distributed import Client, LocalCluster

    if address:
        try:
            return Client(address, timeout="20s"), None
        except OSError as e:
            raise PansliceError(f"{address}: cannot reach the Dask scheduler ({e})") from None
    cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
    return Client(cluster), cluster


def bounce_all(client, tasks: list[batch_work.Task]) -> Iterator[dict]:
    """Submit every task; yield its report row as each finishes (in any order). A task whose
    workers kept dying (Dask gives up after a few) is a failed row too."""
    from distributed import as_completed

    run = uuid.uuid4().hex[:8]
    futures = {client.submit(batch_work.run, t, key=f"panslice-bounce-{run}-{i}", pure=False): t
               for i, t in enumerate(tasks)}
    for fut in as_completed(futures):
        task = futures.pop(fut)
        try:
            yield fut.result()
        except Exception as e:  # noqa: BLE001 -- e.g. KilledWorker: the file, not the batch, failed
            yield row(task.input, "failed", error=f"{task.input}: failed ({type(e).__name__}: {e})")
        fut.release()



def run(specs: list[str], out: str | None, settings_for: Callable[[str | None], batch_work.Settings],
        *, workers: int = 2, address: str | None = None, report: str | None = None,
        quiet: bool = False) -> tuple[int, str]:
    """The whole batch: plan, skip what is current, bounce the rest on the cluster, report;
    each failure is a line on stderr as it happens.
    Returns ``(number of failed files, summary line)``. No cluster starts when nothing is left."""
    _require()
    todo = check(plan(expand(specs), out, settings_for))
    progress = Progress(len(todo.tasks) + len(todo.skipped), len(todo.skipped), not quiet)
    rep = Report(report)
    try:
        for r in todo.skipped:
            rep.add(r)
        if todo.tasks:
            client, cluster = connect(workers, address)
            progress.restart()  # the figures are the workers', not the cluster's start-up
            try:
                for r in bounce_all(client, todo.tasks):
                    rep.add(r)
                    progress.add(r)
                    if r["status"] == "failed":
                        progress.note(f"panslice: error: {r['error']}")
            finally:
                client.close()
                if cluster is not None:
                    cluster.close()
    finally:
        rep.close()
        summary = progress.close()
    return progress.failed, summary


def _require() -> None:
    try:
        import distributed  # noqa: F401
        import fsspec  # noqa: F401
    except ImportError:
        raise PansliceError("panslice batch needs Dask and fsspec: pip install 'panslice[cluster]'") from None
