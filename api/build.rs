//! Generates the tonic/prost code for Cairn's public API. protoc comes from the
//! protoc-bin-vendored crate so a fresh machine needs no system protobuf compiler.

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
    ];
    // BTreeMap for proto maps (workflow labels): the replicated types use BTreeMap, and a
    // sorted map keeps conversions and printed output deterministic.
    tonic_prost_build::configure()
        .btree_map(".cairn.v1")
        .compile_protos(&protos, &["proto"])?;
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    Ok(())
}
