//! Users, roles and permissions on a 3-node cluster, through the Cairn client, `cairn ctl`
//! and an etcd client: no user means no access once auth is on, a user may touch only the
//! keys (and lock names) its roles cover, admin calls are root's, a revoked role stops a user
//! on every member at once, tokens expire and the client logs in again by itself, and with
//! client-certificate auth a certificate's common name is the user.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use cairn_client::{
    Client, ClientConfig, CreateWorkflow, Credentials, Error, ListOptions, LockOptions,
    SaveOptions, Target, UpdateWorkflow, WatchFilter,
};
use cairn_cluster_tests::ops::ctl;
use cairn_cluster_tests::{Cluster, ClusterOptions};
use etcd_client::{ConnectOptions, Permission};

const LEADER_WAIT: Duration = Duration::from_secs(20);

/// root (root role), alice (role `app`: readwrite on `app/`), then auth on. Through the etcd
/// API, as an operator would with etcdctl.
async fn set_up_users(cluster: &Cluster) {
    let tls = cluster.client_tls("root").unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let endpoints: Vec<String> = cluster
        .endpoints()
        .iter()
        .map(|e| format!("{scheme}://{e}"))
        .collect();
    let options = tls.map(|t| ConnectOptions::new().with_tls(t.tonic()));
    let mut etcd = etcd_client::Client::connect(endpoints, options)
        .await
        .unwrap();
    etcd.user_add("root", "rootpw", None).await.unwrap();
    etcd.user_grant_role("root", "root").await.unwrap();
    etcd.role_add("app").await.unwrap();
    etcd.role_grant_permission("app", Permission::read_write("app/").with_prefix())
        .await
        .unwrap();
    etcd.user_add("alice", "alicepw", None).await.unwrap();
    etcd.user_grant_role("alice", "app").await.unwrap();
    etcd.auth_enable().await.unwrap();
}

