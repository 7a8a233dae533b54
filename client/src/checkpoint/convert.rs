//! Conversions between the generated checkpoint messages and the client's plain types.
//! A server answer that does not parse is [`Error::Rpc`] with an Internal status.

use cairn_api::v1 as pb;
use serde_json::Value;
use tonic::Status;

use super::types::*;
use crate::error::{Error, Result};

fn bad_reply(what: impl std::fmt::Display) -> Error {
    Error::Rpc(Status::internal(format!("malformed server reply: {what}")))
}

pub(crate) fn kind_to_pb(k: CheckpointKind) -> pb::CheckpointKind {
    match k {
        CheckpointKind::Auto => pb::CheckpointKind::Auto,
        CheckpointKind::Manual => pb::CheckpointKind::Manual,
        CheckpointKind::ErrorRecovery => pb::CheckpointKind::ErrorRecovery,
    }
}

fn kind(k: i32) -> Result<CheckpointKind> {
    match pb::CheckpointKind::try_from(k).map_err(bad_reply)? {
        pb::CheckpointKind::Auto => Ok(CheckpointKind::Auto),
        pb::CheckpointKind::Manual => Ok(CheckpointKind::Manual),
        pb::CheckpointKind::ErrorRecovery => Ok(CheckpointKind::ErrorRecovery),
    }
}

fn codec(c: i32) -> Result<Codec> {
    match pb::CheckpointCodec::try_from(c).map_err(bad_reply)? {
        pb::CheckpointCodec::Raw => Ok(Codec::Raw),
        pb::CheckpointCodec::Zstd => Ok(Codec::Zstd),
    }
}

fn json(field: &str, text: &str) -> Result<Option<Value>> {
    if text.is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| bad_reply(format_args!("{field} is not JSON: {e}")))
}

pub(crate) fn fields(workflow_id: &str, o: &SaveOptions) -> Result<pb::CheckpointFields> {
    let metadata = match &o.metadata {
        Value::Null => String::new(),
        v => serde_json::to_string(v)
            .map_err(|e| Error::InvalidArgument(format!("metadata cannot be serialized: {e}")))?,
    };
    Ok(pb::CheckpointFields {
        workflow_id: workflow_id.to_string(),
        kind: kind_to_pb(o.kind) as i32,
        label: o.label.clone(),
        metadata,
        parent: o.parent.clone(),
        delta: o.delta,
    })
}

pub(crate) fn checkpoint(c: pb::Checkpoint) -> Result<CheckpointInfo> {
    Ok(CheckpointInfo {
        kind: kind(c.kind)?,
        codec: codec(c.codec)?,
        metadata: json("metadata", &c.metadata)?.unwrap_or_else(|| Value::Object(<_>::default())),
        workflow_metadata: json("workflow_metadata", &c.workflow_metadata)?,
        workflow_id: c.workflow_id,
        id: c.id,
        revision: c.revision,
        created_ms: c.created_ms,
        label: c.label,
        parent: c.parent,
        delta: c.delta,
        sealed: c.sealed,
        raw_size: c.raw_size,
        stored_size: c.stored_size,
        checksum: c.checksum,
        chunks: c.chunks,
        workflow_status: c.workflow_status,
        workflow_version: c.workflow_version,
    })
}

pub(crate) fn saved(r: pb::SaveCheckpointResponse) -> SavedCheckpoint {
    SavedCheckpoint {
        id: r.id,
        raw_size: r.raw_size,
        stored_size: r.stored_size,
        revision: r.revision,
    }
}

pub(crate) fn policy(p: RetentionPolicy) -> pb::RetentionPolicy {
    pb::RetentionPolicy {
        keep_last: p.keep_last,
        max_age_ms: p
            .max_age
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn records_convert_and_bad_json_is_a_server_error() {
        let c = pb::Checkpoint {
            workflow_id: "w".into(),
            id: "ckpt-1".into(),
            kind: pb::CheckpointKind::Manual as i32,
            codec: pb::CheckpointCodec::Zstd as i32,
            metadata: r#"{"a":1}"#.into(),
            raw_size: 100,
            stored_size: 25,
            ..Default::default()
        };
        let info = checkpoint(c.clone()).unwrap();
        assert_eq!(info.kind, CheckpointKind::Manual);
        assert_eq!(info.codec, Codec::Zstd);
        assert_eq!(info.metadata["a"], 1);
        assert_eq!(info.workflow_metadata, None);
        assert!((info.compression_ratio() - 4.0).abs() < 1e-9);
        let bad = pb::Checkpoint {
            metadata: "{".into(),
            ..c
        };
        assert!(matches!(checkpoint(bad), Err(Error::Rpc(_))));
    }

    #[test]
    fn save_fields_carry_the_options() {
        let f = fields(
            "w",
            &SaveOptions::new()
                .kind(CheckpointKind::ErrorRecovery)
                .label("step-3")
                .delta_of("ckpt-9"),
        )
        .unwrap();
        assert_eq!(f.kind, pb::CheckpointKind::ErrorRecovery as i32);
        assert_eq!(f.metadata, "");
        assert_eq!(f.parent.as_deref(), Some("ckpt-9"));
        assert!(f.delta);
    }

    #[test]
    fn kind_and_codec_are_the_models() {
        let kind: crate::CheckpointKind = cairn_model::checkpoint::CheckpointKind::Manual;
        let codec: crate::Codec = cairn_model::checkpoint::Codec::Zstd;
        assert_eq!(kind_to_pb(kind), pb::CheckpointKind::Manual);
        assert_eq!(codec, Codec::Zstd);
        assert_eq!(SaveOptions::new().kind, CheckpointKind::Auto);
        let kinds: std::collections::HashSet<CheckpointKind> = [
            CheckpointKind::Auto,
            CheckpointKind::Auto,
            CheckpointKind::Manual,
        ]
        .into();
        assert_eq!(kinds.len(), 2);
    }
}
