//! The `--endpoints` option shared by the client-side subcommands.

/// Client addresses of cluster nodes (any node works; the leader is found automatically).
#[derive(clap::Args, Debug, Clone)]
pub struct EndpointsArg {
    #[arg(
        long = "endpoints",
        env = "CAIRN_ENDPOINTS",
        value_delimiter = ',',
        default_value = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"
    )]
    pub list: Vec<String>,
}
