"""Query plans (`explain`) read the same way on MongoDB and on the embedded stand-in.

MongoDB answers a tree of stages (`IXSCAN`, `FETCH`, `LIMIT`, ...; on 7.0 with the slot-based
engine under `winningPlan.queryPlan`) and execution statistics; the stand-in answers SQLite's
plan lines (`SEARCH items USING INDEX ...`, `SCAN items`) and no real statistics. Tests assert
index use on MongoDB, where it is the point, and what the stand-in can show on the stand-in.
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

STAND_IN_PROCESS = "nx_27017"


async def on_stand_in(client: AsyncMongoClient[Any]) -> bool:
    """Whether `client` talks to the embedded stand-in rather than to MongoDB."""
    build = await client.admin.command("buildInfo")
    return build.get("process") == STAND_IN_PROCESS


def winning_stages(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """MongoDB's winning plan as a flat list of its stages, outermost first."""
    winning = plan["queryPlanner"]["winningPlan"]
    winning = winning.get("queryPlan", winning)
    stages: list[dict[str, Any]] = []
    waiting = [winning]
    while waiting:
        stage = waiting.pop(0)
        stages.append(stage)
        if "inputStage" in stage:
            waiting.append(stage["inputStage"])
        waiting.extend(stage.get("inputStages", []))
    return stages


def stand_in_plan(plan: dict[str, Any]) -> list[str]:
    """The stand-in's plan: SQLite's lines."""
    return [str(step.get("detail", step)) for step in plan["queryPlanner"]["winningPlan"]]


def docs_examined(plan: dict[str, Any]) -> int:
    return int(plan["executionStats"]["totalDocsExamined"])
