//! The operations `cairn bench` can drive: KV puts, workflow transitions (over many cold
//! workflows, or a few hot ones with expected versions), and list queries. Each workload
//! prepares its data once, then hands every closed-loop task its own [`Op`].

use std::collections::HashMap;
use std::fmt::Write as _;

use cairn_client::{Client, CreateWorkflow, Definition, Error, ListOptions, Target};
use futures::StreamExt;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// How one operation ended when it did not fail.
pub enum Outcome {
    Done,
    /// An optimistic-concurrency loss (expected version moved on): counted, not an error.
    Conflict,
}

/// One closed-loop task's operation.
pub trait Op: Send + 'static {
    /// Cairn's or etcd's client error: only reported, so anything printable.
    type Error: std::fmt::Display + Send;
    fn run(&mut self) -> impl Future<Output = Result<Outcome, Self::Error>> + Send;
}

pub struct Put {
    client: Client,
    rng: SmallRng,
    keys: u64,
    key: String,
    value: Vec<u8>,
}

impl Put {
    pub fn new(client: Client, keys: u64, value_size: usize) -> Self {
        let mut rng = SmallRng::from_rng(&mut rand::rng());
        let mut value = vec![0u8; value_size];
        rng.fill(&mut value[..]);
        Self {
            client,
            rng,
            keys,
            key: String::with_capacity(32),
            value,
        }
    }
}

impl Op for Put {
    type Error = Error;
    async fn run(&mut self) -> Result<Outcome, Error> {
        self.key.clear();
        // Writing into a String cannot fail.
        let _ = write!(
            self.key,
            "bench/{:012}",
            self.rng.random_range(0..self.keys)
        );
        self.client
            .put(self.key.as_bytes(), self.value.as_slice())
            .await?;
        Ok(Outcome::Done)
    }
}

/// The bench definition: two states and one event that flips between them, so any workflow
/// can always take a legal transition without reading its status first.
const FLIP_DEFINITION: &str = "bench-flip";
pub const FLIP: &str = "flip";
const NAMESPACE: &str = "bench";

fn flip_definition() -> Definition {
    Definition::new(FLIP_DEFINITION, ["A", "B"], "A", Vec::<String>::new())
        .transition_on("A", "B", FLIP)
        .transition_on("B", "A", FLIP)
}

pub fn workflow_id(n: u64) -> String {
    format!("bench-wf-{n:08}")
}

/// Runs `make(i)` for every i in `0..n`, `concurrency` at a time; fails on the first error.
async fn for_each_concurrent<F, Fut>(n: u64, concurrency: usize, make: F) -> Result<(), Error>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    let mut results = futures::stream::iter(0..n)
        .map(make)
        .buffer_unordered(concurrency.max(1));
    while let Some(r) = results.next().await {
        r?;
    }
    Ok(())
}

/// Registers the flip definition and upserts `n` workflows of it (idempotent across runs).
pub async fn prepare_flip_workflows(
    client: &Client,
    n: u64,
    concurrency: usize,
) -> Result<(), Error> {
    client.register_definition(&flip_definition()).await?;
    for_each_concurrent(n, concurrency, |i| async move {
        client
            .create_workflow(
                CreateWorkflow::new()
                    .id(workflow_id(i))
                    .namespace(NAMESPACE)
                    .definition(FLIP_DEFINITION)
                    .upsert(true),
            )
            .await
            .map(|_| ())
    })
    .await
}

/// A transition of a random workflow out of `workflows`. With `expected`, the task keeps the
/// last version it saw of each workflow and sends it as the expected version; a conflict
/// refreshes the cached version from the error.
pub struct Flip {
    client: Client,
    rng: SmallRng,
    workflows: u64,
    expected: bool,
    versions: HashMap<u64, u64>,
}

impl Flip {
    pub fn new(client: Client, workflows: u64, expected: bool) -> Self {
        Self {
            client,
            rng: SmallRng::from_rng(&mut rand::rng()),
            workflows,
            expected,
            versions: HashMap::new(),
        }
    }
}

impl Op for Flip {
    type Error = Error;
    async fn run(&mut self) -> Result<Outcome, Error> {
        let n = self.rng.random_range(0..self.workflows);
        let id = workflow_id(n);
        let expected = if self.expected {
            match self.versions.get(&n) {
                Some(v) => Some(*v),
                None => {
                    let w = self.client.workflow(&id, false).await?;
                    w.map(|w| w.workflow.version)
                }
            }
        } else {
            None
        };
        match self
            .client
            .transition(&id, Target::event(FLIP), expected, "bench", "")
            .await
        {
            Ok(r) => {
                self.versions.insert(n, r.version);
                Ok(Outcome::Done)
            }
            Err(Error::VersionConflict { current }) => {
                self.versions.insert(n, current);
                Ok(Outcome::Conflict)
            }
            Err(e) => Err(e),
        }
    }
}

/// Fills the `bench-list` namespace with `total` default-definition workflows of which
/// `active` stay PENDING and the rest are cancelled (terminal). Skips the work if the
/// namespace already holds that shape.
pub async fn prepare_list(
    client: &Client,
    total: u64,
    active: u64,
    concurrency: usize,
) -> Result<(), Error> {
    let all = ListOptions::new().namespace(LIST_NAMESPACE);
    if client.count_workflows(&all).await? == total
        && client.count_workflows(&active_query()).await? == active
    {
        return Ok(());
    }
    for_each_concurrent(total, concurrency, |i| async move {
        let id = format!("list-wf-{i:08}");
        let created = client
            .create_workflow(
                CreateWorkflow::new()
                    .id(id.clone())
                    .namespace(LIST_NAMESPACE)
                    .label("batch", format!("{}", i % 10))
                    .upsert(true),
            )
            .await?;
        if i >= active && created.workflow.status == "PENDING" {
            client.cancel_workflow(&id, "bench fill").await?;
        }
        Ok(())
    })
    .await
}

const LIST_NAMESPACE: &str = "bench-list";

/// seed 000's "active" query: PENDING | RUNNING, one page of up to 100.
fn active_query() -> ListOptions {
    ListOptions::new()
        .namespace(LIST_NAMESPACE)
        .status("PENDING")
        .status("RUNNING")
        .limit(100)
}

pub struct ListActive {
    client: Client,
    expect: usize,
}

impl ListActive {
    pub fn new(client: Client, expect: u64) -> Self {
        Self {
            client,
            expect: usize::try_from(expect.min(100)).unwrap_or(100),
        }
    }
}

impl Op for ListActive {
    type Error = Error;
    async fn run(&mut self) -> Result<Outcome, Error> {
        let page = self.client.list_workflows(&active_query()).await?;
        if page.workflows.len() != self.expect {
            return Err(Error::InvalidArgument(format!(
                "list returned {} workflows, expected {}",
                page.workflows.len(),
                self.expect
            )));
        }
        Ok(Outcome::Done)
    }
}
