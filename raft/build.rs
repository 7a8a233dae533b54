//! Generates the peer-protocol tonic code; protoc comes from protoc-bin-vendored.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("PROTOC").is_none() {
        let protoc = protoc_bin_vendored::protoc_bin_path()?;
        // SAFETY: build scripts are single-threaded; nothing else reads the environment now.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("PROTOC", protoc)
        };
    }
    tonic_prost_build::configure()
        .bytes(".")
        .compile_protos(&["proto/peer.proto"], &["proto"])?;
    println!("cargo:rerun-if-changed=proto/peer.proto");
    Ok(())
}
