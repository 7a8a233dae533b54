//! Atomic steps: [`Client::apply_steps`] sends a batch of [`Step`]s (a workflow change, task
//! upserts, a variable update and a small checkpoint each) that the cluster applies all or
//! nothing at one revision. A refused part refuses the batch with [`Error::Step`], which
//! names the step and the part and holds the part's own typed error.

use cairn_api::v1 as pb;
use cairn_api::v1::steps_client::StepsClient;
use tonic::transport::Channel;

use super::convert::task_spec_to_pb;
use super::vars::vars_request;
use super::{
    CreateWorkflow, StepResult, StepsApplied, Target, TaskSpec, UpdateWorkflow, VarScope,
    VarUpdate, create_request, transition_request, update_request,
};
use crate::checkpoint::SaveOptions;
use crate::checkpoint::convert::fields;
use crate::client::{Client, MAX_RESPONSE_BYTES};
use crate::coord::Fence;
use crate::error::{Error, Result};
use crate::pending::{WriteOutcome, mismatched_reply};
use crate::write_op::WriteOp;

/// Most steps in one batch, and the largest checkpoint payload of a step (the server's).
pub use cairn_model::step::{MAX_STEP_CHECKPOINT_BYTES, MAX_STEPS};

/// The workflow change of a step.
#[derive(Debug, Clone, PartialEq)]
enum Change {
    Create(CreateWorkflow),
    Transition {
        target: Target,
        expected_version: Option<u64>,
        actor: String,
        reason: String,
    },
    Update(UpdateWorkflow),
}

/// One step of workflow `workflow_id`: at most one change (create, transition or update),
/// then task upserts, a variable update and a checkpoint, applied in that order, each
/// seeing the ones before (the checkpoint records the status the change set).
///
/// ```no_run
/// # async fn demo(client: cairn_client::Client) -> cairn_client::Result<()> {
/// use cairn_client::{Step, Target, TaskSpec, VarUpdate, SaveOptions, serde_json::json};
/// let step = Step::new("job-42")
///     .transition(Target::status("RUNNING"), Some(3))
///     .tasks([TaskSpec::new("fetch")])
///     .vars(VarUpdate::new().set("stage", json!("fetch")))
///     .checkpoint(br#"{"cursor":0}"#.to_vec(), SaveOptions::new().label("start"));
/// let result = client.step(step).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    workflow_id: String,
    change: Option<Change>,
    tasks: Vec<TaskSpec>,
    vars: Option<(Option<VarScope>, VarUpdate)>,
    checkpoint: Option<(Vec<u8>, SaveOptions)>,
    fence: Option<Fence>,
}

impl Step {
    pub fn new(workflow_id: impl Into<String>) -> Self {
        Self {
            workflow_id: workflow_id.into(),
            change: None,
            tasks: Vec::new(),
            vars: None,
            checkpoint: None,
            fence: None,
        }
    }

    /// Create the workflow (its id is the step's; `new.id` is ignored).
    pub fn create(mut self, new: CreateWorkflow) -> Self {
        self.change = Some(Change::Create(new));
        self
    }

    /// Move the workflow to `target` (only at `expected_version`, if given).
    pub fn transition(mut self, target: Target, expected_version: Option<u64>) -> Self {
        self.change = Some(Change::Transition {
            target,
            expected_version,
            actor: String::new(),
            reason: String::new(),
        });
        self
    }

    /// Who made the transition and why (recorded in the history).
    pub fn because(mut self, actor: impl Into<String>, reason: impl Into<String>) -> Self {
        if let Some(Change::Transition {
            actor: a,
            reason: r,
            ..
        }) = &mut self.change
        {
            *a = actor.into();
            *r = reason.into();
        }
        self
    }

    /// Change the workflow's metadata, labels or fields.
    pub fn update(mut self, update: UpdateWorkflow) -> Self {
        self.change = Some(Change::Update(update));
        self
    }

    /// Create or change these tasks of the workflow.
    pub fn tasks(mut self, tasks: impl IntoIterator<Item = TaskSpec>) -> Self {
        self.tasks.extend(tasks);
        self
    }

    /// A versioned update of the workflow's variables.
    pub fn vars(mut self, update: VarUpdate) -> Self {
        self.vars = Some((None, update));
        self
    }

