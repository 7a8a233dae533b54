//! `cairn ctl backup FILE` and `cairn ctl restore FILE --data-dir DIR --id N --member ...`.
//!
//! A backup is the leader's newest snapshot file, freshly built, streamed with a crc32 over
//! the bytes. It is written to `FILE.partial`, checked (stream crc, size, then the file's own
//! checksum), fsynced and only then renamed to FILE, so FILE is either a whole, verified
//! backup or absent. A restore verifies the backup before writing anything.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cairn_api::v1::admin_client::AdminClient;
use cairn_api::v1::{BackupRequest, backup_chunk};
use cairn_storage::seal::{KeyRing, SealError};
use cairn_storage::{RestoreError, StorageError};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use super::conn::Conn;
use super::error::{CtlError, CtlResult};
use super::output::{Report, bytes};

/// The whole transfer (including the snapshot build) must finish within this.
const BACKUP_TIMEOUT: Duration = Duration::from_secs(3600);

fn partial_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    file.with_file_name(name)
}

/// Progress on stderr at most ten times a second; indicatif draws nothing when stderr is not a
/// terminal (nor when `TERM` is unset or `dumb`, which cannot take its cursor controls).
fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
    bar.set_style(
        ProgressStyle::with_template(
            "backup [{bar:30}] {percent:>3}% {binary_bytes} / {binary_total_bytes}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("# "),
    );
    bar
}

pub async fn backup(conn: &Conn, file: &Path, keys: Option<Arc<KeyRing>>) -> CtlResult<Report> {
    let partial = partial_path(file);
    let result = tokio::time::timeout(BACKUP_TIMEOUT, fetch(conn, &partial)).await;
    let outcome = match result {
        Ok(r) => r,
        Err(_) => Err(CtlError::Unavailable(format!(
            "backup did not finish within {BACKUP_TIMEOUT:?}"
        ))),
    };
    let fetched = match outcome {
        Ok(f) => f,
        Err(e) => {
            let _ = fs::remove_file(&partial);
            return Err(e);
        }
    };
    let verify_path = partial.clone();
    let verified = tokio::task::spawn_blocking(move || {
        cairn_storage::verify_snapshot(&verify_path, keys.as_ref())
    })
    .await
    .map_err(|e| CtlError::Other(e.to_string()))?;
    // The checksum (over the encrypted bytes) passed before the key was needed: the copy
    // is whole; reading its header takes the cluster's key file.
    let sealed = match verified {
        Err(StorageError::Encryption(SealError::NoKeyFile(id))) => Some(id),
        other => {
            other.map_err(|e| {
                let _ = fs::remove_file(&partial);
                CtlError::Corrupt(format!("the received backup does not verify: {e}"))
            })?;
            None
        }
    };
    fs::rename(&partial, file)
        .map_err(|e| CtlError::Other(format!("rename to {}: {e}", file.display())))?;
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Best effort: the file itself is fsynced; this makes its name durable too.
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    let mut msg = format!(
        "backup of index {} (term {}) from node {}: {} ({}), crc32 {:08x}",
        fetched.index,
        fetched.term,
        fetched.node,
        file.display(),
        bytes(fetched.size),
        fetched.crc32
    );
    if let Some(id) = sealed {
        msg.push_str(&format!(
            "\nencrypted with key {id}: checksum verified; restoring it needs the key file"
        ));
    }
    Ok(Report::new(
        json!({
            "file": file.display().to_string(),
            "snapshot_index": fetched.index,
            "snapshot_term": fetched.term,
            "node_id": fetched.node,
            "bytes": fetched.size,
            "crc32": format!("{:08x}", fetched.crc32),
            "encrypted_with_key": sealed,
        }),
        msg,
    ))
}

struct Fetched {
    index: u64,
    term: u64,
    node: u64,
    size: u64,
    crc32: u32,
}

