//! The search itself: Wing & Gong's algorithm over a doubly linked list of call and return
//! events ("dancing links", so backtracking restores the list exactly), with Lowe's cache of
//! (linearized set, state) pairs already explored.

use std::collections::HashSet;
use std::time::Instant;

use super::{Model, Operation};

struct Event {
    time: u64,
    call: bool,
    op: usize,
}

/// Bits of the operations linearized so far.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Self {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, i: usize, on: bool) {
        let (w, b) = (i / 64, 1u64 << (i % 64));
        if on {
            self.0[w] |= b;
        } else {
            self.0[w] &= !b;
        }
    }
}

/// The event list: nodes 0..2n are events in time order; node `2n` is the head sentinel of
/// a circular list.
struct Links {
    next: Vec<usize>,
    prev: Vec<usize>,
}

impl Links {
    fn new(len: usize) -> Self {
        let head = len;
        Self {
            next: (0..=len)
                .map(|i| if i == head { 0 } else { i + 1 })
                .collect(),
            prev: (0..=len)
                .map(|i| if i == 0 { head } else { i - 1 })
                .collect(),
        }
    }

    fn unlink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = n;
        self.prev[n] = p;
    }

    /// Undoes `unlink(node)`; valid when done in reverse order of the unlinks.
    fn relink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = node;
        self.prev[n] = node;
    }
}

/// `Some(true)` if `ops` linearize, `Some(false)` if they cannot, `None` if `deadline` passed.
pub fn check_partition<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    deadline: Instant,
) -> Option<bool> {
    let n = ops.len();
    let mut events: Vec<Event> = Vec::with_capacity(2 * n);
    for (i, op) in ops.iter().enumerate() {
        events.push(Event {
            time: op.call,
            call: true,
            op: i,
        });
        events.push(Event {
            // No answer: it may have taken effect at any time after the call.
            time: op.ret.unwrap_or(u64::MAX),
            call: false,
            op: i,
        });
    }
    // At equal times calls come first: touching operations count as concurrent, so the
    // checker never demands an order the timestamps cannot prove.
    events.sort_by_key(|e| (e.time, !e.call));
    let mut call_node = vec![0; n];
    let mut ret_node = vec![0; n];
    for (node, e) in events.iter().enumerate() {
        if e.call {
            call_node[e.op] = node;
        } else {
            ret_node[e.op] = node;
        }
    }

    let head = events.len();
    let mut links = Links::new(head);
    let mut linearized = Bits::new(n);
    let mut seen: HashSet<(Bits, M::State)> = HashSet::new();
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut state = model.init();
    let mut cur = links.next[head];
    let mut steps: u64 = 0;
    loop {
        steps += 1;
        if steps.is_multiple_of(4096) && Instant::now() >= deadline {
            return None;
        }
        if cur == head {
            return Some(true);
        }
        let e = &events[cur];
        let op = &ops[e.op];
        if e.call {
            if let Some(next) = model.step(&state, &op.input, op.output.as_ref()) {
                linearized.set(e.op, true);
                if seen.insert((linearized.clone(), next.clone())) {
                    stack.push((e.op, std::mem::replace(&mut state, next)));
                    links.unlink(call_node[e.op]);
                    links.unlink(ret_node[e.op]);
                    cur = links.next[head];
                    continue;
                }
                linearized.set(e.op, false);
            }
            cur = links.next[cur];
        } else {
            // The first return still listed belongs to an operation not yet placed. If it has
            // no answer, every answered operation is placed (their returns sort earlier).
            if op.ret.is_none() {
                return Some(true);
            }
            let Some((placed, before)) = stack.pop() else {
                return Some(false);
            };
            state = before;
            linearized.set(placed, false);
            links.relink(ret_node[placed]);
            links.relink(call_node[placed]);
            cur = links.next[call_node[placed]];
        }
    }
}
