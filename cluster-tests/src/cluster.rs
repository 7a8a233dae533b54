//! A cluster of real `cairn serve` processes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cairn_api::v1::admin_client::AdminClient;
use cairn_api::v1::{StatusRequest, StatusResponse, TransferLeaderRequest};

use cairn_client::{ClientConfig, TlsOptions};
use cairn_testdata::pki::Pki;
use tonic::transport::Endpoint;

use crate::net::Net;
use crate::ports::free_addr;
use crate::wait::wait_until;

/// One node process and where it lives.
pub struct NodeProc {
    pub id: u64,
    pub client_addr: String,
    pub peer_addr: String,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
    /// Extra environment for the next spawn (e.g. `FAILPOINTS` in a fault-injection build).
    pub env: Vec<(String, String)>,
    child: Option<Child>,
}

impl NodeProc {
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }
}

#[derive(Clone, Debug, Default)]
pub struct ClusterOptions {
    /// Extra `cairn serve` flags for every node (e.g. `--snapshot-logs 100`).
    pub extra_args: Vec<String>,
    /// TLS on every port with client certificates required, from a PKI generated in the
    /// cluster's directory ([`Cluster::pki`]).
    pub tls: bool,
}

/// The users [`ClusterOptions::tls`] makes client certificates for: `root` (what the harness
/// itself connects as) and an ordinary user.
pub const TLS_USERS: [&str; 2] = ["root", "alice"];
/// Nodes the generated PKI has certificates for (ids 1 up to this), initial or added.
const TLS_NODES: u64 = 9;

pub struct Cluster {
    pub nodes: Vec<NodeProc>,
    members: Vec<String>,
    opts: ClusterOptions,
    /// Set when each node runs in its own namespace of this network.
    net: Option<Arc<Net>>,
    bin: PathBuf,
    root: PathBuf,
    // Held so the directory lives as long as the cluster; removed on drop unless a test failed.
    dir: Option<tempfile::TempDir>,
    pki: Option<Pki>,
}

/// The `cairn` binary under test: `CAIRN_BIN`, or the one cargo built beside this test.
pub fn cairn_bin() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("CAIRN_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    // A test: target/<profile>/deps/<test> -> target/<profile>/cairn; a binary of this crate
    // (the chaos command): target/<profile>/chaos -> target/<profile>/cairn.
    let exe_dir = exe.parent().context("locate target dir")?;
    let beside = exe_dir.join("cairn");
    let bin = if beside.exists() {
        beside
    } else {
        exe_dir.parent().context("locate target dir")?.join("cairn")
    };
    anyhow::ensure!(
        bin.exists(),
        "{} not found: run `cargo build --bin cairn` first or set CAIRN_BIN",
        bin.display()
    );
    Ok(bin)
}

/// (client, peer) addresses for node `id`: its own address inside `net`, or free loopback
/// ports.
fn addrs(net: Option<&Net>, id: u64) -> anyhow::Result<(String, String)> {
    Ok(match net {
        Some(_) => (Net::client_addr(id), Net::peer_addr(id)),
        None => (free_addr()?, free_addr()?),
    })
}

impl Cluster {
    /// Starts `n` nodes as initial members and waits until they agree on a leader.
    pub async fn start(n: usize) -> anyhow::Result<Self> {
        Self::start_with(n, ClusterOptions::default()).await
    }

    pub async fn start_with(n: usize, opts: ClusterOptions) -> anyhow::Result<Self> {
        Self::start_inner(n, opts, None).await
    }

    /// Starts `n` nodes, each in its own namespace of `net` (which must have `n` nodes), so
    /// links between them can be cut. The caller drives the cluster from inside the hub
    /// namespace ([`Net::block_on`]), where the node addresses are reachable.
    pub async fn start_in(net: Arc<Net>, n: usize, opts: ClusterOptions) -> anyhow::Result<Self> {
        anyhow::ensure!(
            net.len() == n,
            "the network has {} nodes, not {n}",
            net.len()
        );
        Self::start_inner(n, opts, Some(net)).await
    }

