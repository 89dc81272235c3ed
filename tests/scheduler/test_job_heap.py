"""While jobs run, the collector leaves the process's earlier objects alone, and takes them back afterwards."""

from __future__ import annotations

import gc

from scheduler import engine
from scheduler.engine import heap_set_aside


def test_the_heap_is_frozen_while_jobs_run_and_unfrozen_when_the_last_one_ends():
    assert gc.get_freeze_count() == 0
    with heap_set_aside():
        frozen = gc.get_freeze_count()
        assert frozen > 0
        with heap_set_aside():  # a second job started meanwhile: nothing more frozen, nothing thawed
            assert gc.get_freeze_count() == frozen
        assert gc.get_freeze_count() == frozen
    assert gc.get_freeze_count() == 0 and engine._jobs_running == 0


def test_a_failing_job_thaws_the_heap_too():
    try:
        with heap_set_aside():
            raise RuntimeError("the job failed")
    except RuntimeError:
        pass
    assert gc.get_freeze_count() == 0 and engine._jobs_running == 0


def test_cycles_made_by_a_job_are_still_collected_during_it():
    class Node:
        pass

    with heap_set_aside():
        node = Node()
        node.itself = node
        ident = id(node)
        del node
        gc.collect()
        assert not any(id(o) == ident for o in gc.get_objects() if isinstance(o, Node))
