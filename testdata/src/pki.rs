//! A throwaway PKI for local clusters (`cairn up --tls`) and the TLS tests: one CA, a
//! certificate per node that names it (`node-<id>.cairn`, the name the peer port checks) and is
//! valid for 127.0.0.1 and localhost on every port, and client certificates whose common name
//! is the user (as etcd's `--client-cert-auth` reads it). Never for production: the CA key sits
//! next to the certificates.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// Where one certificate and its key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The files of a generated PKI.
#[derive(Debug, Clone)]
pub struct Pki {
    pub dir: PathBuf,
    pub ca: PathBuf,
}

impl Pki {
    pub fn node(&self, id: u64) -> CertPair {
        pair(&self.dir, &format!("node-{id}"))
    }

    pub fn client(&self, user: &str) -> CertPair {
        pair(&self.dir, &format!("client-{user}"))
    }

    /// The `cairn serve` flags that turn TLS on for node `id` on every port, with client
    /// certificates required on the client port as on the peer port.
    pub fn serve_flags(&self, id: u64) -> Vec<std::ffi::OsString> {
        let node = self.node(id);
        let mut flags = Vec::new();
        for (flag, path) in [
            ("--cert-file", &node.cert),
            ("--key-file", &node.key),
            ("--trusted-ca-file", &self.ca),
            ("--peer-cert-file", &node.cert),
            ("--peer-key-file", &node.key),
            ("--peer-trusted-ca-file", &self.ca),
        ] {
            flags.push(flag.into());
            flags.push(path.into());
        }
        flags.push("--client-cert-auth".into());
        flags
    }

    /// Whether `generate` already ran here for these nodes and users (a resumed cluster keeps
    /// its certificates).
    pub fn complete(&self, nodes: &[u64], users: &[&str]) -> bool {
        let pairs = nodes
            .iter()
            .map(|id| self.node(*id))
            .chain(users.iter().map(|u| self.client(u)));
        self.ca.exists() && pairs.into_iter().all(|p| p.cert.exists() && p.key.exists())
    }
}

fn pair(dir: &Path, name: &str) -> CertPair {
    CertPair {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}-key.pem")),
    }
}

pub type Error = Box<dyn std::error::Error + Send + Sync>;

fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()).into())
}

/// Private keys are readable by their owner only.
fn write_key(path: &Path, text: &str) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("write {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// The PKI under `dir` (not generated).
pub fn at(dir: &Path) -> Pki {
    Pki {
        dir: dir.to_path_buf(),
        ca: dir.join("ca.pem"),
    }
}

/// Generates a CA and certificates for `nodes` and `users` under `dir` (created if missing),
/// replacing any there.
pub fn generate(dir: &Path, nodes: &[u64], users: &[&str]) -> Result<Pki, Error> {
    std::fs::create_dir_all(dir)?;
    let pki = at(dir);
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(DnType::CommonName, "cairn throwaway CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate()?;
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = CertifiedIssuer::self_signed(ca, ca_key)?;
    write(&pki.ca, &issuer.pem())?;
    write_key(&dir.join("ca-key.pem"), &ca_key_pem)?;

    let issue = |pair: CertPair, cn: &str, sans: Vec<String>, server: bool| -> Result<(), Error> {
        let mut params = CertificateParams::new(sans)?;
        params.distinguished_name.push(DnType::CommonName, cn);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = if server {
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ]
        } else {
            vec![ExtendedKeyUsagePurpose::ClientAuth]
        };
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &issuer)?;
        write(&pair.cert, &cert.pem())?;
        write_key(&pair.key, &key.serialize_pem())
    };
    for id in nodes {
        let name = format!("node-{id}.cairn");
        let sans = vec![name.clone(), "localhost".into(), "127.0.0.1".into()];
        issue(pki.node(*id), &name, sans, true)?;
    }
    for user in users {
        issue(pki.client(user), user, Vec::new(), false)?;
    }
    Ok(pki)
}
