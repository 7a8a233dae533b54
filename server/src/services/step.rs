//! The steps service (`Steps.Apply`): a batch of atomic steps, each a workflow change, task
//! upserts, a variable update and a small checkpoint, proposed as one `Command::Steps` entry
//! that applies all or nothing (cairn-storage's `machine/step.rs`). Each part is checked and
//! mapped by its own RPC's code (`workflow::validate`, `workflow::vars`, the checkpoint
//! encoding), so a part means exactly what its RPC means.
//!
//! Who may call: the gateway stamps the union of the parts' permission needs (writers of
//! every workflow or namespace the batch touches), checked here and again at apply.

use std::sync::Arc;

use cairn_api::v1 as pb;
use cairn_api::v1::steps_server::Steps;
use cairn_model::checkpoint::CheckpointReply;
use cairn_model::step::{
    MAX_STEP_CHECKPOINT_BYTES, MAX_STEPS, Step, StepChange, StepPart, StepReply,
};
use cairn_model::workflow::WorkflowReply;
use cairn_model::workflow::limits::RecordLimits;
use cairn_model::{Command, Response};
use cairn_storage::seal::KeyRing;
use tonic::{Request, Status};

use super::checkpoint::{Fields, blocking, checkpoint_fields, encode_save};
use super::coord;
use super::gateway::{Gateway, unexpected};
use super::workflow::{convert, validate, vars};
use crate::config::CheckpointConfig;
use crate::status;

type Reply<T> = Result<tonic::Response<T>, Status>;

/// A step's checkpoint before encoding: its fields and raw payload.
type RawCheckpoint = (Fields, Vec<u8>);

pub struct StepService {
    gateway: Gateway,
    limits: RecordLimits,
    checkpoints: CheckpointConfig,
    keys: Option<Arc<KeyRing>>,
}

impl StepService {
    pub fn new(
        gateway: Gateway,
        limits: RecordLimits,
        checkpoints: CheckpointConfig,
        keys: Option<Arc<KeyRing>>,
    ) -> Self {
        Self {
            gateway,
            limits,
            checkpoints,
            keys,
        }
    }

    /// The largest request: every step with a checkpoint at its limit, plus room for the
    /// workflow parts (bounded by the workflow service's own message limit).
    pub fn message_limit(workflow_message_limit: usize) -> usize {
        (MAX_STEPS * MAX_STEP_CHECKPOINT_BYTES).saturating_add(workflow_message_limit)
    }

    /// Maps step `i` to its command, and its checkpoint's fields and raw payload (encoded
    /// later, with the others, off the runtime).
    fn step(&self, i: usize, s: pb::Step) -> Result<(Step, Option<RawCheckpoint>), Status> {
        use pb::step::Change;
        let step_index = u32::try_from(i).unwrap_or(u32::MAX);
        // A refused field of part `part` (named `field` in the message: `create`, `tasks`...).
        let within = |part: StepPart, field: &'static str| {
            move |e: Status| status::in_step(e, step_index, part, &format!("steps[{i}].{field}"))
        };
        let mut step = Step {
            fence: coord::fence(s.fence).map_err(within(StepPart::Fence, "fence"))?,
            ..Step::default()
        };
        let change = match s.change {
            Some(Change::Create(r)) => {
                own_fields(r.header.is_some(), r.fence.is_some())
                    .map_err(within(StepPart::Change, "create"))?;
                if r.id.is_empty() {
                    return Err(status::invalid(
                        "id: a create inside a step names its workflow",
                    ))
                    .map_err(within(StepPart::Change, "create"));
                }
                let c = validate::create(&self.limits, r)
                    .map_err(within(StepPart::Change, "create"))?;
                Some(StepChange::Create(Box::new(c)))
            }
            Some(Change::Transition(r)) => {
                own_fields(r.header.is_some(), r.fence.is_some())
                    .map_err(within(StepPart::Change, "transition"))?;
                Some(StepChange::Transition(
                    validate::transition(r).map_err(within(StepPart::Change, "transition"))?,
                ))
            }
            Some(Change::Update(r)) => {
                own_fields(r.header.is_some(), r.fence.is_some())
                    .map_err(within(StepPart::Change, "update"))?;
                let u = validate::update(&self.limits, r)
                    .map_err(within(StepPart::Change, "update"))?;
                Some(StepChange::Update(Box::new(u)))
            }
            None => None,
        };
        // The step's workflow: its change's, else its tasks'.
        let mut workflow = match &change {
            Some(StepChange::Create(c)) => c.id.clone().unwrap_or_default(),
            Some(StepChange::Transition(t)) => t.id.clone(),
            Some(StepChange::Update(u)) => u.id.clone(),
            None => String::new(),
        };
        step.change = change;
        if let Some(mut r) = s.tasks {
            own_fields(r.header.is_some(), r.fence.is_some())
                .map_err(within(StepPart::Tasks, "tasks"))?;
            fill(&mut r.workflow_id, &mut workflow);
            let t = validate::upsert_tasks(&self.limits, r)
                .map_err(within(StepPart::Tasks, "tasks"))?;
            step.tasks = Some(Box::new(t));
        }
        if let Some(mut r) = s.vars {
            own_fields(r.header.is_some(), r.fence.is_some())
                .map_err(within(StepPart::Vars, "vars"))?;
            if r.scope.is_none() && !workflow.is_empty() {
                r.scope = Some(pb::VarScope {
                    scope: Some(pb::var_scope::Scope::Workflow(workflow.clone())),
                });
            }
            step.vars = Some(Box::new(
                vars::update(r).map_err(within(StepPart::Vars, "vars"))?,
            ));
        }
        let mut payload = None;
        if let Some(c) = s.checkpoint {
            let mut f = c.fields.unwrap_or_default();
            fill(&mut f.workflow_id, &mut workflow);
            if f.delta {
                return Err(status::invalid(
                    "delta: a step's checkpoint is a full one; save deltas with Checkpoints.Save",
                ))
                .map_err(within(StepPart::Checkpoint, "checkpoint"));
            }
            if c.payload.len() > MAX_STEP_CHECKPOINT_BYTES {
                let e = status::too_large("payload", c.payload.len(), MAX_STEP_CHECKPOINT_BYTES);
                return Err(within(StepPart::Checkpoint, "checkpoint")(e));
            }
            let fields = checkpoint_fields(&self.limits, Some(f))
                .map_err(within(StepPart::Checkpoint, "checkpoint"))?;
            payload = Some((fields, c.payload));
        }
        if step.is_empty() && payload.is_none() {
            return Err(within(StepPart::Change, "step")(status::invalid(
                "has no part: set a change, tasks, vars or a checkpoint",
            )));
        }
        Ok((step, payload))
    }

    /// Maps and checks every step, then encodes their checkpoints off the runtime.
    async fn steps(&self, steps: Vec<pb::Step>) -> Result<Vec<Step>, Status> {
        if steps.is_empty() {
            return Err(status::invalid("steps: give at least one step"));
        }
        if steps.len() > MAX_STEPS {
            return Err(status::invalid(format!(
                "steps: {} steps; the limit is {MAX_STEPS}",
                steps.len()
            )));
        }
        let mut out = Vec::with_capacity(steps.len());
        let mut payloads = Vec::new();
        for (i, s) in steps.into_iter().enumerate() {
            let (step, payload) = self.step(i, s)?;
            if let Some(p) = payload {
                payloads.push((i, p));
            }
            out.push(step);
        }
        if !payloads.is_empty() {
            let (config, keys) = (self.checkpoints, self.keys.clone());
            let saves = blocking(move || {
                payloads
                    .into_iter()
                    .map(|(i, (fields, payload))| {
                        (i, encode_save(&config, keys.as_deref(), &fields, payload))
                    })
                    .collect::<Vec<_>>()
            })
            .await?;
            for (i, save) in saves {
                out[i].checkpoint = Some(Box::new(save));
            }
        }
        Ok(out)
    }
}

