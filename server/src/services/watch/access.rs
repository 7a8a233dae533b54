//! Who may watch what: every selector of a watch filter must be readable by the caller
//! (keys, lock and election names as keys, a namespace, a workflow's namespace); a selector
//! over every workflow (no namespace, no id) is root's. Checked when a watch is created and
//! before a watch snapshot.

use cairn_model::auth::Need;
use cairn_model::txn::KeyRange;
use cairn_model::workflow::vars::VarScope;
use cairn_storage::watch::{Filter, Selector};
use tonic::Status;

use crate::services::gateway::Gateway;
use crate::status;

/// Who watches, with where to look workflows' namespaces up.
#[derive(Clone)]
pub(crate) struct Access {
    pub(crate) caller: crate::auth::Caller,
    pub(crate) gateway: Gateway,
}

impl Access {
    pub(crate) fn check(&self, filter: &Filter) -> Result<(), Status> {
        let needs: Vec<Need> = filter.selectors.iter().map(selector_need).collect();
        self.caller
            .check(&needs, |id| self.gateway.namespace_of(id))
            .map_err(status::auth_error)
    }
}

fn selector_need(s: &Selector) -> Need {
    let workflow = |id: &str| Need::Workflow {
        id: id.to_string(),
        write: false,
    };
    match s {
        Selector::Kv { prefix } => Need::Read(KeyRange::prefix(prefix.clone())),
        Selector::Workflows { id: Some(id), .. } => workflow(id),
        Selector::Workflows {
            namespace: Some(ns),
            ..
        } => Need::Namespace {
            name: ns.clone(),
            write: false,
        },
        Selector::Tasks {
            workflow_id: Some(id),
        }
        | Selector::Checkpoints {
            workflow_id: Some(id),
        } => workflow(id),
        Selector::Workflows { .. } | Selector::Tasks { .. } | Selector::Checkpoints { .. } => {
            Need::Root
        }
        Selector::Locks { prefix } | Selector::Elections { prefix } => {
            Need::Read(KeyRange::prefix(prefix.as_bytes().to_vec()))
        }
        // A workflow's variables are its readers'; a namespace's (and its workflows') the
        // namespace's; every scope's, root's.
        Selector::Vars {
            scope: Some(VarScope::Workflow(id)),
            ..
        } => workflow(id),
        Selector::Vars {
            scope: Some(VarScope::Namespace(ns)),
            ..
        }
        | Selector::Vars {
            scope: None,
            namespace: Some(ns),
        } => Need::Namespace {
            name: ns.clone(),
            write: false,
        },
        Selector::Vars {
            scope: None,
            namespace: None,
        } => Need::Root,
    }
}
