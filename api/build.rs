//! Generates the tonic/prost code for Cairn's public API (and, with the `etcd` feature,
//! etcd's v3lock/v3election services; always etcd's Auth service). protoc comes from the protoc-bin-vendored crate so a
//! fresh machine needs no system protobuf compiler.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("PROTOC").is_none() {
        let protoc = protoc_bin_vendored::protoc_bin_path()?;
        // SAFETY: build scripts are single-threaded; nothing else reads the environment now.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("PROTOC", protoc)
        };
    }
    let protos = [
        "proto/cairn/v1/kv.proto",
        "proto/cairn/v1/admin.proto",
        "proto/cairn/v1/workflow.proto",
        "proto/cairn/v1/checkpoint.proto",
        "proto/cairn/v1/watch.proto",
        "proto/cairn/v1/coord.proto",
        "proto/cairn/v1/step.proto",
    ];
    // BTreeMap for proto maps (workflow labels): the replicated types use BTreeMap, and a
    // sorted map keeps conversions and printed output deterministic.
    tonic_prost_build::configure()
        .btree_map(".cairn.v1")
        .compile_protos(&protos, &["proto"])?;
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    etcd_auth()?;
    if std::env::var_os("CARGO_FEATURE_ETCD").is_some() {
        etcd()?;
    }
    Ok(())
}

/// etcd's Auth service, always: the Cairn client logs in through it (`Authenticate`) and the
/// server serves it. Generated with its own ResponseHeader into a directory of its own, so it
/// needs no etcd-client and cannot collide with the `etcd` feature's files.
fn etcd_auth() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("etcd-auth");
    std::fs::create_dir_all(&out)?;
    let protos = ["proto/etcd/etcdserverpb/auth.proto"];
    tonic_prost_build::configure()
        .out_dir(&out)
        .compile_protos(&protos, &["proto"])?;
    for p in protos.iter().chain(&[
        "proto/etcd/etcdserverpb/header.proto",
        "proto/etcd/authpb/auth.proto",
    ]) {
        println!("cargo:rerun-if-changed={p}");
    }
    Ok(())
}

/// v3lock and v3election import etcd's ResponseHeader and KeyValue. Our minimal copies of
/// those two messages only let protoc check the imports; extern_path makes the generated code
/// use etcd-client's types, so a service builds its headers and key-values with the same
/// types as the KV/Lease/Cluster/Maintenance services.
fn etcd() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/etcd/v3lockpb/v3lock.proto",
        "proto/etcd/v3electionpb/v3election.proto",
    ];
    tonic_prost_build::configure()
        .extern_path(
            ".etcdserverpb.ResponseHeader",
            "::etcd_client::proto::PbResponseHeader",
        )
        .extern_path(".mvccpb.KeyValue", "::etcd_client::proto::PbKeyValue")
        .compile_protos(&protos, &["proto"])?;
    for p in protos.iter().chain(&[
        "proto/etcd/etcdserverpb/header.proto",
        "proto/etcd/mvccpb/kv.proto",
    ]) {
        println!("cargo:rerun-if-changed={p}");
    }
    Ok(())
}
