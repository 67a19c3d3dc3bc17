"""cpu_saturation: a CPU-bound neighbour inside the API process (think of a report job, a big JSON
parse or a compression thread) that steals the interpreter from the shop.

Threads spin in pure Python, so they hold the GIL the event loop needs: every route gets slower,
the process's CPU sits near one core (the GIL lets only one Python thread run at a time), and
event-loop lag rises because the loop waits for the GIL at every switch interval. Switching the
fault off stops the threads; changing its parameters restarts them.
"""

from __future__ import annotations

import threading
import time

import structlog
from pydantic import Field

from faultline.faults.params import FaultParams
from faultline.faults.spec import FaultSpec
from faultline.json_types import JsonInt

log = structlog.get_logger(__name__)

# One duty cycle: busy for duty_percent of it, asleep for the rest.
CYCLE_SECONDS = 0.01


class CpuSaturationParams(FaultParams):
    threads: JsonInt = Field(1, ge=1, le=4, description="Busy threads beside the event loop")
    duty_percent: JsonInt = Field(
        100, ge=10, le=100, description="Share of each 10 ms cycle a thread spends spinning"
    )


def spin(stop: threading.Event, duty: float) -> None:
    while not stop.is_set():
        busy_until = time.perf_counter() + CYCLE_SECONDS * duty
        while time.perf_counter() < busy_until:
            pass
        if duty < 1:
            stop.wait(CYCLE_SECONDS * (1 - duty))


class Neighbour:
    """The spinning threads, at most one set at a time."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def running(self) -> int:
        return sum(thread.is_alive() for thread in self._threads)

    def start(self, threads: int, duty_percent: int) -> None:
        self.stop()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(
                target=spin,
                args=(self._stop, duty_percent / 100),
                name=f"cpu-saturation-{n}",
                daemon=True,
            )
            for n in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> int:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=1)
        stopped, self._threads = len(self._threads), []
        return stopped


NEIGHBOUR = Neighbour()


async def switched_on(params: CpuSaturationParams) -> None:
    NEIGHBOUR.start(params.threads, params.duty_percent)
    log.info("fault.cpu_saturation.started", threads=params.threads, duty=params.duty_percent)


async def switched_off() -> None:
    log.info("fault.cpu_saturation.stopped", threads=NEIGHBOUR.stop())


FAULT = FaultSpec(
    "cpu_saturation",
    "A CPU-bound neighbour in the API process steals the interpreter: every route slows",
    CpuSaturationParams,
    (
        "process_cpu_seconds_total",
        "asyncio_event_loop_lag_seconds",
        "http_request_duration_seconds",
    ),
    position=90,
    switched_on=switched_on,
    switched_off=switched_off,
)
