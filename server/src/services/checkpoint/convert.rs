//! Conversions between the replicated checkpoint records and their protobuf messages.

use cairn_api::v1 as pb;
use cairn_model::checkpoint::{CheckpointKind, CheckpointRecord, Codec, RetentionPolicy};

pub fn kind_from_pb(k: i32) -> Option<CheckpointKind> {
    match pb::CheckpointKind::try_from(k).ok()? {
        pb::CheckpointKind::Auto => Some(CheckpointKind::Auto),
        pb::CheckpointKind::Manual => Some(CheckpointKind::Manual),
        pb::CheckpointKind::ErrorRecovery => Some(CheckpointKind::ErrorRecovery),
    }
}

fn kind_to_pb(k: CheckpointKind) -> pb::CheckpointKind {
    match k {
        CheckpointKind::Auto => pb::CheckpointKind::Auto,
        CheckpointKind::Manual => pb::CheckpointKind::Manual,
        CheckpointKind::ErrorRecovery => pb::CheckpointKind::ErrorRecovery,
    }
}

/// Clients see the encoding of what they load (the seal is the node's, removed on load);
/// `sealed` says whether it is encrypted at rest.
fn codec_to_pb(c: Codec) -> pb::CheckpointCodec {
    match c.unsealed() {
        Codec::Zstd => pb::CheckpointCodec::Zstd,
        _ => pb::CheckpointCodec::Raw,
    }
}

/// A checkpoint's metadata; `with_workflow_metadata` false leaves out the (possibly large)
/// workflow metadata saved with it, for listings.
pub fn checkpoint(r: CheckpointRecord, with_workflow_metadata: bool) -> pb::Checkpoint {
    pb::Checkpoint {
        workflow_id: r.workflow_id,
        id: r.id,
        revision: r.revision,
        created_ms: r.created_ms,
        kind: kind_to_pb(r.kind) as i32,
        label: r.label,
        metadata: r.metadata,
        parent: r.parent,
        delta: r.delta,
        codec: codec_to_pb(r.codec) as i32,
        sealed: r.codec.is_sealed(),
        raw_size: r.raw_size,
        stored_size: r.stored_size,
        checksum: r.checksum,
        chunks: r.chunks,
        workflow_status: r.workflow_status,
        workflow_version: r.workflow_version,
        workflow_metadata: if with_workflow_metadata {
            r.workflow_metadata
        } else {
            String::new()
        },
    }
}

pub fn policy_from_pb(p: pb::RetentionPolicy) -> RetentionPolicy {
    RetentionPolicy {
        keep_last: p.keep_last,
        max_age_ms: p.max_age_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_unknown_is_refused() {
        for k in [
            CheckpointKind::Auto,
            CheckpointKind::Manual,
            CheckpointKind::ErrorRecovery,
        ] {
            assert_eq!(kind_from_pb(kind_to_pb(k) as i32), Some(k));
        }
        assert_eq!(kind_from_pb(99), None);
    }
}
