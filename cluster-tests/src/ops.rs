//! Helpers for operations tests: run `cairn ctl -o json` and parse its output, GET a node's
//! HTTP endpoint, read Prometheus samples, and run stand-alone `cairn serve` processes (for
//! clusters seeded by `cairn ctl restore`, which the [`crate::Cluster`] harness cannot adopt).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cluster::cairn_bin;

/// What one `cairn ctl` run printed and how it exited.
#[derive(Debug)]
pub struct CtlOut {
    pub code: i32,
    /// stdout parsed as JSON (`Null` if it was not JSON).
    pub json: Value,
    pub stdout: String,
    pub stderr: String,
}

impl CtlOut {
    /// The error kind of a failed run (`{"error": {"kind": ...}}`).
    pub fn error_kind(&self) -> Option<&str> {
        self.json["error"]["kind"].as_str()
    }
}

/// Runs `cairn ctl --endpoints E -o json ARGS...` (bounded to 3 minutes).
pub async fn ctl(endpoints: &[String], args: &[&str]) -> anyhow::Result<CtlOut> {
    let mut cmd = tokio::process::Command::new(cairn_bin()?);
    cmd.arg("ctl")
        .args(["--endpoints", &endpoints.join(",")])
        .args(["-o", "json"])
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(180), cmd.output())
        .await
        .context("cairn ctl timed out")??;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    Ok(CtlOut {
        code: out.status.code().unwrap_or(-1),
        json: serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// `GET path` on `addr`: (status code, body).
pub async fn http_get(addr: &str, path: &str) -> anyhow::Result<(u16, String)> {
    let fetch = async { get_over(TcpStream::connect(addr).await?, addr, path).await };
    tokio::time::timeout(Duration::from_secs(5), fetch)
        .await
        .context("http get timed out")?
}

/// [`http_get`] over TLS, trusting the CA certificates in `ca` (PEM).
pub async fn https_get(addr: &str, path: &str, ca: &Path) -> anyhow::Result<(u16, String)> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};

    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)? {
        roots.add(cert?)?;
    }
    // ring, as the server uses (rustls deprecates it for lacking post-quantum key exchange).
    #[allow(deprecated)]
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let name = ServerName::try_from(host.to_string())?;
    let fetch = async {
        let tcp = TcpStream::connect(addr).await?;
        let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
            .connect(name, tcp)
            .await?;
        get_over(tls, addr, path).await
    };
    tokio::time::timeout(Duration::from_secs(5), fetch)
        .await
        .context("https get timed out")?
}

async fn get_over<S>(mut s: S, addr: &str, path: &str) -> anyhow::Result<(u16, String)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    let code = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("malformed http response")?;
    let body = out.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    Ok((code, body.to_string()))
}

/// The sum of every sample of `name` whose labels contain each of `labels` (`k="v"`), or
/// None if no such sample exists. Histograms: pass `name_count` / `name_sum`.
pub fn metric(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = match line.rsplit_once(' ') {
            Some(x) => x,
            None => continue,
        };
        let (metric_name, label_text) = match series.split_once('{') {
            Some((n, rest)) => (n, rest),
            None => (series, ""),
        };
        if metric_name != name || !labels.iter().all(|l| label_text.contains(l)) {
            continue;
        }
        if let Ok(v) = value.parse::<f64>() {
            found = Some(found.unwrap_or(0.0) + v);
        }
    }
    found
}

/// A `cairn serve` process that is killed when dropped (and, through PDEATHSIG, when the test
/// process dies).
pub struct ServeProc {
    _proc: CairnProc,
}

impl ServeProc {
    pub fn spawn(args: &[String], log: &Path) -> anyhow::Result<Self> {
        let mut all = vec!["serve".to_string()];
        all.extend_from_slice(args);
        CairnProc::spawn(&all, log).map(|p| Self { _proc: p })
    }
}

/// Any `cairn` process (e.g. `cairn bench --workload claim` workers), output appended to
/// `log`; killed with SIGKILL when dropped (and, through PDEATHSIG, when the test dies).
pub struct CairnProc {
    child: std::process::Child,
}

impl CairnProc {
    pub fn spawn(args: &[String], log: &Path) -> anyhow::Result<Self> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let mut cmd = std::process::Command::new(cairn_bin()?);
        cmd.args(args)
            .env("CAIRN_LOG", "info,openraft=info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // SAFETY: only prctl(2) between fork and exec (async-signal-safe).
        #[allow(unsafe_code)]
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        Ok(Self {
            child: cmd
                .spawn()
                .with_context(|| format!("spawn cairn {}", args.join(" ")))?,
        })
    }

    /// kill -9, and reap it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for CairnProc {
    fn drop(&mut self) {
        self.kill();
    }
}
