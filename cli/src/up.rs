//! `cairn up`: a local cluster for a newcomer. Starts N `cairn serve` child processes on
//! 127.0.0.1 with data under `./cairn-data`, prints the endpoints, and stops them cleanly on
//! Ctrl-C. Running it again resumes the same cluster from the same data directories.
//! With `--tls`, every port uses TLS with certificates from a throwaway CA generated under the
//! data directory (kept for the next run), and clients must present a certificate. With
//! `--encrypt`, the nodes encrypt checkpoints, snapshots and backups at rest with a key file
//! generated there (kept too).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::process::{Child, Command};

#[derive(clap::Args, Debug)]
pub struct UpArgs {
    /// Where the nodes keep their data and logs.
    #[arg(long, default_value = "cairn-data")]
    pub data_dir: PathBuf,
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: u16,
    /// Node i serves clients on BASE+i, peers on BASE+100+i and HTTP (/metrics, /readyz) on
    /// BASE+200+i.
    #[arg(long, default_value_t = 7000)]
    pub base_port: u16,
    /// TLS on every port, client certificates required (certificates under DATA_DIR/pki).
    #[arg(long)]
    pub tls: bool,
    /// Encryption at rest with a key file generated as DATA_DIR/encryption.keys.
    #[arg(long)]
    pub encrypt: bool,
}

/// The client certificate `cairn up --tls` makes for the operator.
const TLS_USER: &str = "root";

