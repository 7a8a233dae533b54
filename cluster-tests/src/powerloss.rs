//! Power loss, played after kill -9: nodes run under the `unsynced` preload layer
//! (`powerloss/unsynced.c`), which journals what every change to their data directories
//! overwrites and which fsyncs covered which changes. [`Unsynced::power_loss`] then undoes,
//! newest first, every change that no fsync covered, and removes every file or directory whose
//! parent was not fsynced after its creation: what a disk that keeps only what it was told to
//! keep shows when the power comes back. kill -9 alone keeps the page cache, so only this
//! shows a missing fsync.

use std::collections::{HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The layer's source, compiled by [`Unsynced::build`] for each test run.
const SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/powerloss/unsynced.c");

/// The preload library and the directory its journals go to.
pub struct Unsynced {
    lib: PathBuf,
    journals: PathBuf,
}

/// What [`Unsynced::power_loss`] undid.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Undone {
    /// Journal records read.
    pub records: usize,
    /// Changes to file contents or sizes no fsync covered, undone.
    pub writes: usize,
    /// Files or directories created without a later fsync of their parent, removed.
    pub created: usize,
}

/// One journal record (see the format in `unsynced.c`).
#[derive(Debug)]
enum Rec {
    Pre {
        seq: u64,
        ino: u64,
        offset: u64,
        old_size: u64,
        bytes: Vec<u8>,
    },
    Synced {
        ino: u64,
        covers: u64,
    },
    Created {
        ino: u64,
        parent: u64,
    },
    Ended {
        ino: u64,
    },
    DirSynced {
        ino: u64,
    },
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> anyhow::Result<&[u8]> {
        if self.0.len() < n {
            bail!("journal cut short");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u64(&mut self) -> anyhow::Result<u64> {
        Ok(u64::from_ne_bytes(self.take(8)?.try_into()?))
    }

    fn u32(&mut self) -> anyhow::Result<usize> {
        Ok(u32::from_ne_bytes(self.take(4)?.try_into()?) as usize)
    }
}

fn parse(journal: &[u8]) -> anyhow::Result<Vec<Rec>> {
    let mut r = Reader(journal);
    let mut out = Vec::new();
    while !r.0.is_empty() {
        let kind = r.take(1)?[0];
        let seq = r.u64()?;
        let ino = r.u64()?;
        out.push(match kind {
            b'P' => {
                let offset = r.u64()?;
                let old_size = r.u64()?;
                let len = r.u64()? as usize;
                let path_len = r.u32()?;
                r.take(path_len)?;
                Rec::Pre {
                    seq,
                    ino,
                    offset,
                    old_size,
                    bytes: r.take(len)?.to_vec(),
                }
            }
            b'S' => Rec::Synced {
                ino,
                covers: r.u64()?,
            },
            b'C' => {
                let parent = r.u64()?;
                let path_len = r.u32()?;
                r.take(path_len)?;
                Rec::Created { ino, parent }
            }
            b'U' => Rec::Ended { ino },
            b'D' => Rec::DirSynced { ino },
            other => bail!("unknown journal record kind {other}"),
        });
    }
    Ok(out)
}

/// Every file and directory under `roots`, by inode.
fn inodes(roots: &[PathBuf]) -> anyhow::Result<HashMap<u64, PathBuf>> {
    let mut out = HashMap::new();
    let mut todo: Vec<PathBuf> = roots.to_vec();
    while let Some(dir) = todo.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("read {}", dir.display()))? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                todo.push(entry.path());
            }
            out.insert(meta.ino(), entry.path());
        }
    }
    Ok(out)
}

impl Unsynced {
    /// [`Unsynced::build`], or `None` where no C compiler can build it: under CI
    /// (`CI=true`) that fails the test, elsewhere it prints `skipped: <why>`.
    pub fn build_or_skip(dir: &Path) -> Option<Self> {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        match Self::build(dir) {
            Ok(u) => Some(u),
            Err(e) => {
                crate::net::runnable(Some(format!("{e:#}")), ci);
                None
            }
        }
    }