    async fn start_inner(
        n: usize,
        opts: ClusterOptions,
        net: Option<Arc<Net>>,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("cairn-cluster-")
            .tempdir()?;
        let bin = cairn_bin()?;
        let mut nodes = Vec::new();
        for id in 1..=n as u64 {
            let (client_addr, peer_addr) = addrs(net.as_deref(), id)?;
            nodes.push(NodeProc {
                id,
                client_addr,
                peer_addr,
                data_dir: dir.path().join(format!("node-{id}")),
                log_path: dir.path().join(format!("node-{id}.log")),
                env: Vec::new(),
                child: None,
            });
        }
        let members = nodes
            .iter()
            .map(|p| format!("{}={}/{}", p.id, p.peer_addr, p.client_addr))
            .collect();
        let pki = if opts.tls {
            let ids: Vec<u64> = (1..=TLS_NODES).collect();
            let pki = cairn_testdata::pki::generate(&dir.path().join("pki"), &ids, &TLS_USERS)
                .map_err(|e| anyhow::anyhow!("generate certificates: {e}"))?;
            Some(pki)
        } else {
            None
        };
        let mut cluster = Self {
            nodes,
            members,
            opts,
            net,
            bin,
            root: dir.path().to_path_buf(),
            dir: Some(dir),
            pki,
        };
        for id in 1..=n as u64 {
            cluster.spawn(id, &[])?;
        }
        // Started means bootstrapped: a leader, and the cluster id its first leader proposes
        // applied everywhere, so that entry never lands among a test's own writes.
        let started = match cluster.leader(Duration::from_secs(20)).await {
            Ok(_) => cluster.cluster_id_everywhere(Duration::from_secs(20)).await,
            Err(e) => Err(e),
        };
        if let Err(e) = started {
            // Keep the evidence: the caller gets an error, not a panic, so Drop would delete it.
            let kept = cluster.dir.take().map(|d| d.keep());
            return Err(e.context(format!(
                "cluster start failed; data and logs kept in {kept:?}"
            )));
        }
        Ok(cluster)
    }

    /// The network the nodes run in, if they run in namespaces.
    pub fn net(&self) -> Option<&Arc<Net>> {
        self.net.as_ref()
    }

    /// Keeps the data dir and logs after the cluster is dropped; returns where they are.
    pub fn keep(&mut self) -> PathBuf {
        if let Some(dir) = self.dir.take() {
            let _ = dir.keep();
        }
        self.root.clone()
    }

    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// The certificates of a TLS cluster.
    pub fn pki(&self) -> Option<&Pki> {
        self.pki.as_ref()
    }

    /// TLS settings for a client of this cluster connecting as `user` (one of [`TLS_USERS`]);
    /// `None` for a cluster without TLS.
    pub fn client_tls(&self, user: &str) -> anyhow::Result<Option<TlsOptions>> {
        let Some(pki) = &self.pki else {
            return Ok(None);
        };
        let c = pki.client(user);
        Ok(Some(TlsOptions::from_files(
            Some(&pki.ca),
            Some(&c.cert),
            Some(&c.key),
        )?))
    }

    /// The default client settings for this cluster, as `root` when it runs TLS.
    pub fn client_config(&self) -> anyhow::Result<ClientConfig> {
        Ok(ClientConfig {
            tls: self.client_tls(TLS_USERS[0])?,
            ..ClientConfig::default()
        })
    }

    pub fn node(&self, id: u64) -> &NodeProc {
        &self.nodes[(id - 1) as usize]
    }

    pub fn node_mut(&mut self, id: u64) -> &mut NodeProc {
        &mut self.nodes[(id - 1) as usize]
    }

