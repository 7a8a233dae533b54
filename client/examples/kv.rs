//! A tour of the client against a running cluster (`cairn up` starts one locally):
//! put, get, compare-and-set (success and a deliberate mismatch), paged range, delete.
//!
//! Usage: `cargo run -p cairn-client --example kv -- [host:port,host:port,...]`

use cairn_client::{Client, Error};

const DEFAULT_ENDPOINTS: &str = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Accept either one comma-separated argument or several arguments.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let joined = if args.is_empty() {
        DEFAULT_ENDPOINTS.to_owned()
    } else {
        args.join(",")
    };
    let endpoints: Vec<&str> = joined
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let client = Client::connect(endpoints)?;
    println!("client {} -> {:?}", client.client_id(), client.endpoints());

    let rev = client.put("example/greeting", "hello").await?;
    println!("put example/greeting = hello at revision {rev}");

    match client.get("example/greeting").await? {
        Some(kv) => println!(
            "get example/greeting = {} (mod_revision {}, version {})",
            String::from_utf8_lossy(&kv.value),
            kv.mod_revision,
            kv.version
        ),
        None => println!("get example/greeting: not found"),
    }

    // Compare-and-set with the revision we just read succeeds...
    let cas_rev = client
        .put_if("example/greeting", "hello again", rev)
        .await?;
    println!("put_if(expected {rev}) ok at revision {cas_rev}");
    // ...and the same stale revision now fails with the key's current revision.
    match client.put_if("example/greeting", "lost update", rev).await {
        Err(Error::RevisionMismatch { current }) => {
            println!("put_if(expected {rev}) rejected: revision mismatch, current is {current}")
        }
        Ok(r) => println!("unexpected: stale put_if succeeded at {r}"),
        Err(e) => return Err(e.into()),
    }

    for i in 0..7 {
        client
            .put(format!("example/items/{i:02}"), format!("item {i}"))
            .await?;
    }
    // Page through the prefix three keys at a time.
    let mut start_after: Vec<u8> = Vec::new();
    let mut page_no = 1;
    loop {
        let page = client.range("example/items/", &start_after, 3).await?;
        let keys: Vec<_> = page
            .kvs
            .iter()
            .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
            .collect();
        println!(
            "range page {page_no} (revision {}): {keys:?}",
            page.revision
        );
        match page.next_key {
            Some(next) => start_after = next,
            None => break,
        }
        page_no += 1;
    }
    let all = client.range_all("example/").await?;
    println!("range_all example/: {} keys", all.len());

    let d = client.delete("example/greeting").await?;
    println!(
        "delete example/greeting: deleted={} at revision {}",
        d.deleted, d.revision
    );
    let d = client.delete("example/greeting").await?;
    println!(
        "delete again: deleted={} (deleting a missing key is not an error)",
        d.deleted
    );
    for kv in all
        .iter()
        .filter(|kv| kv.key.starts_with(b"example/items/"))
    {
        client.delete(kv.key.clone()).await?;
    }
    Ok(())
}
