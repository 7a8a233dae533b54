//! Status mapping of checkpoint rejections and load failures (a module of `status`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use cairn_api::meta::{self, kind};
use cairn_model::checkpoint::CheckpointError;
use cairn_model::workflow::WorkflowError;
use cairn_storage::CheckpointReadError;
use tonic::Code;

use super::{checkpoint_error, checkpoint_read_error};

fn md(s: &tonic::Status, key: &str) -> Option<String> {
    s.metadata()
        .get(key)
        .map(|v| v.to_str().unwrap().to_string())
}

#[test]
fn machine_rejections_have_codes_and_kinds() {
    let cases = [
        (
            CheckpointError::NotFound {
                workflow_id: "w".into(),
                id: "c".into(),
            },
            Code::NotFound,
            kind::NOT_FOUND,
        ),
        (
            CheckpointError::UnknownParent {
                workflow_id: "w".into(),
                parent: "p".into(),
            },
            Code::InvalidArgument,
            kind::UNKNOWN_PARENT,
        ),
        (
            CheckpointError::DeltaWithoutParent,
            Code::InvalidArgument,
            kind::DELTA_WITHOUT_PARENT,
        ),
        (
            CheckpointError::UnknownUpload("u".into()),
            Code::FailedPrecondition,
            kind::UNKNOWN_UPLOAD,
        ),
        (
            CheckpointError::UploadOfOtherWorkflow {
                upload_id: "u".into(),
                owner: "x".into(),
            },
            Code::InvalidArgument,
            kind::UPLOAD_REJECTED,
        ),
        (
            CheckpointError::ChunkOutOfOrder {
                upload_id: "u".into(),
                expected: 1,
                got: 3,
            },
            Code::FailedPrecondition,
            kind::UPLOAD_REJECTED,
        ),
        (
            CheckpointError::MissingChunks {
                upload_id: "u".into(),
                expected: 4,
                have: 3,
            },
            Code::FailedPrecondition,
            kind::UPLOAD_REJECTED,
        ),
        (
            CheckpointError::Workflow(WorkflowError::NotFound("w".into())),
            Code::NotFound,
            kind::NOT_FOUND,
        ),
    ];
    for (e, code, k) in cases {
        let msg = e.to_string();
        let s = checkpoint_error(e);
        assert_eq!(s.code(), code, "{msg}");
        assert_eq!(md(&s, meta::ERROR_KIND).as_deref(), Some(k), "{msg}");
        assert_eq!(s.message(), msg);
    }
}

#[test]
fn integrity_failure_is_data_loss_naming_the_checkpoint() {
    let s = checkpoint_read_error(CheckpointReadError::Integrity {
        workflow_id: "wf-1".into(),
        id: "ckpt-0000000000000007".into(),
        reason: "checksum".into(),
    });
    assert_eq!(s.code(), Code::DataLoss);
    assert_eq!(md(&s, meta::ERROR_KIND).as_deref(), Some(kind::INTEGRITY));
    assert_eq!(
        md(&s, meta::CHECKPOINT).as_deref(),
        Some("wf-1/ckpt-0000000000000007")
    );
    assert!(s.message().contains("ckpt-0000000000000007"));

    let s = checkpoint_read_error(CheckpointReadError::NotMaterializable {
        workflow_id: "w".into(),
        id: "c".into(),
        reason: "base is not JSON".into(),
    });
    assert_eq!(s.code(), Code::FailedPrecondition);
    assert_eq!(
        md(&s, meta::ERROR_KIND).as_deref(),
        Some(kind::NOT_MATERIALIZABLE)
    );
    let s = checkpoint_read_error(CheckpointReadError::NotFound {
        workflow_id: "w".into(),
        id: "c".into(),
    });
    assert_eq!(s.code(), Code::NotFound);
}
