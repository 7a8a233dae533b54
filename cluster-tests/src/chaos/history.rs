//! The record of every client operation: each invocation and each completion is one JSON
//! line in `history.jsonl` (written as it happens, so a crashed run still has it), and the
//! typed operations are kept in memory for the checkers.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use serde_json::{Value, json};

use crate::linearizability::{KvInput, KvOutput, Operation, WorkflowInput, WorkflowOutput};

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It took effect (or, for a read, answered).
    Ok,
    /// A definite refusal: it did not take effect (mismatch, conflict, stale fence...).
    Fail,
    /// No definite answer (timeout, unavailable): it may or may not have taken effect.
    Indeterminate,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Indeterminate => "indeterminate",
        }
    }
}

/// A fenced write of the lock workload, as its client saw it.
#[derive(Clone, Debug)]
pub struct FencedWrite {
    pub client: u64,
    pub token: u64,
    pub value: String,
    pub call: u64,
    pub ret: Option<u64>,
    /// The revision it was applied at, when acknowledged.
    pub revision: Option<u64>,
    /// The current token the cluster named when it refused the write as stale.
    pub stale: Option<u64>,
}

/// A checkpoint save of the checkpoint workload, as its client saw it.
#[derive(Clone, Debug)]
pub struct CheckpointSave {
    pub client: u64,
    pub workflow: String,
    /// Unique per save: how a stored checkpoint is traced back to the save that made it.
    pub label: String,
    pub payload: Vec<u8>,
    pub call: u64,
    pub ret: Option<u64>,
    pub outcome: Outcome,
    /// (id, revision) the cluster answered, when acknowledged.
    pub saved: Option<(String, u64)>,
}

/// A load, during the run, of a checkpoint whose save was acknowledged before it began.
#[derive(Clone, Debug)]
pub struct CheckpointLoad {
    pub client: u64,
    pub workflow: String,
    pub id: String,
    pub call: u64,
    /// The payload, or the definite refusal (not found, data loss). A load without a
    /// definite answer is not kept.
    pub found: Result<Vec<u8>, String>,
}

/// A KV put acknowledged with a revision: it must show up in the watch and the store.
#[derive(Clone, Debug)]
pub struct AckedPut {
    pub key: String,
    pub value: String,
    pub revision: u64,
}

#[derive(Default)]
pub struct Counts {
    pub ok: u64,
    pub fail: u64,
    pub indeterminate: u64,
}

pub struct Recorder {
    start: Instant,
    out: Mutex<BufWriter<File>>,
    pub kv: Mutex<Vec<Operation<KvInput, KvOutput>>>,
    pub workflow: Mutex<Vec<Operation<WorkflowInput, WorkflowOutput>>>,
    pub fenced: Mutex<Vec<FencedWrite>>,
    pub checkpoint_saves: Mutex<Vec<CheckpointSave>>,
    pub checkpoint_loads: Mutex<Vec<CheckpointLoad>>,
    pub acked_puts: Mutex<Vec<AckedPut>>,
    /// Every value a client ever asked to write (a value seen anywhere else is a phantom).
    pub written: Mutex<std::collections::HashSet<String>>,
    pub counts: Mutex<Counts>,
}

impl Recorder {
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            start: Instant::now(),
            out: Mutex::new(BufWriter::new(File::create(path)?)),
            kv: Mutex::default(),
            workflow: Mutex::default(),
            fenced: Mutex::default(),
            checkpoint_saves: Mutex::default(),
            checkpoint_loads: Mutex::default(),
            acked_puts: Mutex::default(),
            written: Mutex::default(),
            counts: Mutex::default(),
        })
    }

    /// Microseconds since the run started (the history's clock).
    pub fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn line(&self, v: Value) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "{v}");
    }

    /// Records an invocation; returns its time.
    pub fn invoke(&self, client: u64, kind: &str, op: &dyn std::fmt::Debug) -> u64 {
        let t = self.now();
        self.line(
            json!({"t": t, "client": client, "kind": kind, "phase": "invoke",
            "op": format!("{op:?}")}),
        );
        t
    }

    /// Records a completion; returns its time.
    pub fn complete(
        &self,
        client: u64,
        kind: &str,
        outcome: Outcome,
        result: &dyn std::fmt::Debug,
    ) -> u64 {
        let t = self.now();
        self.line(
            json!({"t": t, "client": client, "kind": kind, "phase": outcome.as_str(),
            "result": format!("{result:?}")}),
        );
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Outcome::Ok => c.ok += 1,
            Outcome::Fail => c.fail += 1,
            Outcome::Indeterminate => c.indeterminate += 1,
        }
        t
    }

    /// A note that is not an operation (a fault, a phase of the run).
    pub fn note(&self, what: &str, detail: Value) {
        self.line(json!({"t": self.now(), "note": what, "detail": detail}));
    }

    pub fn wrote(&self, value: &str) {
        self.written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(value.to_string());
    }

    pub fn acked(&self, key: &str, value: &str, revision: u64) {
        self.acked_puts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(AckedPut {
                key: key.into(),
                value: value.into(),
                revision,
            });
    }

    pub fn flush(&self) {
        let _ = self.out.lock().unwrap_or_else(|p| p.into_inner()).flush();
    }
}
