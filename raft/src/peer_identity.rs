//! Who is calling on the peer port. With peer TLS on, the TLS handshake has already checked that
//! the caller's certificate is signed by the peer CA; here the certificate is mapped to the node
//! it names, so a message that claims to come from node N (a vote, an append, a snapshot) is
//! taken only from N's certificate.
//!
//! A node's certificate names it with the DNS name [`node_name`]`(id)` (a subject alternative
//! name, or the common name). The same name is what a node checks when it dials node N, so both
//! directions of a peer connection are bound to node ids, not to addresses (which all nodes on
//! one host share).

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use tonic::Status;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::types::NodeId;

/// How the peer port decides whom it talks to.
#[derive(Clone, Debug, Default)]
pub enum PeerAuth {
    /// No peer TLS: every caller is trusted (a fully trusted network only).
    #[default]
    Open,
    /// Peer TLS with client certificates: the caller is the node its certificate names.
    Certificates {
        /// etcd's `--peer-cert-allowed-cn`: the certificate's common name must be this.
        allowed_cn: Option<String>,
    },
}

/// The caller of one peer RPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// No peer TLS: whoever it claims to be.
    Anyone,
    /// Proven by certificate.
    Node(NodeId),
}

impl Caller {
    /// Refuses a message that claims to come from `claimed` when the certificate names another
    /// node.
    pub fn check_claim(self, claimed: NodeId, what: &str) -> Result<(), Status> {
        match self {
            Caller::Node(id) if id != claimed => Err(Status::permission_denied(format!(
                "{what} claims to come from node {claimed}, but the certificate is node {id}'s"
            ))),
            _ => Ok(()),
        }
    }
}

/// The DNS name that identifies node `id` in its peer certificate.
pub fn node_name(id: NodeId) -> String {
    format!("node-{id}.cairn")
}

fn node_of_name(name: &str) -> Option<NodeId> {
    let id = name.strip_prefix("node-")?.strip_suffix(".cairn")?;
    // Canonical decimal only, so one id has one name.
    id.parse::<NodeId>()
        .ok()
        .filter(|n| *n > 0 && n.to_string() == id)
}

impl PeerAuth {
    /// Identifies the caller from the certificates of its TLS connection.
    pub fn caller(
        &self,
        certs: Option<Arc<Vec<CertificateDer<'static>>>>,
    ) -> Result<Caller, Status> {
        let PeerAuth::Certificates { allowed_cn } = self else {
            return Ok(Caller::Anyone);
        };
        let certs = certs.ok_or_else(|| {
            Status::permission_denied("the peer port takes calls from member certificates only")
        })?;
        let leaf = certs
            .first()
            .ok_or_else(|| Status::permission_denied("no client certificate"))?;
        let names = CertNames::parse(leaf).map_err(Status::permission_denied)?;
        if let Some(cn) = allowed_cn
            && names.common_name.as_deref() != Some(cn.as_str())
        {
            return Err(Status::permission_denied(format!(
                "certificate common name {:?} is not the allowed {cn:?}",
                names.common_name.unwrap_or_default()
            )));
        }
        names.node().map(Caller::Node).ok_or_else(|| {
            Status::permission_denied(
                "the certificate names no node (expected a DNS name node-<id>.cairn)",
            )
        })
    }
}

/// The names in a certificate that identify its holder.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CertNames {
    pub common_name: Option<String>,
    pub dns_names: Vec<String>,
}

impl CertNames {
    pub fn parse(der: &CertificateDer<'_>) -> Result<Self, String> {
        let (_, cert) = X509Certificate::from_der(der.as_ref())
            .map_err(|e| format!("unreadable certificate: {e}"))?;
        let common_name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_string);
        let mut dns_names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                if let GeneralName::DNSName(d) = name {
                    dns_names.push(d.to_string());
                }
            }
        }
        Ok(Self {
            common_name,
            dns_names,
        })
    }

    /// The node the names identify. Two different node names in one certificate identify
    /// nobody: such a certificate could speak for either node.
    pub fn node(&self) -> Option<NodeId> {
        let mut ids = self
            .dns_names
            .iter()
            .chain(self.common_name.iter())
            .filter_map(|n| node_of_name(n));
        let first = ids.next()?;
        ids.all(|id| id == first).then_some(first)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn names(cn: Option<&str>, dns: &[&str]) -> CertNames {
        CertNames {
            common_name: cn.map(str::to_string),
            dns_names: dns.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_certificate_names_one_node() {
        assert_eq!(names(None, &["localhost", "node-3.cairn"]).node(), Some(3));
        assert_eq!(names(Some("node-7.cairn"), &["localhost"]).node(), Some(7));
        assert_eq!(
            names(Some("node-2.cairn"), &["node-2.cairn"]).node(),
            Some(2)
        );
        assert_eq!(names(Some("root"), &["localhost"]).node(), None);
        // Ambiguous, non-canonical or zero ids name nobody.
        assert_eq!(names(None, &["node-1.cairn", "node-2.cairn"]).node(), None);
        assert_eq!(names(None, &["node-01.cairn"]).node(), None);
        assert_eq!(names(None, &["node-0.cairn"]).node(), None);
        assert_eq!(names(None, &["node-1.cairn.evil"]).node(), None);
    }

    #[test]
    fn claims_must_match_the_certificate() {
        assert!(Caller::Node(2).check_claim(2, "vote").is_ok());
        let err = Caller::Node(2).check_claim(3, "vote").unwrap_err();
        assert_eq!(err.code(), tonic::Code::PermissionDenied);
        assert!(Caller::Anyone.check_claim(3, "vote").is_ok());
    }

    #[test]
    fn without_certificates_tls_callers_are_refused() {
        let auth = PeerAuth::Certificates { allowed_cn: None };
        let err = auth.caller(None).unwrap_err();
        assert_eq!(err.code(), tonic::Code::PermissionDenied);
        assert_eq!(PeerAuth::Open.caller(None).unwrap(), Caller::Anyone);
    }
}