    /// Client endpoints of every node (running or not).
    pub fn endpoints(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.client_addr.clone()).collect()
    }

    /// Adds a node that is not an initial member (to be joined with `--join`).
    pub fn add_node(&mut self) -> anyhow::Result<u64> {
        let id = self.nodes.len() as u64 + 1;
        if let Some(net) = &self.net {
            anyhow::ensure!(net.add_node()? == id, "network and cluster disagree on ids");
        }
        let (client_addr, peer_addr) = addrs(self.net.as_deref(), id)?;
        self.nodes.push(NodeProc {
            id,
            client_addr,
            peer_addr,
            data_dir: self.root.join(format!("node-{id}")),
            log_path: self.root.join(format!("node-{id}.log")),
            env: Vec::new(),
            child: None,
        });
        Ok(id)
    }

    /// Starts node `id` (again) with its data dir as it is, plus `extra` flags.
    pub fn spawn(&mut self, id: u64, extra: &[String]) -> anyhow::Result<()> {
        let members = self.members.join(",");
        let bin = self.bin.clone();
        let opts = self.opts.extra_args.clone();
        let tls_flags = self
            .pki
            .as_ref()
            .map(|p| p.serve_flags(id))
            .unwrap_or_default();
        let netns = match &self.net {
            Some(net) => Some(net.node_ns(id)?),
            None => None,
        };
        let node = self.node_mut(id);
        anyhow::ensure!(node.child.is_none(), "node {id} is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log_path)?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .args(["--id", &id.to_string()])
            .arg("--data-dir")
            .arg(&node.data_dir)
            .args([
                "--client-addr",
                &node.client_addr,
                "--peer-addr",
                &node.peer_addr,
            ])
            .args(&opts)
            .args(tls_flags)
            .args(extra)
            .env("CAIRN_LOG", "info,openraft=info")
            .envs(node.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let ns_fd = netns.as_ref().map(|ns| ns.raw_fd());
        // SAFETY: only setns(2) and prctl(2) between fork and exec (async-signal-safe): a node
        // gets SIGTERM if the test process dies, so a killed test run leaves no process (and
        // so no namespace) behind.
        #[allow(unsafe_code)]
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                if let Some(fd) = ns_fd {
                    crate::net::netns_enter(fd)?;
                }
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        if extra.iter().all(|a| a != "--join") {
            cmd.args(["--member", &members]);
        }
        node.child = Some(cmd.spawn().context("spawn cairn")?);
        Ok(())
    }

    /// SIGKILL: the process gets no chance to flush anything.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut c) = self.node_mut(id).child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn kill_all(&mut self) {
        for id in 1..=self.nodes.len() as u64 {
            self.kill(id);
        }
    }

    /// SIGTERM and wait for a clean exit (up to 10 s, then SIGKILL).
    pub async fn stop(&mut self, id: u64) -> anyhow::Result<()> {
        let Some(mut child) = self.node_mut(id).child.take() else {
            return Ok(());
        };
        // SAFETY: kill(2) on a child we spawned and have not reaped.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let exited = wait_until(Duration::from_secs(10), "node exit", || {
            let r = child.try_wait();
            async move { matches!(r, Ok(Some(_))).then_some(()) }
        })
        .await;
        if exited.is_err() {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("node {id} did not stop on SIGTERM within 10 s");
        }
        Ok(())
    }

    pub async fn restart(&mut self, id: u64) -> anyhow::Result<()> {
        self.kill(id);
        self.spawn(id, &[])
    }

    pub async fn status(&self, id: u64) -> anyhow::Result<StatusResponse> {
        let addr = &self.node(id).client_addr;
        let endpoint = match self.client_tls(TLS_USERS[0])? {
            Some(tls) => {
                Endpoint::from_shared(format!("https://{addr}"))?.tls_config(tls.tonic())?
            }
            None => Endpoint::from_shared(format!("http://{addr}"))?,
        };
        let channel = tokio::time::timeout(Duration::from_secs(2), endpoint.connect())
            .await
            .context("connect timed out")??;
        let mut c = AdminClient::new(channel);
        let mut req = tonic::Request::new(StatusRequest {});
        req.set_timeout(Duration::from_secs(2));
        Ok(c.status(req).await?.into_inner())
    }

    /// Waits until every running node reports the same leader, and returns it.
    pub async fn leader(&self, timeout: Duration) -> anyhow::Result<u64> {
        wait_until(timeout, "an agreed leader", || async {
            if self.exited().is_some() {
                return Some(Err(()));
            }
            let mut leader = None;
            for n in self.nodes.iter().filter(|n| n.is_running()) {
                let s = self.status(n.id).await.ok()?;
                let l = s.leader_id?;
                if leader.is_some_and(|x| x != l) {
                    return None;
                }
                leader = Some(l);
            }
            // The agreed leader must itself be running and say it leads.
            let l = leader?;
            (self.node(l).is_running() && self.status(l).await.ok()?.state == "leader")
                .then_some(Ok(l))
        })
        .await?
        .map_err(|()| {
            let id = self.exited().unwrap_or(0);
            anyhow::anyhow!("node {id} exited; its log:\n{}", self.log_of(id))
        })
    }

    /// Waits until every running node has applied the cluster's id.
    async fn cluster_id_everywhere(&self, timeout: Duration) -> anyhow::Result<()> {
        wait_until(timeout, "the cluster id on every node", || async {
            for n in self.nodes.iter().filter(|n| n.is_running()) {
                if self.status(n.id).await.ok()?.cluster_id == 0 {
                    return None;
                }
            }
            Some(())
        })
        .await
    }

    /// Asks whoever leads to hand over to `to` until `to` leads (20 s at most); whether it
    /// does.
    pub async fn transfer_leader(&self, to: u64) -> bool {
        wait_until(Duration::from_secs(20), "leadership moved", || async {
            let from = self.leader(Duration::from_secs(5)).await.ok()?;
            if from == to {
                return Some(());
            }
            let addr = format!("http://{}", self.node(from).client_addr);
            let mut admin = AdminClient::connect(addr).await.ok()?;
            let _ = admin.transfer_leader(TransferLeaderRequest { to }).await;
            (self.leader(Duration::from_secs(2)).await.ok()? == to).then_some(())
        })
        .await
        .is_ok()
    }

    /// Waits until the running nodes among `ids` agree on a leader that is one of them and
    /// says it leads (the majority side of a partition), and returns it.
    pub async fn leader_among(&self, ids: &[u64], timeout: Duration) -> anyhow::Result<u64> {
        wait_until(timeout, &format!("a leader among {ids:?}"), || async {
            let mut leader = None;
            for id in ids.iter().filter(|id| self.node(**id).is_running()) {
                let l = self.status(*id).await.ok()?.leader_id?;
                if leader.is_some_and(|x| x != l) {
                    return None;
                }
                leader = Some(l);
            }
            let l = leader.filter(|l| ids.contains(l))?;
            (self.status(l).await.ok()?.state == "leader").then_some(l)
        })
        .await
    }

    /// SIGSTOP (`true`) or SIGCONT (`false`): the process freezes with everything in flight,
    /// like a long GC pause or a stalled VM, then resumes as if nothing happened.
    pub fn pause(&self, id: u64, stop: bool) {
        if let Some(pid) = self.node(id).pid() {
            let sig = if stop { libc::SIGSTOP } else { libc::SIGCONT };
            // SAFETY: kill(2) on a child we spawned and have not reaped.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(pid as i32, sig);
            }
        }
    }

    /// The exit status of node `id` if its process has ended (reaping it).
    pub fn exit_status(&mut self, id: u64) -> Option<std::process::ExitStatus> {
        let node = self.node_mut(id);
        let status = node.child.as_mut()?.try_wait().ok()??;
        node.child = None;
        Some(status)
    }

    /// A node that was started and is no longer running (it failed or was killed outside
    /// the harness), if any.
    pub fn exited(&self) -> Option<u64> {
        self.nodes.iter().find_map(|n| {
            let child = n.child.as_ref()?;
            // An exited child we have not reaped is a zombie: gone from /proc or state Z.
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).ok();
            let gone = stat.is_none_or(|s| s.split_whitespace().nth(2) == Some("Z"));
            gone.then_some(n.id)
        })
    }

    /// Waits until node `id` has applied at least `index`.
    pub async fn wait_applied(&self, id: u64, index: u64, timeout: Duration) -> anyhow::Result<()> {
        wait_until(timeout, &format!("node {id} to apply {index}"), || async {
            (self.status(id).await.ok()?.applied >= index).then_some(())
        })
        .await
    }

    /// The node's log so far (for failure messages).
    pub fn log_of(&self, id: u64) -> String {
        std::fs::read_to_string(&self.node(id).log_path).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill_all();
        if std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            // Keep the evidence of a failed test.
            eprintln!("cluster data and logs kept in {}", dir.keep().display());
        }
    }
}
