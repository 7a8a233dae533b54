//! Alarms at apply: the standing set (one record in meta), raised and cleared by
//! `Command::Alarm`, and the hold a NOSPACE alarm puts on writes that can grow the state
//! (`Command::grows`, in cairn-model's alarm module).

use cairn_model::alarm::{Alarm, AlarmCommand, AlarmKind};
use cairn_model::command::{Command, CommandError, Response};

use super::batch::{BatchCtx, TxResult, encode, get};
use crate::keyspace::{Space, meta_key};

fn standing(ctx: &BatchCtx<'_>) -> TxResult<Vec<Alarm>> {
    Ok(get(ctx, Space::Meta, meta_key::ALARMS)?.unwrap_or_default())
}

pub(super) fn apply(ctx: &BatchCtx<'_>, revision: u64, cmd: &AlarmCommand) -> TxResult<Response> {
    let mut alarms = standing(ctx)?;
    let changed = match cmd {
        AlarmCommand::Activate(a) => match alarms.binary_search(a) {
            Ok(_) => false,
            Err(at) => {
                alarms.insert(at, *a);
                true
            }
        },
        AlarmCommand::Deactivate(a) => match alarms.binary_search(a) {
            Ok(at) => {
                alarms.remove(at);
                true
            }
            Err(_) => false,
        },
    };
    if changed {
        let meta = ctx.tx.tree(Space::Meta);
        if alarms.is_empty() {
            meta.remove(meta_key::ALARMS)?;
        } else {
            meta.insert(meta_key::ALARMS, encode(&alarms)?)?;
        }
    }
    Ok(Response::Empty { revision })
}

/// The refusal for `command` if a NOSPACE alarm stands and it could grow the state.
pub(super) fn check(ctx: &BatchCtx<'_>, command: &Command) -> TxResult<Option<CommandError>> {
    if !command.grows() {
        return Ok(None);
    }
    let no_space = standing(ctx)?.iter().any(|a| a.kind == AlarmKind::NoSpace);
    Ok(no_space.then_some(CommandError::NoSpace))
}
