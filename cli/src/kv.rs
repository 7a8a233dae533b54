//! `cairn kv`: put, get, delete and list keys, and compare-and-swap transactions, from the command line through cairn-client.
//!
//! Output is one human-readable line per result on stdout. A `get` of a missing key prints
//! `(not found)` and returns a [`KeyNotFound`] error, so the binary exits with status 1 (the
//! caller can downcast to `KeyNotFound` to pick a distinct code or silence the message). A
//! compare-and-set mismatch also returns an error (exit 1) naming the current revision.
//! Deleting a missing key succeeds (`deleted=false`), as deletes are idempotent.

use cairn_client::{CompareOp, CompareTarget, KeyValue, Txn, TxnOp, TxnOpResult};

/// Put, get, delete and list keys.
#[derive(clap::Args, Debug)]
pub struct KvArgs {
    #[command(flatten)]
    endpoints: crate::endpoints_arg::EndpointsArg,
    #[command(subcommand)]
    cmd: KvCmd,
}

#[derive(clap::Subcommand, Debug)]
enum KvCmd {
    /// Set a key.
    Put {
        key: String,
        value: String,
        /// Only write if the key's current revision is this (0 = key must not exist).
        #[arg(long)]
        expect_revision: Option<u64>,
    },
    /// Read a key (exits 1 if it does not exist).
    Get {
        key: String,
        /// Read from the contacted node without a leader round trip (may be stale).
        #[arg(long)]
        serializable: bool,
    },
    /// Delete a key.
    Del {
        key: String,
        /// Only delete if the key's current revision is this.
        #[arg(long)]
        expect_revision: Option<u64>,
    },
    /// List keys with a prefix (all pages unless --limit is given).
    Range {
        /// Key prefix ("" lists every key).
        #[arg(default_value = "")]
        prefix: String,
        /// Return at most this many keys (one page) and print how to continue.
        #[arg(long)]
        limit: Option<u32>,
        /// Start strictly after this key (the `next` key of a previous page).
        #[arg(long)]
        start_after: Option<String>,
    },
    /// A compare-and-swap transaction: if every --if-rev/--if-value holds, the --put,
    /// --delete and --get operations run (in that order), else the --else-get reads. Exits 1
    /// if the compares failed.
    Txn {
        /// KEY=REV: the key's mod revision is REV (0: the key does not exist). Repeat.
        #[arg(long = "if-rev", value_name = "KEY=REV")]
        if_rev: Vec<String>,
        /// KEY=VALUE: the key's value is VALUE. Repeat.
        #[arg(long = "if-value", value_name = "KEY=VALUE")]
        if_value: Vec<String>,
        #[arg(long, value_name = "KEY=VALUE")]
        put: Vec<String>,
        #[arg(long, value_name = "KEY")]
        delete: Vec<String>,
        #[arg(long, value_name = "KEY")]
        get: Vec<String>,
        /// Keys to read when a compare fails.
        #[arg(long, value_name = "KEY")]
        else_get: Vec<String>,
    },
}

/// `KEY=VALUE` of a `--flag`.
fn pair<'a>(flag: &str, arg: &'a str) -> anyhow::Result<(&'a str, &'a str)> {
    arg.split_once('=')
        .ok_or_else(|| anyhow::anyhow!("{flag} {arg:?}: expected KEY=VALUE"))
}

/// `cairn kv txn` found a compare that did not hold.
#[derive(Debug)]
pub struct TxnFailed;

impl std::fmt::Display for TxnFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("transaction compares failed")
    }
}

impl std::error::Error for TxnFailed {}

fn txn(
    if_rev: &[String],
    if_value: &[String],
    put: &[String],
    delete: Vec<String>,
    get: Vec<String>,
    else_get: Vec<String>,
) -> anyhow::Result<Txn> {
    let mut t = Txn::new();
    for c in if_rev {
        let (k, rev) = pair("--if-rev", c)?;
        let rev: u64 = rev
            .parse()
            .map_err(|e| anyhow::anyhow!("--if-rev {c:?}: {e}"))?;
        t = t.when_at(k, rev);
    }
    for c in if_value {
        let (k, v) = pair("--if-value", c)?;
        t = t.when(k, CompareOp::Equal, CompareTarget::Value(v.into()));
    }
    let mut ops = Vec::new();
    for p in put {
        let (k, v) = pair("--put", p)?;
        ops.push(TxnOp::put(k, v));
    }
    ops.extend(delete.into_iter().map(TxnOp::delete));
    ops.extend(get.into_iter().map(TxnOp::get));
    Ok(t.and_then(ops)
        .or_else(else_get.into_iter().map(TxnOp::get)))
}

