//! TLS settings, named as etcd names them: flags, `CAIRN_*` environment variables, and a `[tls]`
//! table in the TOML file with the same names (`cert_file = "..."`).

use std::path::PathBuf;

use anyhow::bail;
use serde::Deserialize;

#[derive(clap::Args, Debug, Default, Clone)]
pub struct TlsArgs {
    /// Certificate (PEM chain) of the client and HTTP ports; turns TLS on for them.
    #[arg(long, env = "CAIRN_CERT_FILE")]
    pub cert_file: Option<PathBuf>,
    /// Private key of `--cert-file`.
    #[arg(long, env = "CAIRN_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// CA that signs client certificates (and the other members' client-port certificates,
    /// which this node checks when it calls them).
    #[arg(long, env = "CAIRN_TRUSTED_CA_FILE")]
    pub trusted_ca_file: Option<PathBuf>,
    /// Require a client certificate signed by `--trusted-ca-file` on the client port.
    #[arg(long, env = "CAIRN_CLIENT_CERT_AUTH")]
    pub client_cert_auth: bool,
    /// Certificate of the peer port, also presented when calling peers; must name the node
    /// (DNS name `node-<id>.cairn`). Turns peer TLS on.
    #[arg(long, env = "CAIRN_PEER_CERT_FILE")]
    pub peer_cert_file: Option<PathBuf>,
    #[arg(long, env = "CAIRN_PEER_KEY_FILE")]
    pub peer_key_file: Option<PathBuf>,
    /// CA that signs every member's peer certificate (required with peer TLS).
    #[arg(long, env = "CAIRN_PEER_TRUSTED_CA_FILE")]
    pub peer_trusted_ca_file: Option<PathBuf>,
    /// Accepted for etcd compatibility: with peer TLS, client certificates are always required.
    #[arg(long, env = "CAIRN_PEER_CLIENT_CERT_AUTH")]
    pub peer_client_cert_auth: bool,
    /// Peer certificates must carry this common name (etcd's flag).
    #[arg(long, env = "CAIRN_PEER_CERT_ALLOWED_CN")]
    pub peer_cert_allowed_cn: Option<String>,
}

/// The `[tls]` table of the TOML file.
#[derive(Deserialize, Default, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    trusted_ca_file: Option<PathBuf>,
    #[serde(default)]
    client_cert_auth: bool,
    peer_cert_file: Option<PathBuf>,
    peer_key_file: Option<PathBuf>,
    peer_trusted_ca_file: Option<PathBuf>,
    #[serde(default)]
    peer_client_cert_auth: bool,
    peer_cert_allowed_cn: Option<String>,
}

/// A certificate, its key, and the CA that checks the other side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: Option<PathBuf>,
}

impl CertFiles {
    pub fn paths(&self) -> Vec<PathBuf> {
        [Some(&self.cert), Some(&self.key), self.ca.as_ref()]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }
}

/// TLS of the client and HTTP ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTls {
    pub files: CertFiles,
    pub client_cert_auth: bool,
}

/// TLS of the peer port (client certificates always required; `files.ca` always set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerTls {
    pub files: CertFiles,
    pub allowed_cn: Option<String>,
}

/// Resolved TLS settings: `None` is plaintext.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    pub client: Option<ClientTls>,
    pub peer: Option<PeerTls>,
}

/// A certificate and its key come together.
fn pair(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    names: (&str, &str),
) -> anyhow::Result<Option<(PathBuf, PathBuf)>> {
    match (cert, key) {
        (Some(c), Some(k)) => Ok(Some((c, k))),
        (None, None) => Ok(None),
        (Some(_), None) => bail!("--{} needs --{}", names.0, names.1),
        (None, Some(_)) => bail!("--{} needs --{}", names.1, names.0),
    }
}

