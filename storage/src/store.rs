//! `open`: lays out and checks the data directory, opens the WAL and sled, and repairs the
//! state machine when sled is missing, corrupt, half-installed or behind the newest snapshot.
//!
//! ```text
//! <dir>/VERSION      on-disk data version, written at init, checked on every open
//! <dir>/log/         raft-log WAL: log entries, vote, committed (fsynced)
//! <dir>/sm/          sled state machine (not fsynced, see vendor/sled/CAIRN.md; rebuildable)
//! <dir>/sm.boot      the machine boot that last opened sm/
//! <dir>/snapshots/   snapshot files (fsynced)
//! ```
//! sled is never the only durable copy: after a repair openraft re-applies the log from sled's
//! last_applied up to the saved committed index. Within one boot the page cache keeps sled's
//! writes through a process crash; after a machine restart its unsynced writes may be torn
//! or lost in any order, so sled is then rebuilt from scratch.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::StorageConfig;
use crate::error::StorageError;
use crate::keyspace::Trees;
use crate::load::{install_marker_set, load_snapshot, read_applied};
use crate::log_store::LogStore;
use crate::snapshot::fsync_dir;
use crate::snapshot_dir::SnapshotDir;
use crate::state_machine::StateMachineStore;

/// Version of the on-disk layout and encodings. Bump on any incompatible change.
/// 2: one dedup session per client (not per request), workflow spaces.
/// 3: key records carry their lease (etcd lease-attached keys).
/// 4: requests carry the user they were authorized for; users and roles in meta.
/// 5: task claims (lease, claim, retry policy, ready time) and workflow ownership (owner
///    lease, epoch, orphaned time) in the records.
pub const DATA_VERSION: u32 = 5;

const VERSION_FILE: &str = "VERSION";
/// A random id made with the directory (see [`incarnation`]).
const INCARNATION_FILE: &str = "INCARNATION";
const SUBDIRS: [&str; 3] = ["log", "sm", "snapshots"];

/// Opens (creating on first use) the storage under `dir`.
pub async fn open(
    dir: &Path,
    config: StorageConfig,
) -> Result<(LogStore, StateMachineStore), StorageError> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || open_blocking(&dir, &config)).await?
}

fn open_blocking(
    dir: &Path,
    config: &StorageConfig,
) -> Result<(LogStore, StateMachineStore), StorageError> {
    fs::create_dir_all(dir)?;
    let fresh = check_or_init_version(dir)?;
    let sm_missing = !fresh && !dir.join("sm").exists();
    if sm_missing {
        tracing::warn!(
            "state machine (sled) directory is missing; rebuilding it from snapshot + log"
        );
    }
    for sub in SUBDIRS {
        fs::create_dir_all(dir.join(sub))?;
    }
    fsync_dir(dir)?;

    let snapshots = Arc::new(SnapshotDir::open(
        &dir.join("snapshots"),
        config.encryption.clone(),
    )?);
    drop_sled_from_another_boot(dir)?;
    let trees = open_sled(dir, config)?;
    record_boot(dir)?;
    let log = LogStore::open(&dir.join("log"), config)?;
    let trees = drop_sled_ahead_of_log(dir, config, trees, &log, &snapshots)?;
    repair_from_snapshot(&trees, &snapshots)?;
    check_no_gap(&trees, &log)?;
    let sm = StateMachineStore::new(trees, snapshots, config)?;
    Ok((log, sm))
}

/// Starts sled empty (the snapshot and the log rebuild it) when it has applied entries that
/// neither the log nor the snapshot holds. A leader applies an entry once a quorum of *other* members made it
/// durable, which may be before its own log write lands; killed then, it comes back with
/// sled (whose writes the page cache kept) ahead of its log. openraft cannot start from that
/// (it would purge the log up to the applied entry, past the snapshot, and asserts), and
/// the state is also not re-creatable from this node's own files. The leader sends those
/// committed entries again.
fn drop_sled_ahead_of_log(
    dir: &Path,
    config: &StorageConfig,
    trees: Trees,
    log: &LogStore,
    snapshots: &SnapshotDir,
) -> Result<Trees, StorageError> {
    let applied = read_applied(&trees)?.0.map_or(0, |l| l.index());
    let snapshot = snapshots
        .current()?
        .and_then(|c| c.meta.last_log_id)
        .map_or(0, |l| l.index);
    let durable = [log.last_index()?, log.purged_index()?, Some(snapshot)]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0);
    if applied <= durable {
        return Ok(trees);
    }
    tracing::warn!(
        applied,
        durable,
        "the state machine (sled) applied entries this node's log does not hold (its own \
         log write had not landed when it stopped); rebuilding it from snapshot + log"
    );
    drop(trees);
    // Renamed before it is removed: a sled thread may hold its lock a moment longer, and the
    // new one at `sm` must not wait for it.
    let sled = dir.join("sm");
    let aside = broken_path(dir)?;
    fs::rename(&sled, &aside)?;
    fsync_dir(dir)?;
    fs::remove_dir_all(&aside)?;
    open_sled_at(&sled, config)
}

/// After repair, sled has applied at least up to the newest valid snapshot. If the log was
/// purged beyond that (say the newest snapshot was corrupt and an older one was used), some
/// committed entries exist nowhere on this node: refuse to start rather than skip them.
fn check_no_gap(trees: &Trees, log: &LogStore) -> Result<(), StorageError> {
    let Some(purged) = log.purged_index()? else {
        return Ok(());
    };
    let applied = read_applied(trees)?.0.map_or(0, |l| l.index());
    if applied < purged {
        return Err(StorageError::LogGap { purged, applied });
    }
    Ok(())
}