#[tonic::async_trait]
impl Steps for StepService {
    async fn apply(&self, req: Request<pb::ApplyStepsRequest>) -> Reply<pb::ApplyStepsResponse> {
        let r = req.into_inner();
        let steps = self.steps(r.steps).await?;
        match self
            .gateway
            .propose(r.header, Command::Steps(steps))
            .await?
        {
            Response::Steps { revision, replies } => {
                let results = replies
                    .into_iter()
                    .map(|reply| result_pb(reply, revision))
                    .collect::<Result<_, _>>()?;
                Ok(self
                    .gateway
                    .reply(pb::ApplyStepsResponse { results, revision }))
            }
            other => Err(unexpected(other).into()),
        }
    }
}

fn result_pb(reply: StepReply, revision: u64) -> Result<pb::StepResult, Status> {
    let mut out = pb::StepResult::default();
    match reply.change {
        Some(WorkflowReply::Workflow { workflow, created }) => {
            out.workflow = Some(convert::workflow_ref(workflow));
            out.created = created;
        }
        None => {}
        Some(other) => return Err(odd(other)),
    }
    match reply.tasks {
        Some(WorkflowReply::Tasks { tasks, .. }) => {
            out.tasks = tasks.into_iter().map(convert::task_ref).collect();
        }
        None => {}
        Some(other) => return Err(odd(other)),
    }
    match reply.vars {
        Some(WorkflowReply::Vars { version, checksum }) => {
            out.vars = Some(pb::UpdateVarsResponse {
                version,
                checksum,
                revision,
            });
        }
        None => {}
        Some(other) => return Err(odd(other)),
    }
    match reply.checkpoint {
        Some(CheckpointReply::Saved {
            id,
            raw_size,
            stored_size,
        }) => {
            out.checkpoint = Some(pb::SaveCheckpointResponse {
                id,
                raw_size,
                stored_size,
                revision,
            });
        }
        None => {}
        Some(other) => return Err(odd(other)),
    }
    Ok(out)
}

fn odd(r: impl std::fmt::Debug) -> Status {
    status::internal(format!("unexpected step reply: {r:?}"))
}

/// A part's own `header` and `fence` are the batch's and the step's to carry.
fn own_fields(header: bool, fence: bool) -> Result<(), Status> {
    match (header, fence) {
        (true, _) => Err(status::invalid(
            "header: set it on ApplyStepsRequest, not on a part",
        )),
        (_, true) => Err(status::invalid("fence: set it on the Step, not on a part")),
        _ => Ok(()),
    }
}

/// An empty workflow id is the step's; the first part that names one names the step's.
fn fill(id: &mut String, step_workflow: &mut String) {
    if id.is_empty() {
        id.clone_from(step_workflow);
    } else if step_workflow.is_empty() {
        step_workflow.clone_from(id);
    }
}
