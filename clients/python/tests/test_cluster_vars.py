"""Versioned variables against a real 3-node cluster (the Python side of
cluster-tests/tests/vars.rs): 200 compare-and-swap updates from 8 concurrent writers, each
retrying on a version conflict, end as 200 new versions with nothing lost; immutable keys
refuse updates and rollbacks; a set reads as of any kept version; a rollback restores an old
version's values (and checksum) as a new version; the history is gap-free; a workflow's
variables need the workflow and go with it; retention forgets old versions.

The cluster is shared with the other API tests: every scope here is this test's own."""

from __future__ import annotations

import asyncio

import pytest

import cairn
from cairn import ABSENT, VarChange, VarScope

from .cluster import Cluster

WRITERS = 8
UPDATES = 25


async def test_concurrent_cas_updates_rollback_and_history(
    cluster: Cluster, client: cairn.Client, name: str
) -> None:
    scope = VarScope.namespace(f"{name}-vars")
    first = await client.update_vars(
        scope,
        set={"model": "small", "n": 0},
        immutable=["model"],
        keep_versions=1_000,
        expected_version=0,
        actor="setup",
    )
    assert first.version == 1

    async def writer(w: int) -> int:
        conflicts = 0
        async with cairn.Client(cluster.endpoints()) as c:
            for i in range(1, UPDATES + 1):
                while True:
                    now = await c.vars(scope)
                    assert now is not None
                    try:
                        await c.update_vars(
                            scope,
                            set={"n": now.values["n"] + 1, f"w{w}": i},
                            expected_version=now.version,
                            actor=f"writer-{w}",
                        )
                        break
                    except cairn.VersionConflict as e:
                        assert e.current > now.version
                        conflicts += 1
        return conflicts

    conflicts = await asyncio.gather(*(writer(w) for w in range(WRITERS)))
    print(f"{WRITERS * UPDATES} CAS updates from {WRITERS} writers, {sum(conflicts)} conflicts")
    total = WRITERS * UPDATES
    now = await client.vars(scope)
    assert now is not None
    assert now.version == 1 + total
    assert now.values["n"] == total, "a CAS update was lost"
    assert now.values == {
        "model": "small",
        "n": total,
        **{f"w{w}": UPDATES for w in range(WRITERS)},
    }
    assert now.immutable == frozenset({"model"}) and now.keep_versions == 1_000

    # Each version after the first added exactly one to n, and named its writer.
    history = await client.var_history(scope)
    assert [v.version for v in history] == list(range(1, total + 2))
    assert history[0].changes == {
        "model": VarChange("small", ABSENT),
        "n": VarChange(0, ABSENT),
    }
    for v in history[1:]:
        assert v.changes["n"] == VarChange(v.version - 1, v.version - 2), v.version
        assert v.actor.startswith("writer-") and v.rolled_back_to is None

    # A stale expected version: refused with the current one, nothing written.
    with pytest.raises(cairn.VersionConflict) as conflict:
        await client.update_vars(scope, set={"n": -1}, expected_version=total)
    assert conflict.value.current == total + 1

    # Immutable: refused (set or delete), nothing changes.
    with pytest.raises(cairn.Immutable) as refused:
        await client.update_vars(scope, set={"model": "large", "n": 0})
    assert refused.value.kind == "immutable" and "model" in refused.value.message
    with pytest.raises(cairn.Immutable):
        await client.update_vars(scope, delete=["model"])
    assert await client.vars(scope) == now

    # As of an older version: that version's values.
    old = await client.vars(scope, version=100)
    assert old is not None and old.version == 100
    assert old.values["n"] == 99 and old.values["model"] == "small"
    assert old.checksum == history[99].checksum
    assert old.updated_by == history[99].actor and old.mod_revision == history[99].revision
    v1 = await client.vars(scope, version=1)
    assert v1 is not None and v1.values == {"model": "small", "n": 0}
    assert await client.vars(scope, version=total + 2) is None, "a version not written yet"

    # Rollback to version 100: a new version with exactly its values (and checksum).
    rolled = await client.rollback_vars(
        scope, 100, expected_version=total + 1, actor="ops", reason="bad batch"
    )
    assert rolled.version == total + 2
    assert rolled.checksum == old.checksum
    after = await client.vars(scope)
    assert after is not None
    assert after.version == total + 2
    assert after.values == old.values and after.checksum == old.checksum
    assert after.updated_by == "ops"

    history = await client.var_history(scope)
    assert [v.version for v in history] == list(range(1, total + 3)), "gap-free history"
    last = history[-1]
    assert (last.rolled_back_to, last.actor, last.reason) == (100, "ops", "bad batch")
    assert last.checksum == old.checksum
    assert last.changes["n"] == VarChange(99, total)
    # Only what differs is recorded; the immutable key did not change.
    assert "model" not in last.changes
    # The version rolled away from is still readable.
    before = await client.vars(scope, version=total + 1)
    assert before is not None and before.values == now.values