/// Returns whether the directory was initialized just now.
pub(crate) fn check_or_init_version(dir: &Path) -> Result<bool, StorageError> {
    let path = dir.join(VERSION_FILE);
    match fs::read_to_string(&path) {
        Ok(s) => {
            let found = s.trim().parse::<u32>().ok();
            if found != Some(DATA_VERSION) {
                return Err(StorageError::DataVersion {
                    found,
                    expected: DATA_VERSION,
                });
            }
            Ok(false)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // VERSION is written before any subdirectory, so data without it is not ours.
            if SUBDIRS.iter().any(|s| dir.join(s).exists()) {
                return Err(StorageError::DataVersion {
                    found: None,
                    expected: DATA_VERSION,
                });
            }
            write_durably(dir, VERSION_FILE, &DATA_VERSION.to_string())?;
            Ok(true)
        }
        Err(e) => Err(e.into()),
    }
}

fn open_sled_at(path: &Path, config: &StorageConfig) -> Result<Trees, StorageError> {
    let db = sled::Config::new()
        .path(path)
        .cache_capacity(config.sled_cache_bytes)
        .open()?;
    Ok(Trees::open(db)?)
}

/// Opens sled; if it cannot be opened or an install was interrupted, moves it aside and
/// starts an empty one (the snapshot and the log rebuild it).
fn open_sled(dir: &Path, config: &StorageConfig) -> Result<Trees, StorageError> {
    let path = dir.join("sm");
    let reason = match open_sled_at(&path, config) {
        Ok(trees) => match install_marker_set(&trees) {
            Ok(false) => return Ok(trees),
            Ok(true) => "a snapshot install was interrupted".to_string(),
            Err(e) => format!("cannot read it: {e}"),
        },
        Err(e) => format!("cannot open it: {e}"),
    };
    let aside = broken_path(dir)?;
    tracing::warn!(
        reason,
        moved_to = %aside.display(),
        "state machine (sled) unusable; moving it aside and rebuilding from snapshot + log"
    );
    fs::rename(&path, &aside)?;
    fsync_dir(dir)?;
    open_sled_at(&path, config)
}

const BOOT_FILE: &str = "sm.boot";

/// The kernel's id for the running boot of this machine; `None` where there is none (the
/// check is then off).
pub(crate) fn boot_id() -> Option<String> {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
}

/// Removes sled when the machine has restarted since sled was last opened: writes it had not
/// synced may be missing or torn in any order, which sled's recovery does not promise to
/// detect. The snapshot and the fsynced log rebuild it.
fn drop_sled_from_another_boot(dir: &Path) -> Result<(), StorageError> {
    let (Some(now), Ok(then)) = (boot_id(), fs::read_to_string(dir.join(BOOT_FILE))) else {
        return Ok(());
    };
    let sled = dir.join("sm");
    if then.trim() == now || !sled.exists() {
        return Ok(());
    }
    tracing::warn!(
        last_opened_in_boot = then.trim(),
        "the machine restarted since the state machine (sled) was last open; rebuilding it \
         from snapshot + log"
    );
    fs::remove_dir_all(&sled)?;
    fsync_dir(dir)?;
    Ok(())
}

/// Notes the running boot as the one sled was last opened in.
fn record_boot(dir: &Path) -> Result<(), StorageError> {
    let Some(now) = boot_id() else {
        return Ok(());
    };
    if fs::read_to_string(dir.join(BOOT_FILE)).is_ok_and(|then| then.trim() == now) {
        return Ok(());
    }
    write_durably(dir, BOOT_FILE, &now)
}

/// Writes `<dir>/<name>` as one line, all or nothing: a temporary file, fsynced, renamed into
/// place, and the directory fsynced.
/// This data directory's incarnation: a random id written when the directory is first used
/// (by this build or, for an older directory, on its first open by this build). A node that
/// loses its directory comes back with another one, which is how the cluster tells a member
/// that forgot its log and votes from one that did not.
pub fn incarnation(dir: &Path) -> Result<u64, StorageError> {
    let path = dir.join(INCARNATION_FILE);
    match fs::read_to_string(&path) {
        Ok(s) => u64::from_str_radix(s.trim(), 16)
            .ok()
            .filter(|v| *v != 0)
            .ok_or_else(|| StorageError::CorruptRecord(format!("{} is not an id", path.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 8];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
                .map_err(|_| StorageError::Internal("no randomness for an incarnation".into()))?;
            let id = u64::from_be_bytes(bytes).max(1);
            write_durably(dir, INCARNATION_FILE, &format!("{id:016x}"))?;
            Ok(id)
        }
        Err(e) => Err(e.into()),
    }
}

fn write_durably(dir: &Path, name: &str, line: &str) -> Result<(), StorageError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = fs::File::create(&tmp)?;
    writeln!(f, "{line}")?;
    f.sync_all()?;
    fs::rename(&tmp, dir.join(name))?;
    fsync_dir(dir)?;
    Ok(())
}

fn broken_path(dir: &Path) -> Result<PathBuf, StorageError> {
    for n in 0u32.. {
        let p = dir.join(format!("sm.broken-{n}"));
        if !p.exists() {
            return Ok(p);
        }
    }
    Err(StorageError::Internal("no free sm.broken-N name".into()))
}

/// Loads the newest snapshot into sled when sled is behind it (or empty).
fn repair_from_snapshot(trees: &Trees, snapshots: &SnapshotDir) -> Result<(), StorageError> {
    let Some(current) = snapshots.current()? else {
        return Ok(());
    };
    let (applied, _) = read_applied(trees)?;
    if applied >= current.meta.last_log_id {
        return Ok(());
    }
    tracing::warn!(
        sled_applied = ?applied,
        snapshot = %current.meta,
        "state machine is behind the newest snapshot; loading the snapshot"
    );
    load_snapshot(trees, &current.path, &current.meta, snapshots.keys())
}