/// `cairn kv get` found no such key.
#[derive(Debug)]
pub struct KeyNotFound(pub String);

impl std::fmt::Display for KeyNotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "key not found: {}", self.0)
    }
}

impl std::error::Error for KeyNotFound {}

/// Runs one `cairn kv` subcommand. Errors (including [`KeyNotFound`]) mean exit status 1.
pub async fn run(args: KvArgs) -> anyhow::Result<()> {
    let client = args.endpoints.connect()?;
    match args.cmd {
        KvCmd::Put {
            key,
            value,
            expect_revision,
        } => {
            let rev = match expect_revision {
                Some(expected) => client.put_if(key, value, expected).await?,
                None => client.put(key, value).await?,
            };
            println!("put ok revision={rev}");
        }
        KvCmd::Get { key, serializable } => {
            let kv = if serializable {
                client.get_serializable(key.as_str()).await?
            } else {
                client.get(key.as_str()).await?
            };
            match kv {
                Some(kv) => println!("{}", format_kv(&kv)),
                None => {
                    println!("(not found)");
                    return Err(KeyNotFound(key).into());
                }
            }
        }
        KvCmd::Del {
            key,
            expect_revision,
        } => {
            let d = match expect_revision {
                Some(expected) => client.delete_if(key, expected).await?,
                None => client.delete(key).await?,
            };
            println!("del ok revision={} deleted={}", d.revision, d.deleted);
        }
        KvCmd::Range {
            prefix,
            limit,
            start_after,
        } => {
            let start_after = start_after.unwrap_or_default();
            match limit {
                Some(limit) => {
                    let page = client.range(prefix, start_after.as_bytes(), limit).await?;
                    for kv in &page.kvs {
                        println!("{}", format_kv(kv));
                    }
                    if let Some(next) = page.next_key {
                        // On stderr so stdout stays one line per key.
                        eprintln!("(more: --start-after '{}')", String::from_utf8_lossy(&next));
                    }
                }
                None if start_after.is_empty() => {
                    for kv in client.range_all(prefix).await? {
                        println!("{}", format_kv(&kv));
                    }
                }
                None => {
                    // Continue from a given key through to the end of the prefix.
                    let mut after = start_after.into_bytes();
                    loop {
                        let page = client.range(prefix.as_str(), &after, 0).await?;
                        for kv in &page.kvs {
                            println!("{}", format_kv(kv));
                        }
                        match page.next_key {
                            Some(next) => after = next,
                            None => break,
                        }
                    }
                }
            }
        }
        KvCmd::Txn {
            if_rev,
            if_value,
            put,
            delete,
            get,
            else_get,
        } => {
            let t = txn(&if_rev, &if_value, &put, delete, get, else_get)?;
            let r = client.txn(t).await?;
            for result in &r.results {
                match result {
                    TxnOpResult::Put => println!("put ok"),
                    TxnOpResult::Deleted(d) => println!("del ok deleted={d}"),
                    TxnOpResult::Get(Some(kv)) => println!("{}", format_kv(kv)),
                    TxnOpResult::Get(None) => println!("(not found)"),
                }
            }
            println!("txn succeeded={} revision={}", r.succeeded, r.revision);
            if !r.succeeded {
                return Err(TxnFailed.into());
            }
        }
    }
    Ok(())
}

/// `key = value (rev N, version V)`; non-UTF-8 bytes are shown lossily.
fn format_kv(kv: &KeyValue) -> String {
    format!(
        "{} = {} (rev {}, version {})",
        String::from_utf8_lossy(&kv.key),
        String::from_utf8_lossy(&kv.value),
        kv.mod_revision,
        kv.version
    )
}