impl TlsConfig {
    /// Flags and env first, then the file; checks that the settings make sense together (the
    /// files themselves are loaded when the node starts).
    pub fn resolve(args: &TlsArgs, file: Option<TlsFile>) -> anyhow::Result<Self> {
        let file = file.unwrap_or_default();
        let or = |a: &Option<PathBuf>, f: Option<PathBuf>| a.clone().or(f);
        let client_ca = or(&args.trusted_ca_file, file.trusted_ca_file);
        let client_cert_auth = args.client_cert_auth || file.client_cert_auth;
        let client = match pair(
            or(&args.cert_file, file.cert_file),
            or(&args.key_file, file.key_file),
            ("cert-file", "key-file"),
        )? {
            Some((cert, key)) => {
                if client_cert_auth && client_ca.is_none() {
                    bail!("--client-cert-auth needs --trusted-ca-file");
                }
                Some(ClientTls {
                    files: CertFiles {
                        cert,
                        key,
                        ca: client_ca,
                    },
                    client_cert_auth,
                })
            }
            None if client_cert_auth || client_ca.is_some() => {
                bail!("--client-cert-auth and --trusted-ca-file need --cert-file and --key-file")
            }
            None => None,
        };
        let peer_ca = or(&args.peer_trusted_ca_file, file.peer_trusted_ca_file);
        let allowed_cn = args
            .peer_cert_allowed_cn
            .clone()
            .or(file.peer_cert_allowed_cn);
        let peer = match pair(
            or(&args.peer_cert_file, file.peer_cert_file),
            or(&args.peer_key_file, file.peer_key_file),
            ("peer-cert-file", "peer-key-file"),
        )? {
            Some((cert, key)) => {
                let Some(ca) = peer_ca else {
                    bail!(
                        "peer TLS needs --peer-trusted-ca-file: the peer port accepts member \
                         certificates only"
                    );
                };
                Some(PeerTls {
                    files: CertFiles {
                        cert,
                        key,
                        ca: Some(ca),
                    },
                    allowed_cn,
                })
            }
            None if peer_ca.is_some()
                || allowed_cn.is_some()
                || args.peer_client_cert_auth
                || file.peer_client_cert_auth =>
            {
                bail!(
                    "--peer-trusted-ca-file, --peer-client-cert-auth and --peer-cert-allowed-cn \
                     need --peer-cert-file and --peer-key-file"
                )
            }
            None => None,
        };
        Ok(Self { client, peer })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn args(pairs: &[(&str, &str)]) -> TlsArgs {
        let mut a = TlsArgs::default();
        for (k, v) in pairs {
            let p = Some(PathBuf::from(v));
            match *k {
                "cert" => a.cert_file = p,
                "key" => a.key_file = p,
                "ca" => a.trusted_ca_file = p,
                "auth" => a.client_cert_auth = true,
                "peer-cert" => a.peer_cert_file = p,
                "peer-key" => a.peer_key_file = p,
                "peer-ca" => a.peer_trusted_ca_file = p,
                "cn" => a.peer_cert_allowed_cn = Some(v.to_string()),
                _ => panic!("{k}"),
            }
        }
        a
    }

    #[test]
    fn plaintext_by_default() {
        assert_eq!(
            TlsConfig::resolve(&TlsArgs::default(), None).unwrap(),
            TlsConfig::default()
        );
    }

    #[test]
    fn full_settings_resolve() {
        let a = args(&[
            ("cert", "c.pem"),
            ("key", "k.pem"),
            ("ca", "ca.pem"),
            ("auth", ""),
            ("peer-cert", "pc.pem"),
            ("peer-key", "pk.pem"),
            ("peer-ca", "pca.pem"),
            ("cn", "cairn-peer"),
        ]);
        let c = TlsConfig::resolve(&a, None).unwrap();
        let client = c.client.unwrap();
        assert!(client.client_cert_auth);
        assert_eq!(client.files.ca, Some(PathBuf::from("ca.pem")));
        let peer = c.peer.unwrap();
        assert_eq!(peer.files.ca, Some(PathBuf::from("pca.pem")));
        assert_eq!(peer.allowed_cn.as_deref(), Some("cairn-peer"));
    }

    #[test]
    fn toml_table_fills_what_flags_leave() {
        let file: TlsFile = toml::from_str(
            "cert_file = \"c.pem\"\nkey_file = \"k.pem\"\ntrusted_ca_file = \"ca.pem\"\n\
             client_cert_auth = true\n",
        )
        .unwrap();
        let c = TlsConfig::resolve(&args(&[("cert", "flag.pem")]), Some(file)).unwrap();
        let client = c.client.unwrap();
        assert_eq!(client.files.cert, PathBuf::from("flag.pem"));
        assert_eq!(client.files.key, PathBuf::from("k.pem"));
        assert!(client.client_cert_auth);
    }

    #[test]
    fn inconsistent_settings_are_refused() {
        for (what, a) in [
            ("cert without key", args(&[("cert", "c")])),
            ("key without cert", args(&[("key", "k")])),
            (
                "auth without ca",
                args(&[("cert", "c"), ("key", "k"), ("auth", "")]),
            ),
            ("ca without cert", args(&[("ca", "ca")])),
            (
                "peer without ca",
                args(&[("peer-cert", "c"), ("peer-key", "k")]),
            ),
            ("peer ca alone", args(&[("peer-ca", "ca")])),
            ("allowed cn alone", args(&[("cn", "x")])),
        ] {
            assert!(TlsConfig::resolve(&a, None).is_err(), "{what} accepted");
        }
    }
}