async fn fetch(conn: &Conn, partial: &Path) -> CtlResult<Fetched> {
    let (addr, _) = conn.leader_addr().await?;
    let mut client = AdminClient::new(conn.long_channel(&addr).await?)
        .max_decoding_message_size(8 * 1024 * 1024);
    let mut stream = client
        .backup(BackupRequest {})
        .await
        .map_err(|s| CtlError::from_status(&addr, &s))?
        .into_inner();
    let io = |e: std::io::Error| CtlError::Other(format!("write {}: {e}", partial.display()));
    let mut out = File::create(partial).map_err(io)?;
    let mut hasher = crc32fast::Hasher::new();
    let mut header = None;
    let mut received = 0u64;
    let progress = progress_bar();
    let broken = |why: &str| CtlError::Corrupt(format!("backup stream from {addr}: {why}"));
    loop {
        let msg = stream
            .message()
            .await
            .map_err(|s| CtlError::from_status(&addr, &s))?
            .ok_or_else(|| broken("ended before its trailer (transfer cut off)"))?;
        match msg.part {
            Some(backup_chunk::Part::Header(h)) if header.is_none() => {
                progress.set_length(h.size);
                header = Some(h);
            }
            Some(backup_chunk::Part::Data(data)) => {
                if header.is_none() {
                    return Err(broken("data before header"));
                }
                hasher.update(&data);
                out.write_all(&data).map_err(io)?;
                received += data.len() as u64;
                progress.set_position(received);
            }
            Some(backup_chunk::Part::Trailer(t)) => {
                let h = header.ok_or_else(|| broken("trailer before header"))?;
                progress.finish();
                let crc32 = hasher.finalize();
                if received != h.size {
                    return Err(broken(&format!(
                        "received {received} bytes, expected {}",
                        h.size
                    )));
                }
                if crc32 != t.crc32 {
                    return Err(broken(&format!(
                        "crc32 {crc32:08x} does not match the sender's {:08x}",
                        t.crc32
                    )));
                }
                out.sync_all().map_err(io)?;
                return Ok(Fetched {
                    index: h.snapshot_index,
                    term: h.snapshot_term,
                    node: h.node_id,
                    size: received,
                    crc32,
                });
            }
            _ => return Err(broken("unexpected message")),
        }
    }
}

pub async fn restore(
    file: PathBuf,
    data_dir: PathBuf,
    id: u64,
    member_specs: Vec<String>,
    keys: Option<Arc<KeyRing>>,
) -> CtlResult<Report> {
    let mut members = BTreeMap::new();
    for spec in &member_specs {
        let (mid, info) = cairn_server::config::parse_member(spec)
            .map_err(|e| CtlError::Usage(format!("{e:#}")))?;
        members.insert(mid, info);
    }
    if !file.is_file() {
        return Err(CtlError::NotFound(format!(
            "backup file {} does not exist",
            file.display()
        )));
    }
    let (f, d, m) = (file.clone(), data_dir.clone(), members.clone());
    let report = tokio::task::spawn_blocking(move || {
        cairn_storage::restore_backup(&f, &d, id, &m, keys.as_ref())
    })
    .await
    .map_err(|e| CtlError::Other(e.to_string()))?
    .map_err(|e| match e {
        e @ RestoreError::Corrupt(_) => CtlError::Corrupt(e.to_string()),
        e @ RestoreError::NotEmpty(_) => CtlError::Refused {
            kind: "not_empty".into(),
            message: e.to_string(),
        },
        e @ RestoreError::InvalidMembers(_) => CtlError::Usage(e.to_string()),
        e @ RestoreError::Encryption(_) => CtlError::Refused {
            kind: "encryption_key".into(),
            message: e.to_string(),
        },
        other => CtlError::Other(other.to_string()),
    })?;
    let member_arg = member_specs.join(",");
    let msg = format!(
        "restored index {} (term {} in the source cluster, {} records) into {} for node {id}\n\
         start it with: cairn serve --id {id} --data-dir {} --member {member_arg} ...\n\
         restore every member listed from the same backup with the same --member list",
        report.snapshot_index,
        report.source_term,
        report.records,
        data_dir.display(),
        data_dir.display(),
    );
    Ok(Report::new(
        json!({
            "data_dir": data_dir.display().to_string(),
            "id": id,
            "snapshot_index": report.snapshot_index,
            "source_term": report.source_term,
            "records": report.records,
            "members": members.keys().collect::<Vec<_>>(),
        }),
        msg,
    ))
}
