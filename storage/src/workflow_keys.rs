//! Key layouts of the workflow spaces. Names, ids, namespaces and statuses are validated to
//! `[A-Za-z0-9_.:/-]`, so a 0x00 separator sorts before every character they may hold: the
//! keys of one prefix form one contiguous range, and numbers are big-endian so ranges sort
//! by them.

/// Separator between variable-length parts.
const SEP: u8 = 0;

/// Index families of the in-memory `WorkflowIndex` (the first key byte).
pub(crate) mod tag {
    /// (namespace, created_ms, id): a namespace by creation time.
    pub(crate) const CREATED: u8 = b'C';
    /// (namespace, updated_ms, id): a namespace by last change.
    pub(crate) const UPDATED: u8 = b'U';
    /// (namespace, status, created_ms, id): one status of a namespace by creation time.
    pub(crate) const STATUS: u8 = b'S';
    /// (finished_ms, id): terminal workflows by finish time, for retention.
    pub(crate) const FINISHED: u8 = b'F';
}

fn join(parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(SEP);
        }
        k.extend_from_slice(p);
    }
    k
}

/// `Definitions`: name, SEP, version. The bare `name, SEP` key holds the latest version.
pub(crate) fn definition(name: &str, version: u32) -> Vec<u8> {
    join(&[name.as_bytes(), &version.to_be_bytes()])
}

pub(crate) fn definition_latest(name: &str) -> Vec<u8> {
    join(&[name.as_bytes(), b""])
}

/// `History`: workflow id, SEP, version.
pub(crate) fn history(id: &str, version: u64) -> Vec<u8> {
    join(&[id.as_bytes(), &version.to_be_bytes()])
}

/// `Tasks`: workflow id, SEP, task id.
pub(crate) fn task(workflow_id: &str, task_id: &str) -> Vec<u8> {
    join(&[workflow_id.as_bytes(), task_id.as_bytes()])
}

/// `Checkpoints`: workflow id, SEP, checkpoint id.
pub(crate) fn checkpoint(workflow_id: &str, id: &str) -> Vec<u8> {
    join(&[workflow_id.as_bytes(), id.as_bytes()])
}

/// `CheckpointData`: blob id, SEP, chunk index.
pub(crate) fn chunk(blob_id: &str, index: u32) -> Vec<u8> {
    join(&[blob_id.as_bytes(), &index.to_be_bytes()])
}

/// `CheckpointDirs` key of a namespace's default retention policy. Workflow ids never start
/// with 0x00, so it cannot collide with a workflow's directory.
pub(crate) fn namespace_retention(namespace: &str) -> Vec<u8> {
    let mut k = vec![SEP];
    k.extend_from_slice(namespace.as_bytes());
    k
}

/// Prefix of every key of a workflow in `History`, `Tasks` or `Checkpoints`.
pub(crate) fn children_prefix(id: &str) -> Vec<u8> {
    join(&[id.as_bytes(), b""])
}

fn tagged(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = vec![tag];
    k.extend_from_slice(&join(parts));
    k
}

pub(crate) fn by_created(namespace: &str, created_ms: u64, id: &str) -> Vec<u8> {
    tagged(
        tag::CREATED,
        &[
            namespace.as_bytes(),
            &created_ms.to_be_bytes(),
            id.as_bytes(),
        ],
    )
}

pub(crate) fn by_updated(namespace: &str, updated_ms: u64, id: &str) -> Vec<u8> {
    tagged(
        tag::UPDATED,
        &[
            namespace.as_bytes(),
            &updated_ms.to_be_bytes(),
            id.as_bytes(),
        ],
    )
}

pub(crate) fn by_status(namespace: &str, status: &str, created_ms: u64, id: &str) -> Vec<u8> {
    tagged(
        tag::STATUS,
        &[
            namespace.as_bytes(),
            status.as_bytes(),
            &created_ms.to_be_bytes(),
            id.as_bytes(),
        ],
    )
}

pub(crate) fn by_finished(finished_ms: u64, id: &str) -> Vec<u8> {
    tagged(tag::FINISHED, &[&finished_ms.to_be_bytes(), id.as_bytes()])
}

/// Prefix of an index family within a namespace (and status, for `STATUS`).
pub(crate) fn index_prefix(tag: u8, namespace: &str, status: Option<&str>) -> Vec<u8> {
    match status {
        Some(s) => tagged(tag, &[namespace.as_bytes(), s.as_bytes(), b""]),
        None => tagged(tag, &[namespace.as_bytes(), b""]),
    }
}

pub(crate) fn finished_prefix() -> Vec<u8> {
    vec![tag::FINISHED]
}

/// The (time, id) tail of an index key under `prefix`.
pub(crate) fn split_tail<'k>(key: &'k [u8], prefix: &[u8]) -> Option<(u64, &'k str)> {
    let tail = key.strip_prefix(prefix)?;
    let time = u64::from_be_bytes(tail.get(..8)?.try_into().ok()?);
    if tail.get(8) != Some(&SEP) {
        return None;
    }
    let id = std::str::from_utf8(tail.get(9..)?).ok()?;
    Some((time, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keys_sort_by_time_then_id_within_their_prefix() {
        let a = by_status("ns", "RUNNING", 5, "zz");
        let b = by_status("ns", "RUNNING", 6, "a");
        let other_status = by_status("ns", "RUNNINGX", 1, "a");
        let prefix = index_prefix(tag::STATUS, "ns", Some("RUNNING"));
        assert!(a < b);
        assert!(a.starts_with(&prefix) && b.starts_with(&prefix));
        assert!(!other_status.starts_with(&prefix));
        assert_eq!(Some((6, "a")), split_tail(&b, &prefix));
        // A namespace that extends another is a different range.
        assert!(!by_created("ns2", 1, "x").starts_with(&index_prefix(tag::CREATED, "ns", None)));
    }

    #[test]
    fn children_prefix_covers_exactly_one_workflow() {
        let p = children_prefix("wf");
        assert!(history("wf", 3).starts_with(&p));
        assert!(task("wf", "t1").starts_with(&p));
        assert!(!task("wf2", "t1").starts_with(&p));
        assert!(definition("d", 2) > definition_latest("d"));
    }
}
