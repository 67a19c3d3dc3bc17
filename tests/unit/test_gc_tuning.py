"""The collector settings the API applies once started (faultline.gc_tuning), on this process;
each test puts CPython's state back."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from faultline.config import Settings
from faultline.gc_tuning import tune_garbage_collector


@pytest.fixture(autouse=True)
def restore_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.unfreeze()  # an in-process API started earlier in the session may have frozen already
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_the_defaults_freeze_what_exists_and_raise_generation_0() -> None:
    settings = Settings()
    frozen = tune_garbage_collector(settings.gc_freeze_after_startup, settings.gc_gen0_threshold)
    assert frozen == gc.get_freeze_count() > 10_000  # a pytest process holds far more than that
    assert gc.get_threshold()[0] == 20_000
    survivor = [object()]  # made after the freeze: still collected as usual
    assert gc.is_tracked(survivor) and gc.get_freeze_count() == frozen


def test_cpython_behaviour_is_one_setting_away() -> None:
    _, gen1, gen2 = gc.get_threshold()
    assert tune_garbage_collector(False, 700) == 0
    assert gc.get_threshold() == (700, gen1, gen2)


def test_the_threshold_is_validated() -> None:
    with pytest.raises(ValueError, match="gc_gen0_threshold"):
        Settings(gc_gen0_threshold=0)