fn client_as(cluster: &Cluster, endpoints: Vec<String>, user: Option<(&str, &str)>) -> Client {
    let config = ClientConfig {
        credentials: user.map(|(u, p)| Credentials::new(u, p)),
        ..cluster.client_config().unwrap()
    };
    Client::with_config(endpoints, config).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_get_what_their_roles_allow_and_nothing_else() {
    let cluster = Cluster::start(3).await.unwrap();
    cluster.leader(LEADER_WAIT).await.unwrap();
    set_up_users(&cluster).await;
    let eps = cluster.endpoints();

    let anonymous = client_as(&cluster, eps.clone(), None);
    match anonymous.put("app/1", "v").await {
        Err(Error::Unauthenticated(m)) => assert!(m.contains("user name is empty"), "{m}"),
        other => panic!("a put without a user: {other:?}"),
    }
    let wrong = client_as(&cluster, eps.clone(), Some(("alice", "nope")));
    match wrong.get("app/1").await {
        Err(Error::Unauthenticated(m)) => assert!(m.contains("authentication failed"), "{m}"),
        other => panic!("a wrong password: {other:?}"),
    }

    let alice = client_as(&cluster, eps.clone(), Some(("alice", "alicepw")));
    let rev = alice.put("app/1", "v").await.unwrap();
    assert_eq!(alice.get("app/1").await.unwrap().unwrap().mod_revision, rev);
    assert!(matches!(
        alice.put("other", "v").await,
        Err(Error::PermissionDenied(_))
    ));
    assert!(matches!(
        alice.get("other").await,
        Err(Error::PermissionDenied(_))
    ));
    assert!(matches!(
        alice.range("", b"".as_slice(), 10).await,
        Err(Error::PermissionDenied(_))
    ));
    // Lock names are keys; the lock's lease (grant and keep-alive) needs only a user.
    let guard = alice
        .lock("app/lock", LockOptions::default())
        .await
        .unwrap();
    guard.release().await.unwrap();
    // Renewals over the keep-alive stream carry alice's token: a 1 s lease lives on.
    let lease = alice.grant_lease(Duration::from_secs(1)).await.unwrap();
    let keep = alice.keep_alive(&lease);
    let start = tokio::time::Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        assert!(!keep.is_lost(), "lease lost after {:?}", start.elapsed());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(alice.lease_time_to_live(lease.id).await.unwrap().is_some());
    assert!(matches!(
        alice.lock("jobs/lock", LockOptions::default()).await,
        Err(Error::PermissionDenied(_))
    ));
    let root = client_as(&cluster, eps.clone(), Some(("root", "rootpw")));
    assert!(
        root.get("other").await.unwrap().is_none(),
        "the denied put wrote nothing"
    );
    root.create_workflow(CreateWorkflow::new().id("wf-dev").namespace("dev"))
        .await
        .unwrap();

    // Workflows by namespace: granted with cairn ctl (root's), then alice works in `prod`
    // only, and cannot reach `dev`'s workflows by id either.
    fn denied<T: std::fmt::Debug>(r: Result<T, Error>) {
        assert!(matches!(r, Err(Error::PermissionDenied(_))), "{r:?}");
    }
    denied(
        alice
            .create_workflow(CreateWorkflow::new().namespace("prod"))
            .await,
    );
    let out = ctl(&eps, &["role", "grant-namespace", "app", "prod"])
        .await
        .unwrap();
    assert_eq!(out.code, 8, "no user, no grant: {out:?}");
    let grant = [
        "--user",
        "root:rootpw",
        "role",
        "grant-namespace",
        "app",
        "prod",
    ];
    let out = ctl(&eps, &grant).await.unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    let wf = alice
        .create_workflow(CreateWorkflow::new().id("wf-prod").namespace("prod"))
        .await
        .unwrap()
        .workflow;
    alice
        .transition(
            &wf.id,
            Target::event("start"),
            Some(wf.version),
            "alice",
            "go",
        )
        .await
        .unwrap();
    assert!(alice.workflow("wf-prod", true).await.unwrap().is_some());
    alice
        .save_checkpoint("wf-prod", br#"{"step":1}"#.to_vec(), SaveOptions::default())
        .await
        .unwrap();
    let listed = alice
        .list_workflows(&ListOptions::new().namespace("prod"))
        .await
        .unwrap();
    assert_eq!(listed.workflows.len(), 1);
    denied(
        alice
            .list_workflows(&ListOptions::new().namespace("dev"))
            .await,
    );
    // Across namespaces and in the namespace list, alice sees prod only; root sees both.
    let across = alice
        .list_workflows(&ListOptions::new().all_namespaces())
        .await
        .unwrap();
    let ids: Vec<&str> = across.workflows.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(ids, ["wf-prod"]);
    let names: Vec<String> = alice
        .namespaces()
        .await
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["prod"]);
    let all: Vec<String> = root
        .namespaces()
        .await
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(all, ["dev", "prod"]);
    denied(alice.workflow("wf-dev", false).await);
    denied(
        alice
            .transition("wf-dev", Target::event("start"), None, "alice", "")
            .await,
    );
    denied(alice.list_checkpoints("wf-dev", None, 10).await);
    // An upsert onto dev's workflow from a create that names prod.
    let onto_dev = CreateWorkflow::new()
        .id("wf-dev")
        .namespace("prod")
        .upsert(true);
    denied(alice.create_workflow(onto_dev).await);
    let mut watch = alice.watch(
        WatchFilter::new().workflows_in("dev", Vec::<String>::new()),
        0,
    );
    let first = tokio::time::timeout(Duration::from_secs(10), watch.recv())
        .await
        .unwrap();
    assert!(
        matches!(first, Some(Err(Error::PermissionDenied(_)))),
        "{first:?}"
    );
    let mut watch = alice.watch(WatchFilter::new().workflow("wf-prod"), 0);
    let update = UpdateWorkflow::new().set_label("k", "v");
    alice.update_workflow("wf-prod", update).await.unwrap();
    let item = tokio::time::timeout(Duration::from_secs(10), watch.recv())
        .await
        .unwrap();
    assert!(matches!(item, Some(Ok(_))), "{item:?}");
    let revoke = [
        "--user",
        "root:rootpw",
        "role",
        "revoke-namespace",
        "app",
        "prod",
    ];
    let out = ctl(&eps, &revoke).await.unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    denied(alice.workflow("wf-prod", false).await);

    // Admin calls through cairn ctl: root's only, and nothing changes when refused.
    let as_alice = ["--user", "alice:alicepw"];
    let backup = cluster.dir().join("alice.backup");
    let path = backup.to_str().unwrap();
    let out = ctl(&eps, &[&as_alice[..], &["backup", path]].concat())
        .await
        .unwrap();
    assert_eq!(out.code, 8, "{out:?}");
    assert!(!backup.exists(), "a refused backup left a file");
    let out = ctl(&eps, &[&as_alice[..], &["member", "remove", "3"]].concat())
        .await
        .unwrap();
    assert_eq!(out.code, 8, "{out:?}");
    // A namespace's writers cannot raise its limits; root can.
    let limits = ["namespace", "limits", "prod", "--max-workflows", "100"];
    let out = ctl(&eps, &[&as_alice[..], &limits[..]].concat())
        .await
        .unwrap();
    assert_eq!(out.code, 8, "{out:?}");
    let out = ctl(
        &eps,
        &[&["--user", "root:rootpw"][..], &limits[..]].concat(),
    )
    .await
    .unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json["limits"]["max_workflows"], 100, "{out:?}");
    let out = ctl(&eps, &["--user", "root:rootpw", "member", "list"])
        .await
        .unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json["members"].as_array().unwrap().len(), 3, "{out:?}");
    let out = ctl(&eps, &["member", "list"]).await.unwrap();
    assert_eq!(out.code, 8, "no user, no admin: {out:?}");

    // A revoked role stops alice at once on every member, whichever she talks to, and on a
    // watch stream she opened before.
    let mut alice_etcd = etcd_client::Client::connect(
        eps.clone(),
        Some(ConnectOptions::new().with_user("alice", "alicepw")),
    )
    .await
    .unwrap();
    let mut stream = alice_etcd.watch("app/w", None).await.unwrap();
    let created = stream.message().await.unwrap().unwrap();
    assert!(created.created() && !created.canceled());
    let mut etcd = etcd_client::Client::connect(
        eps.clone(),
        Some(ConnectOptions::new().with_user("root", "rootpw")),
    )
    .await
    .unwrap();
    etcd.user_revoke_role("alice", "app").await.unwrap();
    stream.watch("app/w2", None).await.unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(refused.canceled(), "{refused:?}");
    assert_eq!(refused.cancel_reason(), "etcdserver: permission denied");
    for ep in &eps {
        let alice = client_as(&cluster, vec![ep.clone()], Some(("alice", "alicepw")));
        assert!(
            matches!(
                alice.put("app/2", "v").await,
                Err(Error::PermissionDenied(_))
            ),
            "through {ep}"
        );
        assert!(
            matches!(alice.get("app/1").await, Err(Error::PermissionDenied(_))),
            "through {ep}"
        );
    }
    assert!(root.get("app/2").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expire_and_the_client_logs_in_again() {
    let opts = ClusterOptions {
        extra_args: vec!["--auth-token-ttl".into(), "1".into()],
        ..ClusterOptions::default()
    };
    let cluster = Cluster::start_with(3, opts).await.unwrap();
    cluster.leader(LEADER_WAIT).await.unwrap();
    set_up_users(&cluster).await;
    let eps = cluster.endpoints();

    // A token used after its second is refused as etcd refuses it...
    let mut etcd = etcd_client::Client::connect(
        eps.clone(),
        Some(ConnectOptions::new().with_user("alice", "alicepw")),
    )
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let refused = loop {
        match etcd.put("app/t", "v", None).await {
            Ok(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(_) => panic!("a 1 s token still worked after 10 s"),
            Err(e) => break e.to_string(),
        }
    };
    assert!(refused.contains("invalid auth token"), "{refused}");

    // ...while the Cairn client logs in again by itself and keeps working across three
    // token lifetimes.
    let alice = client_as(&cluster, eps, Some(("alice", "alicepw")));
    let start = tokio::time::Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        alice.put("app/t", "v").await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_client_cert_auth_the_certificate_names_the_user() {
    let opts = ClusterOptions {
        tls: true,
        ..ClusterOptions::default()
    };
    let cluster = Cluster::start_with(3, opts).await.unwrap();
    cluster.leader(LEADER_WAIT).await.unwrap();
    set_up_users(&cluster).await;
    let eps = cluster.endpoints();
    let as_cert = |user: &str| {
        let config = ClientConfig {
            tls: cluster.client_tls(user).unwrap(),
            ..ClientConfig::default()
        };
        Client::with_config(eps.clone(), config).unwrap()
    };
    let alice = as_cert("alice");
    alice.put("app/c", "v").await.unwrap();
    assert!(matches!(
        alice.put("other", "v").await,
        Err(Error::PermissionDenied(_))
    ));
    let root = as_cert("root");
    root.put("other", "v").await.unwrap();
    // A token wins over the certificate: alice's certificate, root's login.
    let config = ClientConfig {
        tls: cluster.client_tls("alice").unwrap(),
        credentials: Some(Credentials::new("root", "rootpw")),
        ..ClientConfig::default()
    };
    let both = Client::with_config(eps, config).unwrap();
    both.put("other", "w").await.unwrap();
}
