//! The checker on known-good and known-bad histories, including unknown outcomes and the
//! time budget.

use std::time::Duration;

use super::*;

fn put(
    client: u64,
    key: &str,
    v: &str,
    call: u64,
    ret: u64,
    revision: u64,
) -> Operation<KvInput, KvOutput> {
    Operation {
        client,
        input: KvInput::Put {
            key: key.into(),
            value: v.into(),
        },
        call,
        ret: Some(ret),
        output: Some(KvOutput::Put { revision }),
    }
}

fn get(
    client: u64,
    key: &str,
    seen: Option<(&str, u64)>,
    call: u64,
    ret: u64,
) -> Operation<KvInput, KvOutput> {
    Operation {
        client,
        input: KvInput::Get { key: key.into() },
        call,
        ret: Some(ret),
        output: Some(KvOutput::Get(seen.map(|(v, r)| (v.to_string(), r)))),
    }
}

fn cas(
    client: u64,
    v: &str,
    expected: u64,
    call: u64,
    ret: u64,
    out: KvOutput,
) -> Operation<KvInput, KvOutput> {
    Operation {
        client,
        input: KvInput::PutIf {
            key: "k".into(),
            value: v.into(),
            expected,
        },
        call,
        ret: Some(ret),
        output: Some(out),
    }
}

fn verdict(history: &[Operation<KvInput, KvOutput>]) -> Verdict {
    check(
        &KvModel,
        history,
        |i| i.key().to_string(),
        Duration::from_secs(5),
    )
}

#[test]
fn sequential_and_concurrent_good_histories_pass() {
    let h = vec![
        put(1, "k", "a", 0, 10, 5),
        get(2, "k", Some(("a", 5)), 11, 20),
        put(1, "k", "b", 21, 30, 9),
        // Overlaps the put of "c": may see either value.
        put(1, "k", "c", 31, 50, 12),
        get(2, "k", Some(("b", 9)), 32, 40),
        get(3, "k", Some(("c", 12)), 45, 60),
        get(3, "other", None, 0, 1),
    ];
    assert_eq!(verdict(&h), Verdict::Ok);
}

#[test]
fn stale_read_after_a_completed_write_is_illegal() {
    let h = vec![
        put(1, "k", "a", 0, 10, 5),
        put(1, "k", "b", 11, 20, 7),
        // Invoked after "b" was acknowledged, yet sees "a".
        get(2, "k", Some(("a", 5)), 21, 30),
    ];
    assert_eq!(
        verdict(&h),
        Verdict::Illegal {
            partition: "k".into()
        }
    );
}

/// Found by a chaos run under kill -9: a put whose answer was lost leaves the register's
/// revision unknown, and a later compare-and-set that mismatched on it is legal.
#[test]
fn a_mismatch_after_a_write_of_unknown_outcome_is_legal() {
    let unknown = Operation {
        client: 1,
        input: KvInput::Put {
            key: "k".into(),
            value: "b".into(),
        },
        call: 11,
        ret: None,
        output: None,
    };
    let lose = cas(2, "c", 5, 40, 50, KvOutput::Mismatch { current: 7 });
    let h = [put(1, "k", "a", 0, 10, 5), unknown, lose.clone()];
    assert_eq!(verdict(&h), Verdict::Ok);
    // Without the unknown write, nothing could have moved the key off revision 5.
    let h = [put(1, "k", "a", 0, 10, 5), lose];
    assert!(matches!(verdict(&h), Verdict::Illegal { .. }));
}

#[test]
fn two_winning_compare_and_sets_on_one_revision_are_illegal() {
    let base = put(1, "k", "a", 0, 10, 5);
    let ok = |client, v, rev| cas(client, v, 5, 11, 30, KvOutput::Put { revision: rev });
    assert_eq!(
        verdict(&[base.clone(), ok(2, "x", 8), ok(3, "y", 9)]),
        Verdict::Illegal {
            partition: "k".into()
        }
    );
    // One winner and one loser that saw the winner's revision is fine.
    let lose = cas(3, "y", 5, 11, 30, KvOutput::Mismatch { current: 8 });
    assert_eq!(verdict(&[base, ok(2, "x", 8), lose]), Verdict::Ok);
}

