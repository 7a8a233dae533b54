"""The KV API against a real 3-node cluster."""

from __future__ import annotations

import cairn


async def test_put_get_delete(client: cairn.Client, name: str) -> None:
    key = f"{name}/greeting"
    assert await client.get(key) is None
    rev = await client.put(key, "hello")
    kv = await client.get(key)
    assert kv is not None
    assert (kv.key, kv.value, kv.mod_revision, kv.create_revision, kv.version) == (
        key.encode(),
        b"hello",
        rev,
        rev,
        1,
    )
    rev2 = await client.put(key, b"\x00\xffbytes")
    assert rev2 > rev
    # A serializable read is served locally by whichever node answers: possibly stale.
    stale = await client.get(key, serializable=True)
    assert stale is None or stale.key == key.encode()
    kv = await client.get(key)
    assert kv is not None and (kv.value, kv.version, kv.create_revision) == (
        b"\x00\xffbytes",
        2,
        rev,
    )
    d = await client.delete(key)
    assert d.deleted and d.revision > rev2
    assert await client.get(key) is None
    again = await client.delete(key)
    assert not again.deleted


async def test_compare_and_set_writes_nothing_on_mismatch(client: cairn.Client, name: str) -> None:
    key = f"{name}/cas"
    rev = await client.put(key, "v1", expected_revision=0)
    try:
        await client.put(key, "v2", expected_revision=0)
        raise AssertionError("a create-only put over an existing key succeeded")
    except cairn.RevisionMismatch as e:
        assert e.current == rev
    try:
        await client.put(key, "v2", expected_revision=rev + 1000)
        raise AssertionError("a stale compare-and-set succeeded")
    except cairn.RevisionMismatch as e:
        assert e.current == rev
    kv = await client.get(key)
    assert kv is not None and kv.value == b"v1" and kv.version == 1
    rev2 = await client.put(key, "v2", expected_revision=rev)
    try:
        await client.delete(key, expected_revision=rev)
        raise AssertionError("a stale delete succeeded")
    except cairn.RevisionMismatch as e:
        assert e.current == rev2
    assert (await client.delete(key, expected_revision=rev2)).deleted


async def test_oversize_value_is_refused_and_nothing_written(
    client: cairn.Client, name: str
) -> None:
    key = f"{name}/big"
    try:
        await client.put(key, b"x" * (1024 * 1024 + 1))
        raise AssertionError("an oversize value was accepted")
    except cairn.InvalidArgument as e:
        assert "limit" in e.message
    assert await client.get(key) is None
    try:
        await client.put("", "v")
        raise AssertionError("an empty key was accepted")
    except cairn.InvalidArgument:
        pass


async def test_stale_fence_is_refused_and_nothing_written(client: cairn.Client, name: str) -> None:
    key = f"{name}/fenced"
    fence = cairn.Fence.for_lock(f"{name}-lock", 5)
    try:
        await client.put(key, "v", fence=fence)
        raise AssertionError("a write with a fence nobody holds succeeded")
    except cairn.StaleFence as e:
        assert e.current == 0
    assert await client.get(key) is None


async def test_range_pages_and_scan(client: cairn.Client, name: str) -> None:
    prefix = f"{name}/r/"
    keys = [f"{prefix}{i:03d}" for i in range(25)]
    for k in keys:
        await client.put(k, k.upper())
    await client.put(f"{name}/s/outside", "x")
    page = await client.range(prefix, limit=10)
    assert [kv.key.decode() for kv in page.kvs] == keys[:10]
    assert page.next_key == keys[9].encode()
    page2 = await client.range(prefix, start_after=page.next_key or b"", limit=10)
    assert [kv.key.decode() for kv in page2.kvs] == keys[10:20]
    last = await client.range(prefix, start_after=page2.next_key or b"", limit=10)
    assert [kv.key.decode() for kv in last.kvs] == keys[20:] and last.next_key is None
    scanned = [kv async for kv in client.scan(prefix, page_size=7)]
    assert [kv.key.decode() for kv in scanned] == keys
    assert all(kv.value == kv.key.upper() for kv in scanned)
    assert [kv.key.decode() for kv in await client.range_all(prefix)] == keys
