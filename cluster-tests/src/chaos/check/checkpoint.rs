//! The checkpoint checker. Every save carries a unique label, so each stored checkpoint is
//! traced back to the save that made it. After healing: every acknowledged save is stored
//! under the id and revision it was acknowledged with, with byte-identical content (loaded
//! back); every stored checkpoint comes from a save that was invoked and not refused, and
//! from only one; ids are `ckpt-<revision>`, listed in id order, and a save that began after
//! another was acknowledged got a higher revision. During the run, a load of a checkpoint
//! whose save was acknowledged before the load began finds it, byte for byte.

use std::collections::HashMap;

use super::Anomaly;
use crate::chaos::history::{CheckpointLoad, CheckpointSave, Outcome};

/// A checkpoint found after healing, as listed and loaded back through the cluster.
#[derive(Clone, Debug)]
pub struct Stored {
    pub workflow: String,
    pub id: String,
    pub revision: u64,
    pub label: String,
    pub raw_size: u64,
    pub checksum: u32,
    /// The payload loaded back, or why it could not be.
    pub payload: Result<Vec<u8>, String>,
}

/// The id the cluster gives the checkpoint saved at `revision`.
pub fn id_at(revision: u64) -> String {
    format!("ckpt-{revision:016}")
}

/// Checks `stored` (every checkpoint of the workload's workflows, each workflow's in listing
/// order) against the saves and the loads of the run.
pub fn check(
    saves: &[CheckpointSave],
    loads: &[CheckpointLoad],
    stored: &[Stored],
) -> Vec<Anomaly> {
    let mut out = Vec::new();
    let by_label: HashMap<(&str, &str), &CheckpointSave> = saves
        .iter()
        .map(|s| ((s.workflow.as_str(), s.label.as_str()), s))
        .collect();
    let mut found: HashMap<(&str, &str), &Stored> = HashMap::new();
    let mut last_id: HashMap<&str, &str> = HashMap::new();
    for s in stored {
        let what = format!("{}/{} ({})", s.workflow, s.id, s.label);
        if s.id != id_at(s.revision) {
            out.push(Anomaly::new(
                "checkpoint-id",
                format!("{what} stored at revision {}", s.revision),
            ));
        }
        if let Some(prev) = last_id.insert(&s.workflow, &s.id)
            && prev >= s.id.as_str()
        {
            out.push(Anomaly::new(
                "checkpoint-order",
                format!("{what} listed after {prev}"),
            ));
        }
        let key = (s.workflow.as_str(), s.label.as_str());
        let Some(save) = by_label.get(&key) else {
            out.push(Anomaly::new(
                "checkpoint-phantom",
                format!("{what}: no client saved it"),
            ));
            continue;
        };
        if save.outcome == Outcome::Fail {
            out.push(Anomaly::new(
                "checkpoint-phantom",
                format!("{what}: its save was refused, yet it is stored"),
            ));
        }
        if let Some(first) = found.insert(key, s) {
            out.push(Anomaly::new(
                "checkpoint-duplicate",
                format!("{what}: one save stored twice (also as {})", first.id),
            ));
        }
        if let Some((id, revision)) = &save.saved
            && (*id != s.id || *revision != s.revision)
        {
            out.push(Anomaly::new(
                "checkpoint-id",
                format!("{what}: acknowledged as {id} at revision {revision}"),
            ));
        }
        let crc = crc32fast::hash(&save.payload);
        if s.raw_size != save.payload.len() as u64 || s.checksum != crc {
            out.push(Anomaly::new(
                "checkpoint-corrupt",
                format!(
                    "{what}: listed with {} bytes, crc {:08x}; saved {} bytes, crc {crc:08x}",
                    s.raw_size,
                    s.checksum,
                    save.payload.len()
                ),
            ));
        }
        match &s.payload {
            Ok(bytes) if *bytes == save.payload => {}
            Ok(bytes) => out.push(Anomaly::new(
                "checkpoint-corrupt",
                format!(
                    "{what}: loaded {} bytes that differ from the {} saved",
                    bytes.len(),
                    save.payload.len()
                ),
            )),
            Err(e) => out.push(Anomaly::new(
                "checkpoint-unreadable",
                format!("{what}: {e}"),
            )),
        }
    }
    for save in saves.iter().filter(|s| s.outcome == Outcome::Ok) {
        if !found.contains_key(&(save.workflow.as_str(), save.label.as_str())) {
            out.push(Anomaly::new(
                "checkpoint-lost",
                format!(
                    "{} ({}) acknowledged as {:?} is not stored",
                    save.workflow, save.label, save.saved
                ),
            ));
        }
    }
    out.extend(real_time_order(saves));
    out.extend(check_loads(saves, loads));
    out
}

/// A save invoked after another was acknowledged must get a higher revision (revisions are
/// the log's order, and a linearizable write takes effect within its call).
fn real_time_order(saves: &[CheckpointSave]) -> Vec<Anomaly> {
    let mut acked: Vec<(u64, u64, &str)> = saves
        .iter()
        .filter_map(|s| Some((s.ret?, s.saved.as_ref()?.1, s.label.as_str())))
        .collect();
    acked.sort_unstable();
    // highest[i]: the highest revision (and its label) among the first i+1 acknowledgements.
    let mut highest: Vec<(u64, &str)> = Vec::with_capacity(acked.len());
    for (_, revision, label) in &acked {
        let best = match highest.last() {
            Some(h) if h.0 >= *revision => *h,
            _ => (*revision, *label),
        };
        highest.push(best);
    }
    let mut out = Vec::new();
    for s in saves {
        let Some((_, revision)) = &s.saved else {
            continue;
        };
        let before = acked.partition_point(|(ret, _, _)| *ret < s.call);
        if let Some((max, label)) = before.checked_sub(1).map(|i| highest[i])
            && max >= *revision
        {
            out.push(Anomaly::new(
                "checkpoint-order",
                format!(
                    "{} began after {label} was acknowledged at revision {max}, yet got {revision}",
                    s.label
                ),
            ));
        }
    }
    out
}

fn check_loads(saves: &[CheckpointSave], loads: &[CheckpointLoad]) -> Vec<Anomaly> {
    let by_id: HashMap<(&str, &str), &CheckpointSave> = saves
        .iter()
        .filter_map(|s| Some(((s.workflow.as_str(), s.saved.as_ref()?.0.as_str()), s)))
        .collect();
    let mut out = Vec::new();
    for l in loads {
        let Some(save) = by_id.get(&(l.workflow.as_str(), l.id.as_str())) else {
            continue;
        };
        // Only loads that began after the save was acknowledged must see it.
        if save.ret.is_none_or(|ret| ret >= l.call) {
            continue;
        }
        let what = format!("{}/{} ({})", l.workflow, l.id, save.label);
        match &l.found {
            Ok(bytes) if *bytes == save.payload => {}
            Ok(_) => out.push(Anomaly::new(
                "checkpoint-corrupt",
                format!("{what}: a load during the run returned other bytes"),
            )),
            Err(e) => out.push(Anomaly::new(
                "checkpoint-lost",
                format!("{what}: a load during the run, after its save was acknowledged: {e}"),
            )),
        }
    }
    out
}
