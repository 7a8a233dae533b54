//! Runs an admin call where Cairn requires it: membership changes and leader transfer only
//! run on the leader, but an etcd client sends them to whichever member it is connected to
//! (etcd forwards them itself). So: try this node's admin service; if it answers "not the
//! leader" and names the leader, repeat the call on the leader's client port.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use cairn_api::meta;
use cairn_api::v1::admin_client::AdminClient;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::error::Error;
use crate::services::admin::AdminService;
use crate::tls::ClientDialer;

/// Bounds the forwarded call; a membership change waits for its commit, a leader transfer for
/// the new leader (5 s in the admin service).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(15);

/// The leader's client address when `s` is Cairn's "not the leader" naming one.
fn leader_of(s: &Status) -> Option<String> {
    if s.code() != Code::Unavailable {
        return None;
    }
    let addr = s.metadata().get(meta::LEADER)?.to_str().ok()?;
    (!addr.is_empty()).then(|| addr.to_string())
}

async fn connect(dialer: &ClientDialer, addr: &str) -> Result<AdminClient<Channel>, Status> {
    let channel = dialer
        .endpoint(addr, Duration::from_secs(2))
        .map_err(|e| Error::Unavailable(format!("leader address {addr}: {e:#}")))?
        .timeout(FORWARD_TIMEOUT)
        .connect()
        .await
        .map_err(|e| Error::Unavailable(format!("cannot reach the leader at {addr}: {e}")))?;
    Ok(AdminClient::new(channel))
}

/// `local` on this node; on "not the leader", `remote` on the leader.
pub async fn on_leader<T, L, LF, R, RF>(
    admin: &Arc<AdminService>,
    local: L,
    remote: R,
) -> Result<T, Status>
where
    L: FnOnce(Arc<AdminService>) -> LF,
    LF: Future<Output = Result<tonic::Response<T>, Status>>,
    R: FnOnce(AdminClient<Channel>) -> RF,
    RF: Future<Output = Result<tonic::Response<T>, Status>>,
{
    match local(admin.clone()).await {
        Ok(r) => Ok(r.into_inner()),
        Err(s) => match leader_of(&s) {
            Some(addr) => Ok(remote(connect(admin.dialer(), &addr).await?)
                .await?
                .into_inner()),
            None => Err(s),
        },
    }
}