#[test]
fn unknown_outcomes_may_apply_late_or_never_but_not_before_their_call() {
    let lost = Operation {
        client: 1,
        input: KvInput::Put {
            key: "k".into(),
            value: "maybe".into(),
        },
        call: 20,
        ret: None,
        output: None,
    };
    // Never observed: fine (it may not have happened).
    assert_eq!(
        verdict(&[put(2, "k", "a", 0, 10, 3), lost.clone()]),
        Verdict::Ok
    );
    // Observed long after: fine (it took effect late), and the read reveals its revision.
    let seen_late = get(2, "k", Some(("maybe", 40)), 100, 110);
    assert_eq!(
        verdict(&[put(2, "k", "a", 0, 10, 3), lost.clone(), seen_late]),
        Verdict::Ok
    );
    // Observed by a read that finished before the write was even sent: impossible.
    let seen_early = get(2, "k", Some(("maybe", 40)), 11, 15);
    assert_eq!(
        verdict(&[put(2, "k", "a", 0, 10, 3), lost, seen_early]),
        Verdict::Illegal {
            partition: "k".into()
        }
    );
}

#[test]
fn running_out_of_budget_is_a_timeout_not_a_pass() {
    // Many fully concurrent writes and a read that matches none: the search has to try every
    // order before it can say no, far more than a zero budget allows.
    let mut h: Vec<_> = (0..200)
        .map(|i| put(i, "k", &format!("v{i}"), 0, 1_000, 100 + i))
        .collect();
    h.push(get(999, "k", Some(("nobody", 1)), 0, 1_000));
    assert_eq!(
        check(&KvModel, &h, |i| i.key().to_string(), Duration::ZERO),
        Verdict::Timeout {
            partition: "k".into()
        }
    );
}

/// A history generated from a real register (each operation takes effect at a point inside
/// its interval) must pass, and quickly, even with heavy overlap.
#[test]
fn generated_valid_histories_of_thousands_of_operations_pass() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rand = move |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let mut history = Vec::new();
    let mut regs: Vec<Option<(String, u64)>> = vec![None; 20];
    // Linearization points 10 apart; each operation's interval straddles its point.
    for point in 0..5_000u64 {
        let at = 1_000 + point * 10;
        let (call, ret) = (at - rand(40), at + rand(40));
        let k = rand(20) as usize;
        let key = format!("k{k}");
        let client = rand(16);
        let op = if rand(2) == 0 {
            let v = format!("v{point}");
            regs[k] = Some((v.clone(), point + 1));
            Operation {
                client,
                input: KvInput::Put { key, value: v },
                call,
                ret: Some(ret),
                output: Some(KvOutput::Put {
                    revision: point + 1,
                }),
            }
        } else {
            Operation {
                client,
                input: KvInput::Get { key },
                call,
                ret: Some(ret),
                output: Some(KvOutput::Get(regs[k].clone())),
            }
        };
        history.push(op);
    }
    assert_eq!(verdict(&history), Verdict::Ok);
}

fn transition(
    client: u64,
    to: &str,
    expected: u64,
    call: u64,
    ret: u64,
    out: WorkflowOutput,
) -> Operation<WorkflowInput, WorkflowOutput> {
    Operation {
        client,
        input: WorkflowInput::Transition {
            id: "wf".into(),
            to: to.into(),
            expected: Some(expected),
        },
        call,
        ret: Some(ret),
        output: Some(out),
    }
}

#[test]
fn workflow_transitions_win_once_per_version() {
    let check_wf = |h: &[Operation<WorkflowInput, WorkflowOutput>]| {
        check(
            &WorkflowModel::pingpong(),
            h,
            |i| i.id().to_string(),
            Duration::from_secs(5),
        )
    };
    // Two racers at version 1: one wins, the other sees the new version.
    let good = [
        transition(1, "PONG", 1, 0, 10, WorkflowOutput::Moved { version: 2 }),
        transition(2, "PONG", 1, 1, 12, WorkflowOutput::Conflict { current: 2 }),
        transition(2, "PING", 2, 13, 20, WorkflowOutput::Moved { version: 3 }),
    ];
    assert_eq!(check_wf(&good), Verdict::Ok);
    // Both claiming version 1 is impossible.
    let both = [
        transition(1, "PONG", 1, 0, 10, WorkflowOutput::Moved { version: 2 }),
        transition(2, "PONG", 1, 1, 12, WorkflowOutput::Moved { version: 2 }),
    ];
    assert_eq!(
        check_wf(&both),
        Verdict::Illegal {
            partition: "wf".into()
        }
    );
    // An illegal edge must name the real current status.
    let lie = [transition(
        1,
        "PING",
        1,
        0,
        10,
        WorkflowOutput::Illegal {
            current: "PONG".into(),
        },
    )];
    assert_eq!(
        check_wf(&lie),
        Verdict::Illegal {
            partition: "wf".into()
        }
    );
}
