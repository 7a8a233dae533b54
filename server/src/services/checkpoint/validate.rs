//! Input checks of the checkpoint service, run before anything is proposed so bad input never
//! costs a log entry; the state machine re-checks whatever depends on state (the workflow,
//! the parent, the upload). They run on the request's fields as it is mapped, and on the raw
//! payload before it is compressed; the commands then meet the same checks again in the
//! gateway (`Request::check_input`), as a forwarded write does on the leader.

use cairn_api::v1 as pb;
use cairn_model::checkpoint::{
    CheckpointCommand, CheckpointError, CheckpointKind, Codec, RetentionPolicy, SaveCheckpoint,
};
use cairn_model::input::{MAX_REASON, MAX_SHORT_TEXT};
use cairn_model::workflow::WorkflowError;
use cairn_model::workflow::command::DEFAULT_NAMESPACE;
use cairn_model::workflow::limits::RecordLimits;
use tonic::Status;

use super::convert;
use crate::error::Error;
use crate::services::fields::{id, text};
use crate::status;

/// What a checkpoint is saved with, checked; the payload-dependent fields are filled in once
/// the payload has been encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    pub workflow_id: String,
    pub kind: CheckpointKind,
    pub label: String,
    /// Canonical JSON object text.
    pub metadata: String,
    pub parent: Option<String>,
    pub delta: bool,
}

impl Fields {
    pub fn to_save(
        &self,
        codec: Codec,
        raw_size: u64,
        checksum: u32,
        payload: Vec<u8>,
    ) -> SaveCheckpoint {
        SaveCheckpoint {
            workflow_id: self.workflow_id.clone(),
            kind: self.kind,
            label: self.label.clone(),
            metadata: self.metadata.clone(),
            parent: self.parent.clone(),
            delta: self.delta,
            codec,
            raw_size,
            checksum,
            payload,
        }
    }
}

/// `value` must be an identifier; the message names the field.
pub fn fields(limits: &RecordLimits, f: Option<pb::CheckpointFields>) -> Result<Fields, Status> {
    let f = f.ok_or_else(|| status::invalid("fields are required"))?;
    id("workflow_id", &f.workflow_id)?;
    let kind = convert::kind_from_pb(f.kind)
        .ok_or_else(|| status::invalid(format!("kind: unknown checkpoint kind {}", f.kind)))?;
    text("label", &f.label, MAX_SHORT_TEXT)?;
    if let Some(p) = &f.parent {
        id("parent", p)?;
    }
    if f.delta && f.parent.is_none() {
        return Err(status::checkpoint_error(
            CheckpointError::DeltaWithoutParent,
        ));
    }
    // Stored canonical (keys sorted, no whitespace), like workflow metadata.
    let metadata = if f.metadata.is_empty() {
        "{}".to_string()
    } else {
        let value = limits
            .parse_metadata(f.metadata.as_bytes())
            .map_err(|e| status::workflow_error(WorkflowError::Limit(e)))?;
        serde_json::to_string(&value).map_err(status::internal)?
    };
    Ok(Fields {
        workflow_id: f.workflow_id,
        kind,
        label: f.label,
        metadata,
        parent: f.parent,
        delta: f.delta,
    })
}

/// A payload of `size` bytes must fit the configured limit.
pub fn size(size: u64, max: u64) -> Result<(), Status> {
    if size > max {
        let as_usize = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        return Err(status::too_large(
            "checkpoint payload",
            as_usize(size),
            as_usize(max),
        ));
    }
    Ok(())
}

/// A delta is a JSON merge patch: any JSON value parses, anything else cannot materialize.
pub fn delta_payload(payload: &[u8]) -> Result<(), Status> {
    serde_json::from_slice::<serde::de::IgnoredAny>(payload)
        .map(|_| ())
        .map_err(|e| Error::DeltaNotJson(e.to_string()).into())
}