    /// A versioned update of another scope's variables (a namespace's, say).
    pub fn vars_of(mut self, scope: VarScope, update: VarUpdate) -> Self {
        self.vars = Some((Some(scope), update));
        self
    }

    /// Save a full checkpoint of the workflow (at most [`MAX_STEP_CHECKPOINT_BYTES`]; larger
    /// ones and deltas go through [`Client::save_checkpoint`]).
    pub fn checkpoint(mut self, payload: impl Into<Vec<u8>>, options: SaveOptions) -> Self {
        self.checkpoint = Some((payload.into(), options));
        self
    }

    /// Apply the step only while `fence` (a lock token, an election term, an ownership
    /// epoch) is current.
    pub fn fenced(mut self, fence: &Fence) -> Self {
        self.fence = Some(fence.clone());
        self
    }

    fn into_pb(self) -> Result<pb::Step> {
        use pb::step::Change as PbChange;
        let id = self.workflow_id;
        let change = match self.change {
            Some(Change::Create(mut new)) => {
                new.id = Some(id.clone());
                Some(PbChange::Create(create_request(new)?))
            }
            Some(Change::Transition {
                target,
                expected_version,
                actor,
                reason,
            }) => Some(PbChange::Transition(transition_request(
                &id,
                target,
                expected_version,
                &actor,
                &reason,
            ))),
            Some(Change::Update(u)) => Some(PbChange::Update(update_request(&id, u)?)),
            None => None,
        };
        let tasks = if self.tasks.is_empty() {
            None
        } else {
            Some(pb::UpsertTasksRequest {
                header: None,
                workflow_id: id.clone(),
                tasks: self
                    .tasks
                    .into_iter()
                    .map(task_spec_to_pb)
                    .collect::<Result<_>>()?,
                fence: None,
            })
        };
        let vars = match self.vars {
            Some((scope, update)) => Some(vars_request(
                Some(&scope.unwrap_or(VarScope::Workflow(id.clone()))),
                update,
            )?),
            None => None,
        };
        let checkpoint = match self.checkpoint {
            Some((payload, options)) => {
                if payload.len() > MAX_STEP_CHECKPOINT_BYTES {
                    return Err(Error::InvalidArgument(format!(
                        "a step's checkpoint is {} bytes; the limit is \
                         {MAX_STEP_CHECKPOINT_BYTES} (use save_checkpoint)",
                        payload.len()
                    )));
                }
                Some(pb::StepCheckpoint {
                    fields: Some(fields(&id, &options)?),
                    payload,
                })
            }
            None => None,
        };
        Ok(pb::Step {
            change,
            tasks,
            vars,
            checkpoint,
            fence: self.fence.as_ref().map(Fence::to_pb),
        })
    }
}

impl Client {
    pub(crate) fn steps(channel: Channel) -> StepsClient<Channel> {
        StepsClient::new(channel).max_decoding_message_size(MAX_RESPONSE_BYTES)
    }

    /// Applies `steps` (1 to [`MAX_STEPS`], of any workflows) all or nothing, at one
    /// revision. A refused part refuses the whole batch with [`Error::Step`] (its step, its
    /// part, and the part's own error: [`Error::IllegalTransition`],
    /// [`Error::VersionConflict`], [`Error::StaleFence`], ...); nothing is written then. A
    /// retry with the same idempotency key applies the batch once.
    pub async fn apply_steps(&self, steps: impl IntoIterator<Item = Step>) -> Result<StepsApplied> {
        let steps = steps
            .into_iter()
            .map(Step::into_pb)
            .collect::<Result<Vec<_>>>()?;
        if steps.is_empty() || steps.len() > MAX_STEPS {
            return Err(Error::InvalidArgument(format!(
                "{} steps; give 1 to {MAX_STEPS}",
                steps.len()
            )));
        }
        let msg = pb::ApplyStepsRequest {
            header: Some(self.next_header()),
            steps,
        };
        match self.send_write(WriteOp::ApplySteps(msg)).await? {
            WriteOutcome::Steps(s) => Ok(s),
            _ => Err(mismatched_reply()),
        }
    }

    /// One step: [`Client::apply_steps`] of a batch of one.
    pub async fn step(&self, step: Step) -> Result<StepResult> {
        let mut applied = self.apply_steps([step]).await?;
        applied.results.pop().ok_or_else(mismatched_reply)
    }
}
