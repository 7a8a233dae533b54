//! How `cairn ctl` reaches the cluster: ask every given endpoint for its status at once, learn
//! the membership (and so the other members' addresses) from the answers, ask those too, and
//! route changes to the leader. Admin calls target specific nodes and are not retried blindly:
//! a "not leader" answer that names the leader is followed once. With `--user`, the first
//! connection logs in (etcd's `Authenticate`) and every call carries the token.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use cairn_api::etcd_auth::etcdserverpb::AuthenticateRequest;
use cairn_api::etcd_auth::etcdserverpb::auth_client::AuthClient;
use cairn_api::v1::admin_client::AdminClient;
use cairn_api::v1::{Member, StatusRequest, StatusResponse};
use cairn_client::{Credentials, TlsOptions};
use tokio::sync::OnceCell;
use tokio::task::JoinSet;
use tonic::metadata::AsciiMetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use super::error::{CtlError, CtlResult};

/// `answer` as the survey keeps it, noting a refusal of the caller in `denied`.
fn note(
    denied: &mut Option<String>,
    (addr, answer): (String, CtlResult<StatusResponse>),
) -> (String, Result<StatusResponse, String>) {
    if let Err(CtlError::Denied(why)) = &answer {
        *denied = Some(why.clone());
    }
    (addr, answer.map_err(|e| e.to_string()))
}

/// Logs in as `creds` through `channel` (to `addr`); the token to send.
async fn login(channel: Channel, creds: &Credentials, addr: &str) -> CtlResult<AsciiMetadataValue> {
    let token = AuthClient::new(channel)
        .authenticate(AuthenticateRequest {
            name: creds.user.clone(),
            password: creds.password.clone(),
        })
        .await
        .map_err(|s| CtlError::from_status(addr, &s))?
        .into_inner()
        .token;
    token
        .parse()
        .map_err(|_| CtlError::Unavailable(format!("{addr}: the login token is not ASCII")))
}

/// The cluster as seen by one round of status calls.
#[derive(Debug, Default)]
pub struct Survey {
    /// Answer (or error text) by client address, for every endpoint and member asked.
    pub answers: BTreeMap<String, Result<StatusResponse, String>>,
    /// The membership from the most authoritative answer (the leader's, else the highest term).
    pub members: Vec<Member>,
    /// A member refused the caller (auth on): why, as that member said.
    pub denied: Option<String>,
}

impl Survey {
    pub fn leader(&self) -> Option<&StatusResponse> {
        self.answers
            .values()
            .filter_map(|a| a.as_ref().ok())
            .find(|s| s.state == "leader")
    }

    /// The status of member `id`, if it answered.
    pub fn status_of(&self, id: u64) -> Option<&StatusResponse> {
        self.answers
            .values()
            .filter_map(|a| a.as_ref().ok())
            .find(|s| s.id == id)
    }

    /// "no leader: 2 of 3 members unreachable", or the leader's answer.
    pub fn require_leader(&self) -> CtlResult<&StatusResponse> {
        if let Some(l) = self.leader() {
            return Ok(l);
        }
        let reachable = self.answers.values().filter(|a| a.is_ok()).count();
        if let (0, Some(why)) = (reachable, &self.denied) {
            return Err(CtlError::Denied(why.clone()));
        }
        if reachable == 0 {
            let errors: Vec<String> = self
                .answers
                .iter()
                .map(|(addr, a)| match a {
                    Err(e) => format!("{addr}: {e}"),
                    Ok(_) => addr.clone(),
                })
                .collect();
            return Err(CtlError::Unavailable(format!(
                "no member reachable ({})",
                errors.join("; ")
            )));
        }
        let total = self.members.len().max(self.answers.len());
        let down = self
            .members
            .iter()
            .filter(|m| self.status_of(m.id).is_none())
            .count();
        Err(CtlError::Unavailable(format!(
            "no leader: {down} of {total} members unreachable"
        )))
    }
}

/// A channel whose calls carry the login token, if any.
pub type AuthChannel = InterceptedService<Channel, AddToken>;

/// Adds etcd's `token` metadata to every call.
#[derive(Clone)]
pub struct AddToken(Option<AsciiMetadataValue>);

impl Interceptor for AddToken {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            req.metadata_mut().insert("token", token.clone());
        }
        Ok(req)
    }
}

pub struct Conn {
    endpoints: Vec<String>,
    timeout: Duration,
    tls: Option<TlsOptions>,
    credentials: Option<Credentials>,
    /// The token of the first login, shared by every channel of this command.
    token: Arc<OnceCell<AsciiMetadataValue>>,
}

impl Conn {
    pub fn new(
        endpoints: Vec<String>,
        timeout: Duration,
        tls: Option<TlsOptions>,
        credentials: Option<Credentials>,
    ) -> CtlResult<Self> {
        let endpoints: Vec<String> = endpoints
            .into_iter()
            .map(|e| {
                let e = e.trim();
                let e = e
                    .trim_start_matches("http://")
                    .trim_start_matches("https://");
                e.to_string()
            })
            .filter(|e| !e.is_empty())
            .collect();
        if endpoints.is_empty() {
            return Err(CtlError::Usage("no endpoints given (--endpoints)".into()));
        }
        Ok(Self {
            endpoints,
            timeout,
            tls,
            credentials,
            token: Arc::default(),
        })
    }

    /// A channel to `addr` (`host:port`). Connection setup is bounded separately so a dead
    /// host fails fast.
    pub async fn channel(&self, addr: &str) -> CtlResult<AuthChannel> {
        self.connect(addr, Some(self.timeout)).await
    }

    /// A channel without a per-request timeout, for calls that run long (snapshot builds,
    /// backup streams); the caller bounds them itself.
    pub async fn long_channel(&self, addr: &str) -> CtlResult<AuthChannel> {
        self.connect(addr, None).await
    }