pub fn rollback(r: pb::RollbackWorkflowRequest) -> Result<CheckpointCommand, Status> {
    id("workflow_id", &r.workflow_id)?;
    id("checkpoint_id", &r.checkpoint_id)?;
    text("actor", &r.actor, MAX_SHORT_TEXT)?;
    text("reason", &r.reason, MAX_REASON)?;
    Ok(CheckpointCommand::Rollback {
        workflow_id: r.workflow_id,
        checkpoint_id: r.checkpoint_id,
        expected_version: r.expected_version,
        force: r.force,
        actor: r.actor,
        reason: r.reason,
    })
}

pub fn retention(r: pb::SetRetentionRequest) -> Result<CheckpointCommand, Status> {
    use pb::set_retention_request::Scope;
    let policy: Option<RetentionPolicy> = r.policy.map(convert::policy_from_pb);
    match r.scope {
        Some(Scope::WorkflowId(workflow_id)) => {
            id("workflow_id", &workflow_id)?;
            Ok(CheckpointCommand::SetRetention {
                workflow_id,
                policy,
            })
        }
        Some(Scope::Namespace(ns)) => {
            let namespace = if ns.is_empty() {
                DEFAULT_NAMESPACE.to_string()
            } else {
                id("namespace", &ns)?;
                ns
            };
            Ok(CheckpointCommand::SetNamespaceRetention { namespace, policy })
        }
        None => Err(status::invalid(
            "scope: a workflow_id or a namespace is required",
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use cairn_api::meta::kind;
    use tonic::Code;

    use super::*;

    fn f() -> pb::CheckpointFields {
        pb::CheckpointFields {
            workflow_id: "wf-1".into(),
            metadata: r#"{ "b": 1, "a": 2 }"#.into(),
            ..Default::default()
        }
    }

    #[test]
    fn fields_are_checked_and_metadata_canonical() {
        let limits = RecordLimits::default();
        let ok = fields(&limits, Some(f())).unwrap();
        assert_eq!(ok.metadata, r#"{"a":2,"b":1}"#);
        assert_eq!(ok.kind, CheckpointKind::Auto);

        let bad_id = pb::CheckpointFields {
            workflow_id: "a b".into(),
            ..f()
        };
        assert_eq!(
            fields(&limits, Some(bad_id)).unwrap_err().code(),
            Code::InvalidArgument
        );
        let not_object = pb::CheckpointFields {
            metadata: "[1]".into(),
            ..f()
        };
        assert_eq!(
            fields(&limits, Some(not_object)).unwrap_err().code(),
            Code::InvalidArgument
        );
        let orphan_delta = pb::CheckpointFields { delta: true, ..f() };
        let s = fields(&limits, Some(orphan_delta)).unwrap_err();
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(
            s.metadata().get(cairn_api::meta::ERROR_KIND).unwrap(),
            kind::DELTA_WITHOUT_PARENT
        );
        let bad_kind = pb::CheckpointFields { kind: 7, ..f() };
        assert!(fields(&limits, Some(bad_kind)).is_err());
        assert!(fields(&limits, None).is_err());
    }

    #[test]
    fn size_limit_names_both_sizes() {
        assert!(size(10, 10).is_ok());
        let s = size(11, 10).unwrap_err();
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(
            s.message().contains("11") && s.message().contains("10"),
            "{}",
            s.message()
        );
    }

    #[test]
    fn deltas_must_be_json() {
        assert!(delta_payload(br#"{"a":null}"#).is_ok());
        assert!(delta_payload(b"7").is_ok());
        assert_eq!(
            delta_payload(b"{nope").unwrap_err().code(),
            Code::InvalidArgument
        );
    }

    #[test]
    fn retention_needs_a_scope_and_defaults_the_namespace() {
        let r = pb::SetRetentionRequest {
            scope: Some(pb::set_retention_request::Scope::Namespace(String::new())),
            policy: Some(pb::RetentionPolicy {
                keep_last: Some(3),
                max_age_ms: None,
            }),
            ..Default::default()
        };
        match retention(r).unwrap() {
            CheckpointCommand::SetNamespaceRetention { namespace, policy } => {
                assert_eq!(namespace, DEFAULT_NAMESPACE);
                assert_eq!(policy.unwrap().keep_last, Some(3));
            }
            other => panic!("{other:?}"),
        }
        assert!(retention(pb::SetRetentionRequest::default()).is_err());
    }
}
