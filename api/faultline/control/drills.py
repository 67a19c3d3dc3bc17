"""Self-paced drills: a learner alone runs a scenario, asks for hints, submits a diagnosis, and
is scored. The control service keeps the drill so that the scenario runner, `make hint`,
`make diagnose` and the console all see one state.

The runner starts a drill with what the learner may be shown (the brief, the hints from the
key's path, the causes to choose from, plausible wrong ones among them) and what is revealed only
after a diagnosis or the drill's end (the right cause, the key). A hint unlocks on request or by
itself `hint_after_s` after the last one; every hint unlocked counts as used. One diagnosis per
drill: it is scored (correct or not, time to diagnosis, hints used) and the key revealed.

Results are kept in an append-only JSON-lines file (faultline.control.journal), so a learner
sees progress across drills; a line that cannot be read is reported and skipped. The drill in
progress lives in memory: a control service restarted mid-drill has none, and says so.
"""

from __future__ import annotations

import asyncio
import random
import string
import time
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from faultline.control import journal
from faultline.errors import Conflict, InvalidRequest

Text = Annotated[str, StringConstraints(min_length=1, max_length=600)]
ChoiceId = Annotated[str, StringConstraints(pattern=r"^[A-Z]$")]


class Choice(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: ChoiceId
    label: Text


class DrillStart(BaseModel):
    """What the scenario runner hands over when a self-paced drill starts."""

    model_config = ConfigDict(extra="forbid", strict=True)

    scenario: str = Field(pattern=r"^[a-z0-9-]{1,64}$")
    title: Text
    brief: str = Field(min_length=1, max_length=4000)
    hints: list[Text] = Field(min_length=1, max_length=12)
    hint_after_s: float | None = Field(
        default=None,
        ge=0.1,
        le=3600,
        description="A hint unlocks by itself this long (real seconds) after the last",
    )
    causes: list[Text] = Field(
        min_length=2,
        max_length=26,
        json_schema_extra={"uniqueItems": True},
        description="The right cause first, then the wrong ones: the learner sees them shuffled",
    )
    key: str = Field(min_length=1, max_length=12_000, description="Revealed after the diagnosis")
    speed: float = Field(default=1.0, gt=0, le=100, description="Lab time per real second")
    hidden: bool = Field(default=False, description="A mystery: scenario and title said after")

    @model_validator(mode="after")
    def _causes_differ(self) -> Self:
        if len(set(self.causes)) != len(self.causes):
            raise ValueError("each cause once")
        return self


class Diagnosis(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    cause: ChoiceId = Field(description="The id of the cause chosen")
    evidence: str = Field(
        min_length=1, max_length=500, description="The evidence, in a sentence or two"
    )


class DrillResult(BaseModel):
    """One drill's outcome: `correct` is None when it ended with no diagnosis."""

    scenario: str
    title: str
    started_at: float
    ended_at: float
    speed: float
    correct: bool | None
    cause: str | None = Field(description="The label of the cause chosen")
    evidence: str | None
    time_to_diagnosis_s: float | None = Field(description="Real seconds from start to diagnosis")
    hints_used: int
    hints_total: int


class DrillView(BaseModel):
    scenario: str | None = Field(description="None while a mystery drill runs")
    title: str
    brief: str
    started_at: float
    speed: float
    hints: list[str] = Field(description="The hints unlocked so far")
    hints_total: int
    next_hint_at: float | None = Field(description="When the next hint unlocks by itself")
    choices: list[Choice]
    result: DrillResult | None = Field(description="Once diagnosed (or ended): the score")
    answer: str | None = Field(description="The right cause's label, once diagnosed or ended")
    key: str | None = Field(description="The facilitator's key, once diagnosed or ended")


class ResultList(BaseModel):
    results: list[DrillResult] = Field(description="Newest first")
    scenarios_done: list[str] = Field(description="Every scenario drilled at least once")
    correct: int = Field(description="Drills diagnosed correctly")
    problems: list[str] = Field(
        default_factory=list, description="Lines of the results file that could not be read"
    )


class DrillConflict(Conflict):
    """A drill action that does not fit the drill's state: nothing changes."""

    code = "drill_conflict"


class Drill:
    def __init__(self, start: DrillStart, now: float) -> None:
        self.start = start
        # The causes under letters, in an order of their own: the right one is not always A.
        shuffled = random.sample(start.causes, len(start.causes))
        self.choices = [
            Choice(id=letter, label=cause)
            for letter, cause in zip(string.ascii_uppercase, shuffled, strict=False)
        ]
        self.answer = self.choices[shuffled.index(start.causes[0])].id
        self.started_at = now
        self.requested = 0  # hints asked for
        self.last_unlock = now
        self.result: DrillResult | None = None

    def hints_unlocked(self, now: float) -> int:
        """Asked for, or unlocked by the delay since the last one, up to all of them."""
        unlocked, last = self.requested, self.last_unlock
        after = self.start.hint_after_s
        if after is not None and self.result is None:
            by_time = min(int((now - last) // after), len(self.start.hints))
            unlocked, last = unlocked + by_time, last + by_time * after
        return min(unlocked, len(self.start.hints))

    def unlock(self, now: float) -> str:
        count = self.hints_unlocked(now)
        if count >= len(self.start.hints):
            raise DrillConflict(f"Every hint is unlocked already ({count})")
        self.requested, self.last_unlock = count + 1, now
        return self.start.hints[count]

    def finish(self, now: float, diagnosis: Diagnosis | None) -> DrillResult:
        # The hints unlocked by now are the ones used: no more unlock by time after this.
        self.requested, self.last_unlock = self.hints_unlocked(now), now
        labels = {choice.id: choice.label for choice in self.choices}
        self.result = DrillResult(
            scenario=self.start.scenario,
            title=self.start.title,
            started_at=self.started_at,
            ended_at=now,
            speed=self.start.speed,
            correct=None if diagnosis is None else diagnosis.cause == self.answer,
            cause=None if diagnosis is None else labels[diagnosis.cause],
            evidence=None if diagnosis is None else diagnosis.evidence,
            time_to_diagnosis_s=None if diagnosis is None else round(now - self.started_at, 1),
            hints_used=self.requested,
            hints_total=len(self.start.hints),
        )
        return self.result

    def view(self, now: float) -> DrillView:
        count = self.hints_unlocked(now)
        after = self.start.hint_after_s
        done = self.result is not None
        next_at = None
        if after is not None and not done and count < len(self.start.hints):
            next_at = self.last_unlock + (count - self.requested + 1) * after
        secret = self.start.hidden and not done
        return DrillView(
            scenario=None if secret else self.start.scenario,
            title="A mystery incident" if secret else self.start.title,
            brief=self.start.brief,
            started_at=self.started_at,
            speed=self.start.speed,
            hints=self.start.hints[:count],
            hints_total=len(self.start.hints),
            next_hint_at=next_at,
            choices=self.choices,
            result=self.result,
            answer=self.start.causes[0] if done else None,
            key=self.start.key if done else None,
        )


class DrillBook:
    """The drill in progress (one at a time) and every result, kept in `path` (JSON lines)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.current: Drill | None = None
        self.results: list[DrillResult] = []
        self.problems: list[str] = []
        self._lock = asyncio.Lock()

    def load(self) -> None:
        self.problems = journal.replay(self.path, self._apply, "drill.result_line_invalid")

    def _apply(self, entry: dict[str, Any]) -> None:
        self.results.append(DrillResult.model_validate(entry["result"]))

    async def begin(self, start: DrillStart) -> DrillView:
        """A new drill; one left unfinished (its runner gone) is recorded as ended first."""
        async with self._lock:
            now = time.time()
            if self.current is not None and self.current.result is None:
                await self._record(self.current.finish(now, None))
            self.current = Drill(start, now)
            return self.current.view(now)

    def running(self) -> Drill:
        if self.current is None:
            raise DrillConflict("No drill is running: start one with make scenario ... MODE=self")
        if self.current.result is not None:
            raise DrillConflict(
                "This drill is over (diagnosed, or its time was up): its score stands; "
                "start another with make scenario ... MODE=self"
            )
        return self.current

    async def hint(self) -> DrillView:
        async with self._lock:
            drill, now = self.running(), time.time()
            drill.unlock(now)
            return drill.view(now)

    async def diagnose(self, diagnosis: Diagnosis) -> DrillView:
        async with self._lock:
            drill, now = self.running(), time.time()
            if diagnosis.cause not in {choice.id for choice in drill.choices}:
                raise InvalidRequest(f"No cause {diagnosis.cause!r} among this drill's choices")
            await self._record(drill.finish(now, diagnosis))
            return drill.view(now)

    async def end(self) -> DrillView:
        """The drill's time is up: scored with no diagnosis, unless it had one."""
        async with self._lock:
            if self.current is None:
                raise DrillConflict("No drill to end")
            now = time.time()
            if self.current.result is None:
                await self._record(self.current.finish(now, None))
            return self.current.view(now)

    async def _record(self, result: DrillResult) -> None:
        await journal.append(self.path, [{"kind": "result", "result": result.model_dump()}])
        self.results.append(result)

    def listing(self) -> ResultList:
        return ResultList(
            results=list(reversed(self.results)),
            scenarios_done=sorted({result.scenario for result in self.results}),
            correct=sum(result.correct is True for result in self.results),
            problems=self.problems,
        )
