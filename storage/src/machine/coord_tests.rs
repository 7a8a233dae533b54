//! Leases, locks and elections: FIFO grants with increasing tokens, release by the holder
//! only, lease end releasing everything attached at once, expiry only when due by command
//! time, renewal on leader change, and fenced writes refused once the fence is stale.

use cairn_model::command::{Command, CommandError, Response};
use cairn_model::coord::{CoordCommand, CoordError, CoordReply, Fence, LeaseChoice};

use crate::StateMachineStore;
use crate::test_util::{normal, put, req, temp_store};

struct Harness {
    sm: StateMachineStore,
    _dir: tempfile::TempDir,
    next: u64,
    now: u64,
}

impl Harness {
    async fn new() -> Self {
        let (dir, _log, sm) = temp_store().await;
        Self {
            sm,
            _dir: dir,
            next: 1,
            now: 1_000,
        }
    }

    fn raw(&mut self, command: Command, fence: Option<Fence>) -> (u64, Response) {
        let index = self.next;
        self.next += 1;
        let mut r = req(command, self.now, None);
        r.fence = fence;
        let out = self.sm.apply_batch(&[normal(index, r)]).unwrap();
        (index, out.into_iter().next().unwrap())
    }

    fn apply(&mut self, cmd: CoordCommand) -> Result<CoordReply, CoordError> {
        match self.raw(Command::Coord(cmd), None).1 {
            Response::Coord { reply, .. } => Ok(reply),
            Response::Rejected(CommandError::Coord(e)) => Err(e),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn acquire(&mut self, name: &str, owner: &str, lease: LeaseChoice, wait: bool) -> CoordReply {
        self.apply(CoordCommand::Acquire {
            name: name.into(),
            owner: owner.into(),
            lease,
            wait,
        })
        .unwrap()
    }

    fn lease(&mut self, ttl_ms: u64) -> u64 {
        match self
            .apply(CoordCommand::GrantLease { id: None, ttl_ms })
            .unwrap()
        {
            CoordReply::Lease { id, .. } => id,
            other => panic!("{other:?}"),
        }
    }
}

fn token(r: &CoordReply) -> u64 {
    match r {
        CoordReply::Acquired { token, .. } | CoordReply::Elected { term: token, .. } => *token,
        other => panic!("not a grant: {other:?}"),
    }
}

#[tokio::test]
async fn locks_are_granted_in_line_with_increasing_tokens() {
    let mut h = Harness::new().await;
    let (la, lb, lc) = (h.lease(10_000), h.lease(10_000), h.lease(10_000));
    let a = h.acquire("jobs/1", "a", LeaseChoice::Existing(la), true);
    let t1 = token(&a);
    // Asking again changes nothing (not re-entrant: one release frees it).
    assert_eq!(h.acquire("jobs/1", "a", LeaseChoice::Existing(la), true), a);
    assert!(matches!(
        h.acquire("jobs/1", "b", LeaseChoice::Existing(lb), false),
        CoordReply::Busy { .. }
    ));
    assert!(matches!(
        h.acquire("jobs/1", "b", LeaseChoice::Existing(lb), true),
        CoordReply::Queued { position: 1, .. }
    ));
    assert!(matches!(
        h.acquire("jobs/1", "c", LeaseChoice::Existing(lc), true),
        CoordReply::Queued { position: 2, .. }
    ));
    assert_eq!(
        h.apply(CoordCommand::Release {
            name: "jobs/1".into(),
            owner: "b".into(),
            token: t1,
        }),
        Err(CoordError::NotHolder {
            name: "jobs/1".into(),
            owner: "b".into(),
            token: t1
        })
    );
    let r = h
        .apply(CoordCommand::Release {
            name: "jobs/1".into(),
            owner: "a".into(),
            token: t1,
        })
        .unwrap();
    let CoordReply::Released { next: Some(next) } = r else {
        panic!("{r:?}")
    };
    assert_eq!(next.owner, "b");
    assert!(next.token > t1, "every grant gets a larger token");
    // c gives up waiting; b's release then leaves the lock free (and its record gone).
    h.apply(CoordCommand::CancelWait {
        name: "jobs/1".into(),
        owner: "c".into(),
    })
    .unwrap();
    h.apply(CoordCommand::Release {
        name: "jobs/1".into(),
        owner: "b".into(),
        token: next.token,
    })
    .unwrap();
    assert!(h.sm.coord_reader().lock("jobs/1").unwrap().is_none());
    assert!(
        h.sm.coord_reader()
            .lease(lc)
            .unwrap()
            .unwrap()
            .attached
            .is_empty()
    );
}

#[tokio::test]
async fn a_lease_ending_releases_everything_attached_at_once() {
    let mut h = Harness::new().await;
    let a = token(&h.acquire("x", "a", LeaseChoice::New { ttl_ms: 5_000 }, true));
    let la =
        h.sm.coord_reader()
            .lock("x")
            .unwrap()
            .unwrap()
            .holder
            .unwrap()
            .lease;
    h.acquire("y", "a", LeaseChoice::Existing(la), true);
    let lb = h.lease(60_000);
    h.acquire("x", "b", LeaseChoice::Existing(lb), true);
    h.apply(CoordCommand::Campaign {
        election: "coord".into(),
        candidate: "a".into(),
        value: b"node-a".to_vec(),
        lease: LeaseChoice::Existing(la),
    })
    .unwrap();

    // Not due yet at command time: nothing expires.
    h.now = 5_999;
    assert_eq!(
        h.apply(CoordCommand::ExpireLeases { ids: vec![la, lb] }),
        Ok(CoordReply::LeasesEnded { ids: vec![] })
    );
    h.now = 6_000;
    assert_eq!(
        h.apply(CoordCommand::ExpireLeases { ids: vec![la] }),
        Ok(CoordReply::LeasesEnded { ids: vec![la] })
    );
    let reader = h.sm.coord_reader();
    let x = reader.lock("x").unwrap().unwrap().holder.unwrap();
    assert_eq!(x.owner, "b");
    assert!(x.token > a);
    assert!(reader.lock("y").unwrap().is_none());
    assert!(reader.election("coord").unwrap().is_none());
    assert!(reader.lease(la).unwrap().is_none());
    assert_eq!(
        h.apply(CoordCommand::KeepAlive { id: la }),
        Err(CoordError::UnknownLease(la))
    );
}

#[tokio::test]
async fn renewal_on_leader_change_never_shortens_a_lease() {
    let mut h = Harness::new().await;
    let l = h.lease(10_000);
    assert_eq!(
        h.sm.coord_reader().lease(l).unwrap().unwrap().expires_ms,
        11_000
    );
    // A new leader takes over at t=4 s: the lease gets a full TTL from then.
    h.now = 4_000;
    h.apply(CoordCommand::RenewLeases { ids: vec![l, 999] })
        .unwrap();
    assert_eq!(
        h.sm.coord_reader().lease(l).unwrap().unwrap().expires_ms,
        14_000
    );
    // A slow clock renewing later in the log cannot move expiry backwards.
    h.now = 2_000;
    h.apply(CoordCommand::KeepAlive { id: l }).unwrap();
    assert_eq!(
        h.sm.coord_reader().lease(l).unwrap().unwrap().expires_ms,
        14_000
    );
    assert!(matches!(
        h.apply(CoordCommand::GrantLease {
            id: None,
            ttl_ms: 0
        }),
        Err(CoordError::InvalidTtl { .. })
    ));
    assert!(matches!(
        h.apply(CoordCommand::GrantLease {
            id: Some(l),
            ttl_ms: 5
        }),
        Err(CoordError::LeaseExists(_))
    ));
}

#[tokio::test]
async fn elections_hand_terms_down_the_line_and_only_the_leader_proclaims() {
    let mut h = Harness::new().await;
    let campaign = |h: &mut Harness, who: &str| {
        h.apply(CoordCommand::Campaign {
            election: "coordinator".into(),
            candidate: who.into(),
            value: who.as_bytes().to_vec(),
            lease: LeaseChoice::New { ttl_ms: 10_000 },
        })
        .unwrap()
    };
    let t1 = token(&campaign(&mut h, "n1"));
    assert!(matches!(
        campaign(&mut h, "n2"),
        CoordReply::Queued { position: 1, .. }
    ));
    let proclaim = |h: &mut Harness, who: &str, term| {
        h.apply(CoordCommand::Proclaim {
            election: "coordinator".into(),
            candidate: who.into(),
            term,
            value: b"v2".to_vec(),
        })
    };
    assert!(matches!(
        proclaim(&mut h, "n2", t1),
        Err(CoordError::NotHolder { .. })
    ));
    proclaim(&mut h, "n1", t1).unwrap();
    assert_eq!(
        h.sm.coord_reader()
            .election("coordinator")
            .unwrap()
            .unwrap()
            .holder
            .unwrap()
            .value,
        b"v2"
    );
    let r = h
        .apply(CoordCommand::Resign {
            election: "coordinator".into(),
            candidate: "n1".into(),
            term: t1,
        })
        .unwrap();
    let CoordReply::Released { next: Some(n2) } = r else {
        panic!("{r:?}")
    };
    assert_eq!((n2.owner.as_str(), n2.value.as_slice()), ("n2", &b"n2"[..]));
    assert!(n2.token > t1);
}

#[tokio::test]
async fn fenced_writes_are_refused_once_the_fence_is_stale() {
    let mut h = Harness::new().await;
    let old = token(&h.acquire("res", "a", LeaseChoice::New { ttl_ms: 1_000 }, true));
    let fence = |token| {
        Some(Fence::Lock {
            name: "res".into(),
            token,
        })
    };
    let (_, r) = h.raw(put("k", "from-a", None), fence(old));
    assert!(matches!(r, Response::Put { .. }), "{r:?}");
    // a's lease expires (a was paused); b gets the lock.
    let la =
        h.sm.coord_reader()
            .lock("res")
            .unwrap()
            .unwrap()
            .holder
            .unwrap()
            .lease;
    h.now = 2_000;
    h.apply(CoordCommand::ExpireLeases { ids: vec![la] })
        .unwrap();
    let new = token(&h.acquire("res", "b", LeaseChoice::New { ttl_ms: 1_000 }, true));
    // a resumes and writes with its old token: refused, nothing written.
    let (_, r) = h.raw(put("k", "late-a", None), fence(old));
    assert_eq!(
        r,
        Response::Rejected(CommandError::Coord(CoordError::StaleFence {
            name: "res".into(),
            presented: old,
            current: new,
        }))
    );
    let (_, r) = h.raw(put("k", "from-b", None), fence(new));
    assert!(matches!(r, Response::Put { .. }), "{r:?}");
    assert_eq!(h.sm.reader().get(b"k").unwrap().unwrap().value, b"from-b");
    let stale_election = Some(Fence::Election {
        name: "none".into(),
        term: 3,
    });
    let (_, r) = h.raw(put("k", "x", None), stale_election);
    assert!(matches!(
        r,
        Response::Rejected(CommandError::Coord(CoordError::StaleFence {
            current: 0,
            ..
        }))
    ));
}

#[tokio::test]
async fn resign_with_term_zero_withdraws_a_waiting_candidacy() {
    let mut h = Harness::new().await;
    let campaign = |h: &mut Harness, who: &str| {
        h.apply(CoordCommand::Campaign {
            election: "e".into(),
            candidate: who.into(),
            value: Vec::new(),
            lease: LeaseChoice::New { ttl_ms: 10_000 },
        })
        .unwrap()
    };
    let resign = |h: &mut Harness, who: &str, term| {
        h.apply(CoordCommand::Resign {
            election: "e".into(),
            candidate: who.into(),
            term,
        })
    };
    let t1 = token(&campaign(&mut h, "a"));
    let CoordReply::Queued { lease: lb, .. } = campaign(&mut h, "b") else {
        panic!("b should wait")
    };
    // The leader cannot withdraw as if waiting, and a stranger is not waiting.
    assert!(matches!(
        resign(&mut h, "a", 0),
        Err(CoordError::NotWaiting { .. })
    ));
    assert!(matches!(
        resign(&mut h, "c", 0),
        Err(CoordError::NotWaiting { .. })
    ));
    assert_eq!(resign(&mut h, "b", 0), Ok(CoordReply::WaitCancelled));
    let rec = h.sm.coord_reader().election("e").unwrap().unwrap();
    assert!(rec.waiters.is_empty());
    assert_eq!(rec.holder.unwrap().token, t1);
    assert!(
        h.sm.coord_reader()
            .lease(lb)
            .unwrap()
            .unwrap()
            .attached
            .is_empty()
    );
}