/// Generates the throwaway PKI unless an earlier run did.
fn pki(args: &UpArgs) -> anyhow::Result<cairn_testdata::pki::Pki> {
    let dir = args.data_dir.join("pki");
    let nodes: Vec<u64> = (1..=u64::from(args.nodes)).collect();
    let existing = cairn_testdata::pki::at(&dir);
    if existing.complete(&nodes, &[TLS_USER]) {
        return Ok(existing);
    }
    cairn_testdata::pki::generate(&dir, &nodes, &[TLS_USER])
        .map_err(|e| anyhow::anyhow!("generate certificates in {}: {e}", dir.display()))
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=9).contains(&args.nodes),
        "--nodes must be between 1 and 9"
    );
    // Before any child exists: Ctrl-C from now on stops the nodes instead of orphaning them.
    let mut stop = cairn_server::Shutdown::install().context("install signal handlers")?;
    let exe = std::env::current_exe().context("locate the cairn binary")?;
    std::fs::create_dir_all(&args.data_dir)?;
    let client = |i: u16| format!("127.0.0.1:{}", args.base_port + i);
    let peer = |i: u16| format!("127.0.0.1:{}", args.base_port + 100 + i);
    let http = |i: u16| format!("127.0.0.1:{}", args.base_port + 200 + i);
    let members: Vec<String> = (1..=args.nodes)
        .map(|i| format!("{i}={}/{}", peer(i), client(i)))
        .collect();
    let pki = if args.tls { Some(pki(&args)?) } else { None };
    let key_file = args.data_dir.join("encryption.keys");
    if args.encrypt && !key_file.exists() {
        crate::keygen::run(&crate::keygen::KeygenArgs {
            file: key_file.clone(),
            id: None,
        })?;
    }

    let mut children = Vec::new();
    for i in 1..=args.nodes {
        let log_path = args.data_dir.join(format!("node-{i}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("open {}", log_path.display()))?;
        let mut cmd = Command::new(&exe);
        // SAFETY: the closure runs between fork and exec and only calls prctl(2), which is
        // async-signal-safe. It makes a node stop if `cairn up` dies without cleaning up.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd
            .arg("serve")
            .args(["--id", &i.to_string()])
            .arg("--data-dir")
            .arg(args.data_dir.join(format!("node-{i}")))
            .args(["--client-addr", &client(i), "--peer-addr", &peer(i)])
            .args(["--http-addr", &http(i)])
            .args(["--member", &members.join(",")])
            .args(
                pki.as_ref()
                    .map(|p| p.serve_flags(u64::from(i)))
                    .unwrap_or_default(),
            )
            .args(
                args.encrypt
                    .then(|| {
                        [
                            "--encryption-key-file".into(),
                            key_file.clone().into_os_string(),
                        ]
                    })
                    .into_iter()
                    .flatten(),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Own process group: Ctrl-C reaches only `cairn up`, which then stops the
            // nodes in order instead of all of them racing.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .context("start node")?;
        children.push((i, child));
    }

    let endpoints: Vec<String> = (1..=args.nodes).map(client).collect();
    println!(
        "cairn: {} nodes starting (data in {})",
        args.nodes,
        args.data_dir.display()
    );
    for i in 1..=args.nodes {
        println!(
            "  node {i}: client {}  peer {}  http {}  log {}",
            client(i),
            peer(i),
            http(i),
            args.data_dir.join(format!("node-{i}.log")).display()
        );
    }
    let tls = match &pki {
        Some(p) => {
            let c = p.client(TLS_USER);
            Some(cairn_client::TlsOptions::from_files(
                Some(&p.ca),
                Some(&c.cert),
                Some(&c.key),
            )?)
        }
        None => None,
    };
    let leader = tokio::select! {
        leader = wait_for_leader(&endpoints, tls.clone(), Duration::from_secs(30)) => Some(leader),
        _ = stop.wait() => None,
    };
    match leader {
        Some(Some(l)) => {
            println!("cairn: leader is node {l}; try:");
            match &pki {
                None => println!("  cairn kv put hello world\n  cairn kv get hello"),
                Some(p) => {
                    let c = p.client(TLS_USER);
                    let flags = format!(
                        "--cacert {} --cert {} --key {}",
                        p.ca.display(),
                        c.cert.display(),
                        c.key.display()
                    );
                    let https: Vec<String> =
                        endpoints.iter().map(|e| format!("https://{e}")).collect();
                    println!(
                        "  cairn kv --endpoints {} {flags} put hello world\n  \
                         cairn ctl --endpoints {} {flags} status\n  \
                         etcdctl --endpoints {} {flags} get hello",
                        endpoints.join(","),
                        endpoints.join(","),
                        https.join(",")
                    );
                }
            }
        }
        Some(None) => println!("cairn: no leader yet; see the node logs"),
        None => {
            println!("\ncairn: stopping");
            stop_all(&mut children).await;
            return Ok(());
        }
    }
    println!("cairn: press Ctrl-C to stop the cluster");

    let exited = async {
        loop {
            for (i, child) in children.iter_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return (*i, status);
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::select! {
        _ = stop.wait() => println!("\ncairn: stopping"),
        (i, status) = exited => println!("cairn: node {i} exited ({status}); stopping the others"),
    }
    stop_all(&mut children).await;
    println!("cairn: stopped; run `cairn up` again to resume");
    Ok(())
}

/// SIGTERM every node, then wait; a node that does not stop in time is killed.
async fn stop_all(children: &mut [(u16, Child)]) {
    for (_, child) in children.iter() {
        if let Some(pid) = child.id() {
            // SAFETY: plain kill(2) on a child we spawned and have not reaped.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
        }
    }
    for (i, child) in children.iter_mut() {
        match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
            Ok(_) => {}
            Err(_) => {
                eprintln!("cairn: node {i} did not stop in 10 s; killing it");
                let _ = child.kill().await;
            }
        }
    }
}

async fn wait_for_leader(
    endpoints: &[String],
    tls: Option<cairn_client::TlsOptions>,
    timeout: Duration,
) -> Option<u64> {
    let config = cairn_client::ClientConfig {
        tls,
        ..Default::default()
    };
    let client = cairn_client::Client::with_config(endpoints.iter().cloned(), config).ok()?;
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        for i in 0..endpoints.len() {
            if let Ok(s) = client.status(i).await
                && let Some(l) = s.leader_id
            {
                return Some(l);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}