    async fn connect(&self, addr: &str, timeout: Option<Duration>) -> CtlResult<AuthChannel> {
        let channel = self.plain_channel(addr, timeout).await?;
        let token = match &self.credentials {
            Some(creds) => Some(
                self.token
                    .get_or_try_init(|| login(channel.clone(), creds, addr))
                    .await?
                    .clone(),
            ),
            None => None,
        };
        Ok(InterceptedService::new(channel, AddToken(token)))
    }

    async fn plain_channel(&self, addr: &str, timeout: Option<Duration>) -> CtlResult<Channel> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))
            .map_err(|e| CtlError::Usage(format!("invalid endpoint {addr:?}: {e}")))?
            .connect_timeout(self.timeout.min(Duration::from_secs(2)));
        if let Some(tls) = &self.tls {
            endpoint = endpoint
                .tls_config(tls.tonic())
                .map_err(|e| CtlError::Usage(format!("TLS settings: {e}")))?;
        }
        if let Some(t) = timeout {
            endpoint = endpoint.timeout(t);
        }
        endpoint
            .connect()
            .await
            .map_err(|e| CtlError::Unavailable(format!("{addr}: cannot connect: {e}")))
    }

    /// A channel to the first endpoint that accepts one (for calls any member serves).
    pub async fn any_channel(&self) -> CtlResult<(String, AuthChannel)> {
        let mut last = None;
        for addr in &self.endpoints {
            match self.channel(addr).await {
                Ok(c) => return Ok((addr.clone(), c)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| CtlError::Usage("no endpoints given (--endpoints)".into())))
    }

    pub async fn admin(&self, addr: &str) -> CtlResult<AdminClient<AuthChannel>> {
        Ok(AdminClient::new(self.channel(addr).await?))
    }

    async fn status_at(&self, addr: String) -> (String, CtlResult<StatusResponse>) {
        let result = async {
            let mut c = self.admin(&addr).await?;
            c.status(StatusRequest {})
                .await
                .map(|r| r.into_inner())
                .map_err(|s| CtlError::from_status(&addr, &s))
        }
        .await;
        (addr, result)
    }

    async fn ask_all(&self, addrs: Vec<String>) -> Vec<(String, CtlResult<StatusResponse>)> {
        let mut set = JoinSet::new();
        for addr in addrs {
            let conn = Conn {
                endpoints: Vec::new(),
                timeout: self.timeout,
                tls: self.tls.clone(),
                credentials: self.credentials.clone(),
                token: self.token.clone(),
            };
            set.spawn(async move { conn.status_at(addr).await });
        }
        let mut out = Vec::new();
        while let Some(joined) = set.join_next().await {
            if let Ok(answer) = joined {
                out.push(answer);
            }
        }
        out
    }

    /// Status of every endpoint and every member they know of.
    pub async fn survey(&self) -> Survey {
        let mut survey = Survey::default();
        survey.answers.extend(
            self.ask_all(self.endpoints.clone())
                .await
                .into_iter()
                .map(|a| note(&mut survey.denied, a)),
        );
        survey.members = best_members(&survey);
        let missing: Vec<String> = survey
            .members
            .iter()
            .map(|m| m.client_addr.clone())
            .filter(|a| !survey.answers.contains_key(a))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !missing.is_empty() {
            let answers = self.ask_all(missing).await;
            survey
                .answers
                .extend(answers.into_iter().map(|a| note(&mut survey.denied, a)));
            survey.members = best_members(&survey);
        }
        survey
    }

    /// The leader's client address, from a fresh survey.
    pub async fn leader_addr(&self) -> CtlResult<(String, Survey)> {
        let survey = self.survey().await;
        let leader = survey.require_leader()?;
        let addr = survey
            .members
            .iter()
            .find(|m| m.id == leader.id)
            .map(|m| m.client_addr.clone())
            .or_else(|| {
                survey
                    .answers
                    .iter()
                    .find(|(_, a)| a.as_ref().is_ok_and(|s| s.id == leader.id))
                    .map(|(addr, _)| addr.clone())
            })
            .ok_or_else(|| CtlError::Unavailable("leader address unknown".into()))?;
        Ok((addr, survey))
    }

    /// Runs `call` on the leader. If that node answers "not leader" naming another (a new
    /// election just happened), the call is repeated there once.
    pub async fn on_leader<T, F, Fut>(&self, mut call: F) -> CtlResult<T>
    where
        F: FnMut(AdminClient<AuthChannel>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let (mut addr, _) = self.leader_addr().await?;
        for attempt in 0..2 {
            let client = self.admin(&addr).await?;
            match call(client).await {
                Ok(r) => return Ok(r.into_inner()),
                Err(s) => {
                    let hint = s
                        .metadata()
                        .get(cairn_api::meta::LEADER)
                        .and_then(|v| v.to_str().ok())
                        .filter(|h| !h.is_empty() && *h != addr)
                        .map(str::to_string);
                    match hint {
                        Some(h) if attempt == 0 && s.code() == tonic::Code::Unavailable => {
                            addr = h;
                        }
                        _ => return Err(CtlError::from_status(&addr, &s)),
                    }
                }
            }
        }
        Err(CtlError::Unavailable(
            "leadership moved during the call".into(),
        ))
    }
}

/// Members according to the leader's answer, else the answer with the highest term.
fn best_members(survey: &Survey) -> Vec<Member> {
    survey
        .leader()
        .or_else(|| {
            survey
                .answers
                .values()
                .filter_map(|a| a.as_ref().ok())
                .max_by_key(|s| s.term)
        })
        .map(|s| s.members.clone())
        .unwrap_or_default()
}