async def test_immutable_keys_refuse_rollbacks_too(client: cairn.Client, name: str) -> None:
    scope = VarScope.namespace(f"{name}-imm")
    await client.update_vars(scope, set={"a": 1, "b": "x"})
    await client.update_vars(scope, set={"a": 2}, immutable=["a"])
    with pytest.raises(cairn.Immutable):
        await client.update_vars(scope, set={"a": 3, "b": "y"})
    with pytest.raises(cairn.Immutable):
        await client.rollback_vars(scope, 1)
    now = await client.vars(scope)
    assert now is not None
    assert (now.version, now.values, now.immutable) == (2, {"a": 2, "b": "x"}, frozenset({"a"}))
    # Marking a key immutable that has no value is refused; so is a second "first" update.
    with pytest.raises(cairn.InvalidArgument):
        await client.update_vars(scope, immutable=["nothing"])
    with pytest.raises(cairn.VersionConflict) as conflict:
        await client.update_vars(scope, set={"b": "z"}, expected_version=0)
    assert conflict.value.current == 2
    # Other keys still change, and a null is a value, not a deletion.
    wrote = await client.update_vars(scope, set={"b": None}, expected_version=2)
    now = await client.vars(scope)
    assert now is not None and now.values == {"a": 2, "b": None}
    assert (now.version, now.checksum) == (wrote.version, wrote.checksum)
    assert wrote.version == 3
    history = await client.var_history(scope)
    assert history[-1].changes == {"b": VarChange(None, "x")}


async def test_workflow_scope_needs_the_workflow_and_goes_with_it(
    client: cairn.Client, name: str
) -> None:
    wid = f"{name}-wf"
    scope = VarScope.workflow(wid)
    with pytest.raises(cairn.NotFound):
        await client.update_vars(scope, set={"x": 1})
    with pytest.raises(cairn.NotFound):
        await client.rollback_vars(scope, 1)
    assert await client.vars(scope) is None
    assert await client.var_history(scope) == []

    await client.create_workflow(wid)
    await client.update_vars(scope, set={"x": 1}, expected_version=0, actor="orch")
    await client.update_vars(scope, set={"y": [1, 2]}, delete=["x"], expected_version=1)
    got = await client.vars(scope)
    assert got is not None and (got.version, got.values) == (2, {"y": [1, 2]})
    assert [v.changes for v in await client.var_history(scope)] == [
        {"x": VarChange(1, ABSENT)},
        {"x": VarChange(ABSENT, 1), "y": VarChange([1, 2], ABSENT)},
    ]
    # A namespace's variables of the same name are another set.
    assert await client.vars(VarScope.namespace(wid)) is None

    # Deleting the workflow deletes its variables and their history; a new workflow of the
    # same id starts without any.
    await client.delete_workflow(wid, force=True)
    assert await client.vars(scope) is None
    assert await client.var_history(scope) == []
    with pytest.raises(cairn.NotFound):
        await client.update_vars(scope, set={"x": 1})
    await client.create_workflow(wid)
    assert await client.vars(scope) is None
    wrote = await client.update_vars(scope, set={"x": 2}, expected_version=0)
    assert wrote.version == 1


async def test_retention_forgets_old_versions(client: cairn.Client, name: str) -> None:
    scope = VarScope.namespace(f"{name}-keep")
    for i in range(1, 11):
        await client.update_vars(scope, set={"i": i})
    five = await client.vars(scope, version=5)
    assert five is not None and five.values == {"i": 5} and five.floor == 1
    assert five.keep_versions == 100, "the default retention"

    wrote = await client.update_vars(scope, set={"i": 11}, keep_versions=3)
    assert wrote.version == 11
    now = await client.vars(scope)
    assert now is not None and (now.keep_versions, now.floor) == (3, 9)
    for old in (1, 5, 8):
        assert await client.vars(scope, version=old) is None, old
    nine = await client.vars(scope, version=9)
    assert nine is not None and nine.values == {"i": 9}
    assert [v.version for v in await client.var_history(scope)] == [9, 10, 11]
    with pytest.raises(cairn.FailedPrecondition) as gone:
        await client.rollback_vars(scope, 5)
    assert gone.value.kind == "version_gone"
    assert (await client.vars(scope)) == now, "nothing written"

    # Each new version forgets the oldest kept one.
    await client.update_vars(scope, set={"i": 12})
    assert [v.version for v in await client.var_history(scope)] == [10, 11, 12]
    assert await client.vars(scope, version=9) is None
    rolled = await client.rollback_vars(scope, 10)
    after = await client.vars(scope)
    assert after is not None and (after.version, after.values) == (13, {"i": 10})
    assert rolled.checksum == after.checksum


async def test_fenced_updates_and_rollbacks(client: cairn.Client, name: str) -> None:
    scope = VarScope.namespace(f"{name}-fenced")
    async with client.lock(f"{name}-lock", ttl=10.0) as guard:
        await client.update_vars(scope, set={"a": 1}, fence=guard.fence)
        await client.update_vars(scope, set={"a": 2}, fence=guard.fence)
        await client.rollback_vars(scope, 1, fence=guard.fence)
    # The lock was released: its fence is stale, and nothing is written with it.
    with pytest.raises(cairn.StaleFence):
        await client.update_vars(scope, set={"a": 3}, fence=guard.fence)
    with pytest.raises(cairn.StaleFence):
        await client.rollback_vars(scope, 2, fence=guard.fence)
    now = await client.vars(scope)
    assert now is not None and (now.version, now.values) == (3, {"a": 1})