    /// Compiles the layer with the machine's C compiler into `dir`, journals in `dir` too.
    pub fn build(dir: &Path) -> anyhow::Result<Self> {
        let lib = dir.join("libunsynced.so");
        let journals = dir.join("journals");
        fs::create_dir_all(&journals)?;
        let out = Command::new("cc")
            .args([
                "-shared",
                "-fPIC",
                "-O2",
                "-Wall",
                "-Wno-format-truncation",
                "-o",
            ])
            .arg(&lib)
            .arg(SOURCE)
            .args(["-ldl", "-lpthread"])
            .output()
            .context("run cc (the power-loss test compiles its preload layer)")?;
        if !out.status.success() {
            bail!(
                "cc failed on {SOURCE}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(Self { lib, journals })
    }

    /// The environment of a process whose changes under `roots` (existing directories) are
    /// journaled. With `ignore_sync`, fsyncs of files whose path contains it do not count:
    /// the negative control of a store that forgets an fsync.
    pub fn env(&self, roots: &[&Path], ignore_sync: Option<&str>) -> Vec<(String, String)> {
        let roots: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        let mut env = vec![
            ("LD_PRELOAD".into(), self.lib.display().to_string()),
            ("UNSYNCED_ROOTS".into(), roots.join(":")),
            (
                "UNSYNCED_JOURNAL_DIR".into(),
                self.journals.display().to_string(),
            ),
        ];
        if let Some(s) = ignore_sync {
            env.push(("UNSYNCED_IGNORE_SYNC".into(), s.into()));
        }
        env
    }

    /// Cuts the power: undoes what no fsync covered under `roots`, for every journal written
    /// so far, then starts new journals. Every process that wrote must be dead.
    pub fn power_loss(&self, roots: &[PathBuf]) -> anyhow::Result<Undone> {
        let mut undone = Undone::default();
        let mut journals: Vec<PathBuf> = fs::read_dir(&self.journals)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        journals.sort();
        for journal in journals {
            let recs = parse(&fs::read(&journal)?)
                .with_context(|| format!("journal {}", journal.display()))?;
            undone.records += recs.len();
            undo(&recs, roots, &mut undone)?;
            fs::remove_file(&journal)?;
        }
        Ok(undone)
    }
}

/// Walks one process's journal newest first, undoing what nothing later made durable.
fn undo(recs: &[Rec], roots: &[PathBuf], undone: &mut Undone) -> anyhow::Result<()> {
    let mut paths = inodes(roots)?;
    // For the records walked so far (all later than the current one):
    let mut covered: HashMap<u64, u64> = HashMap::new(); // inode -> highest `covers`
    let mut dirs_synced: HashSet<u64> = HashSet::new();
    let mut ended: HashSet<u64> = HashSet::new(); // inodes unlinked later: nothing to undo
    for rec in recs.iter().rev() {
        match rec {
            Rec::Synced { ino, covers } => {
                let c = covered.entry(*ino).or_default();
                *c = (*c).max(*covers);
            }
            Rec::DirSynced { ino } => {
                dirs_synced.insert(*ino);
            }
            Rec::Ended { ino } => {
                ended.insert(*ino);
                covered.remove(ino);
            }
            Rec::Pre {
                seq,
                ino,
                offset,
                old_size,
                bytes,
            } => {
                if ended.contains(ino) || covered.get(ino).is_some_and(|c| c > seq) {
                    continue;
                }
                let Some(path) = paths.get(ino) else {
                    continue;
                };
                let f = OpenOptions::new().write(true).open(path)?;
                f.write_all_at(bytes, *offset)?;
                f.set_len(*old_size)?;
                undone.writes += 1;
            }
            Rec::Created { ino, parent } => {
                // Before its creation the inode number named another file (or none).
                if ended.remove(ino) {
                    covered.remove(ino);
                    continue;
                }
                covered.remove(ino);
                if dirs_synced.contains(parent) {
                    continue;
                }
                if let Some(path) = paths.remove(ino) {
                    if path.is_dir() {
                        fs::remove_dir_all(&path)?;
                    } else {
                        fs::remove_file(&path)?;
                    }
                    undone.created += 1;
                    paths.retain(|_, p| p.exists());
                }
            }
        }
    }
    Ok(())
}
