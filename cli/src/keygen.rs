//! `cairn keygen`: makes or rotates an encryption key file for `--encryption-key-file`. A new
//! key goes first (it seals new data from then on); the keys already in the file stay after
//! it, so what they sealed still opens. The file is written whole under a temporary name and
//! renamed, readable by its owner only.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use cairn_storage::seal::KeyRing;

#[derive(clap::Args, Debug)]
pub struct KeygenArgs {
    /// The key file to create, or to rotate (the new key is put first).
    pub file: PathBuf,
    /// The new key's id (default: one above the largest in the file, or 1).
    #[arg(long)]
    pub id: Option<u32>,
}

pub fn run(args: &KeygenArgs) -> anyhow::Result<()> {
    let existing = match std::fs::read_to_string(&args.file) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("read {}", args.file.display())),
    };
    let ids: Vec<u32> = match &existing {
        Some(text) => {
            let ring = KeyRing::parse(text)?;
            ring.ids()
        }
        None => Vec::new(),
    };
    let id = match args.id {
        Some(id) if ids.contains(&id) => bail!("key id {id} is already in {}", args.file.display()),
        Some(0) => bail!("key ids start at 1"),
        Some(id) => id,
        None => ids.iter().max().map_or(Ok(1), |m| {
            m.checked_add(1).context("no key id left above the largest")
        })?,
    };
    let line = KeyRing::generate_line(id).map_err(|_| anyhow::anyhow!("no randomness"))?;
    let text = match &existing {
        Some(old) => format!("{line}\n{old}"),
        None => format!("# cairn encryption keys: the first seals new data, all open it\n{line}\n"),
    };
    KeyRing::parse(&text)?;
    write_private(&args.file, &text)?;
    println!(
        "key {id} written to {} ({}); give every node the same file",
        args.file.display(),
        if existing.is_some() {
            "first of the file: it seals new data now"
        } else {
            "new file"
        }
    );
    Ok(())
}

/// Writes `text` to `path` via a temporary file in the same directory, mode 0600, fsynced.
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("create {}", tmp.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("rename to {}", path.display()))?;
    Ok(())
}
