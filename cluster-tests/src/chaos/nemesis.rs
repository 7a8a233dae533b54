//! The nemesis: injects one fault at a time, chosen by the seeded generator from the enabled
//! scenarios, holds it, undoes it, and measures how long the cluster takes to serve a write
//! and a read again. Every fault goes to the schedule (`schedule.jsonl`) and the history.
//! Faults pick their victims among the current voters ([`Roster`]): a replacement takes a
//! node id out of the cluster for good and brings a new one in.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use cairn_client::{Client, ClientConfig};
use serde_json::json;

use super::check::Anomaly;
use super::history::Recorder;
use super::replacement;
use super::rng::Rng;
use super::roster::Roster;
use crate::net::{Net, Partition};
use crate::{Cluster, wait_until};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// iptables cuts: isolate the leader or a follower, minority/majority split, one-way,
    /// bridge.
    Partition,
    /// SIGKILL the leader, a minority, or every node, restart after a while; or SIGKILL the
    /// leader and restart it at once.
    Kill,
    /// SIGSTOP the leader or a follower past an election timeout; SIGCONT.
    Pause,
    /// Restart a node with a storage failpoint that fails after a while (fsync, append,
    /// apply): it must stop, never go on; or with a slow disk (every fdatasync delayed
    /// 50-450 ms); then restart it clean.
    Failpoint,
    /// Restart a node under libfaketime with a clock running fast or slow, or stepped 20-60 s
    /// ahead or behind, make it leader (it stamps lease times), then restart it with a true
    /// clock (a second step, the other way).
    Clock,
    /// SIGKILL the leader or a follower and delete its data dir: it is gone for good. A node
    /// that lost its log and vote must not rejoin under its old id (it could vote twice in
    /// a term, or count towards a quorum for entries it no longer has), so, as an operator
    /// would, start a new id with an empty data dir that joins as a learner, wait until it
    /// has caught up, and swap it for the dead voter with ReplaceMember.
    Replace,
    /// Membership changes of a healthy cluster, at random: hand the leadership to a random
    /// follower, or rotate a member out while it runs: a new node joins as a learner, catches
    /// up and takes the place of a random voter (the leader too) through ReplaceMember; the
    /// old one is then stopped and its data dir deleted.
    Membership,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::Partition,
        Scenario::Kill,
        Scenario::Pause,
        Scenario::Failpoint,
        Scenario::Clock,
        Scenario::Replace,
        Scenario::Membership,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Partition => "partition",
            Scenario::Kill => "kill",
            Scenario::Pause => "pause",
            Scenario::Failpoint => "failpoint",
            Scenario::Clock => "clock",
            Scenario::Replace => "replace",
            Scenario::Membership => "membership",
        }
    }

    pub fn parse(s: &str) -> anyhow::Result<Self> {
        Self::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|s| s.name()).collect();
                anyhow::anyhow!("unknown scenario {s:?} ({})", names.join(", "))
            })
    }
}

/// The largest clock step the clock scenario makes. After a forward step is undone, lease
/// time stands still until true time catches up (README, "Clocks"), so checks that wait for
/// leases to end allow this much more.
pub const MAX_CLOCK_STEP: Duration = Duration::from_secs(60);

/// libfaketime from the Debian package, if installed: its pthread-safe variant, since a
/// node is a multi-threaded process.
pub fn faketime_lib() -> Option<String> {
    [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib",
    ]
    .iter()
    .map(|d| format!("{d}/faketime/libfaketimeMT.so.1"))
    .find(|p| std::path::Path::new(p).exists())
}

/// How to undo the fault in force.
enum Undo {
    Heal,
    Restart(Vec<u64>),
    Resume(Vec<u64>),
    /// Restart with a clean environment (after a failpoint or a skewed clock).
    RestartClean(u64, &'static str),
    /// Bring in node `new` for the dead voter `old`.
    Replace {
        old: u64,
        new: u64,
    },
    /// Bring in node `new` for the running voter `old`, then stop `old` for good.
    Rotate {
        old: u64,
        new: u64,
    },
    /// Nothing to undo (a leader transfer).
    Nothing,
}

pub struct Nemesis<'a> {
    pub cluster: &'a mut Cluster,
    pub net: Arc<Net>,
    pub rng: Rng,
    pub rec: Arc<Recorder>,
    /// The member set, which a replacement changes, and restarts per node.
    pub roster: Arc<Roster>,
    pub schedule: std::fs::File,
    pub faults: BTreeMap<String, u64>,
    pub recoveries: Vec<Duration>,
    pub anomalies: Vec<Anomaly>,
    probe: Client,
    probes: u64,
}

impl<'a> Nemesis<'a> {
    pub fn new(
        cluster: &'a mut Cluster,
        net: Arc<Net>,
        seed: u64,
        rec: Arc<Recorder>,
        roster: Arc<Roster>,
        schedule: std::fs::File,
    ) -> anyhow::Result<Self> {
        let probe = probe_client(&roster)?;
        Ok(Self {
            cluster,
            net,
            rng: Rng::new(seed),
            rec,
            roster,
            schedule,
            faults: BTreeMap::new(),
            recoveries: Vec::new(),
            anomalies: Vec::new(),
            probe,
            probes: 0,
        })
    }

    /// The voter after `leader` in id order.
    fn follower(&self, leader: u64) -> u64 {
        let voters = self.roster.voters();
        let at = voters.iter().position(|v| *v == leader).unwrap_or(0);
        voters[(at + 1) % voters.len()]
    }

    fn record(&mut self, kind: String, detail: serde_json::Value) {
        let line = json!({"t": self.rec.now(), "fault": kind, "detail": detail});
        let _ = writeln!(self.schedule, "{line}");
        self.rec.note("fault", line);
        *self.faults.entry(kind).or_default() += 1;
    }

    fn kill(&mut self, id: u64) {
        self.cluster.kill(id);
        self.roster.restarted(id);
    }

    fn respawn(&mut self, id: u64, env: Vec<(String, String)>) -> anyhow::Result<()> {
        self.kill(id);
        self.cluster.node_mut(id).env = env;
        self.cluster.spawn(id, &[])
    }

    /// One fault of `scenario`: inject, hold, undo, wait for recovery.
    pub async fn round(&mut self, scenario: Scenario) -> anyhow::Result<()> {
        let leader = match self.cluster.leader(Duration::from_secs(30)).await {
            Ok(l) => l,
            Err(e) => {
                self.anomalies.push(Anomaly::new(
                    "liveness",
                    format!("no leader before a fault: {e}"),
                ));
                return Ok(());
            }
        };
        let hold = self.rng.millis(1500, 4000);
        let undo = match scenario {
            Scenario::Partition => self.partition(leader)?,
            Scenario::Kill => self.kill_some(leader),
            Scenario::Pause => self.pause(leader),
            Scenario::Failpoint => self.failpoint(leader)?,
            Scenario::Clock => self.clock(leader).await?,
            Scenario::Replace => self.replace(leader)?,
            Scenario::Membership => self.membership(leader).await?,
        };
        tokio::time::sleep(hold).await;
        self.undo(undo).await?;
        self.recover().await;
        Ok(())
    }

    fn partition(&mut self, leader: u64) -> anyhow::Result<Undo> {
        let voters = self.roster.voters();
        let follower = self.follower(leader);
        let p = match self.rng.below(6) {
            0 => Partition::Isolate { node: leader },
            1 => Partition::Isolate { node: follower },
            2 => {
                let minority = self.rng.subset(&voters, (voters.len() - 1) / 2);
                let majority = voters
                    .iter()
                    .copied()
                    .filter(|x| !minority.contains(x))
                    .collect();
                Partition::Split {
                    groups: vec![minority, majority],
                }
            }
            3 => Partition::OneWay {
                from: leader,
                to: follower,
            },
            4 => Partition::OneWay {
                from: follower,
                to: leader,
            },
            _ => Partition::Bridge {
                middle: *self.rng.pick(&voters),
            },
        };
        self.net.partition_among(&p, &voters)?;
        self.record(format!("partition-{}", p.kind()), json!(format!("{p:?}")));
        Ok(Undo::Heal)
    }

    fn kill_some(&mut self, leader: u64) -> Undo {
        let voters = self.roster.voters();
        let (kind, victims) = match self.rng.below(4) {
            0 => ("kill-leader", vec![leader]),
            1 => (
                "kill-minority",
                self.rng.subset(&voters, (voters.len() - 1) / 2),
            ),
            2 => ("kill-all", voters),
            _ => ("restart-leader", vec![leader]),
        };
        for id in &victims {
            self.kill(*id);
        }
        self.record(kind.into(), json!(victims));
        if kind == "restart-leader" {
            // Back before the followers' election timeout: the restarted leader must not
            // carry on in its old term with a log that lost what it had already replicated.
            for id in &victims {
                if let Err(e) = self.respawn(*id, Vec::new()) {
                    self.anomalies
                        .push(Anomaly::new("harness", format!("{e:#}")));
                }
            }
            return Undo::Restart(Vec::new());
        }
        Undo::Restart(victims)
    }

    fn pause(&mut self, leader: u64) -> Undo {
        let (kind, victim) = if self.rng.below(2) == 0 {
            ("pause-leader", leader)
        } else {
            ("pause-follower", self.follower(leader))
        };
        self.cluster.pause(victim, true);
        self.record(kind.into(), json!(victim));
        Undo::Resume(vec![victim])
    }

    fn failpoint(&mut self, leader: u64) -> anyhow::Result<Undo> {
        let point = *self.rng.pick(&[
            "log-fsync",
            "log-append",
            "apply",
            "vote-save",
            "snapshot-install",
            "wal-fsync-delay",
        ]);
        let victim = if self.rng.below(2) == 0 {
            leader
        } else {
            self.follower(leader)
        };
        // Healthy for a while (to rejoin and take writes), then the call fails. Votes are
        // saved once per election (a restarted leader holds one) and snapshots installed only
        // by a lagging node, so those two fail on their first or second call.
        let after = match point {
            "vote-save" | "snapshot-install" => self.rng.below(2),
            _ => 20 + self.rng.below(80),
        };
        let spec = match point {
            // A slow disk, not a failing one: every fdatasync waits, so does every ack.
            "wal-fsync-delay" => format!("{point}=sleep({})", 50 + self.rng.below(400)),
            _ => format!("{point}={after}*off->return"),
        };
        self.respawn(victim, vec![("FAILPOINTS".into(), spec.clone())])?;
        self.record(
            format!("failpoint-{point}"),
            json!({"node": victim, "spec": spec}),
        );
        Ok(Undo::RestartClean(victim, "failpoint"))
    }

    async fn clock(&mut self, leader: u64) -> anyhow::Result<Undo> {
        let Some(lib) = faketime_lib() else {
            anyhow::bail!("libfaketime is not installed (scripts/install-deps)");
        };
        let victim = self.follower(leader);
        // A rate, or a step (an NTP step while the node was down): an offset that holds from
        // its start, and goes away at its clean restart. Steps stay within a minute: the
        // machine clock never runs back (it is the running maximum of the leaders' stamps),
        // so after a forward step is undone, lease time stands still until true time
        // catches up (README, "Clocks").
        let (kind, faketime) = match self.rng.below(5) {
            0 => ("clock-fast", "+0 x4".to_string()),
            1 => ("clock-fast", "+0 x3".to_string()),
            2 => ("clock-slow", "+0 x0.3".to_string()),
            3 => ("clock-step-ahead", format!("+{}", self.step_secs())),
            _ => ("clock-step-back", format!("-{}", self.step_secs())),
        };
        let env = vec![
            ("LD_PRELOAD".into(), lib),
            ("FAKETIME".into(), faketime.clone()),
            // Only the wall clock: lease times are stamped from it. (With the monotonic clock
            // faked too, a node froze once it led, in libfaketime 0.9.10.)
            ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
        ];
        self.respawn(victim, env)?;
        // The leader stamps lease times with its clock: give the skewed node the lead, once it
        // has caught up (a leader hands over only to a member that is up to date).
        let applied = self.cluster.status(leader).await.map_or(0, |s| s.applied);
        let _ = self
            .cluster
            .wait_applied(victim, applied, Duration::from_secs(20))
            .await;
        let moved = self.cluster.transfer_leader(victim).await;
        self.record(
            kind.to_string(),
            json!({"node": victim, "faketime": faketime, "leads": moved}),
        );
        Ok(Undo::RestartClean(victim, "clock"))
    }

    /// A clock step of 20 s up to [`MAX_CLOCK_STEP`].
    fn step_secs(&mut self) -> u64 {
        let max = MAX_CLOCK_STEP.as_secs();
        20 + self.rng.below(max - 19)
    }

    /// Kills the leader or a follower and deletes its data dir; its replacement is a new
    /// node (id, namespace, address, data dir), started when the fault is undone.
    fn replace(&mut self, leader: u64) -> anyhow::Result<Undo> {
        let (kind, old) = if self.rng.below(2) == 0 {
            ("replace-leader", leader)
        } else {
            ("replace-follower", self.follower(leader))
        };
        self.kill(old);
        let dir = self.cluster.node(old).data_dir.clone();
        std::fs::remove_dir_all(&dir).with_context(|| format!("delete {}", dir.display()))?;
        // Its own namespace and address, as every node has.
        let new = self.cluster.add_node()?;
        self.record(kind.into(), json!({"old": old, "new": new}));
        Ok(Undo::Replace { old, new })
    }

    /// A leader transfer to a random follower, or a running voter (any, the leader too)
    /// rotated out for a new node when the fault is undone.
    async fn membership(&mut self, leader: u64) -> anyhow::Result<Undo> {
        let voters = self.roster.voters();
        if self.rng.below(2) == 0 {
            let others: Vec<u64> = voters.iter().copied().filter(|v| *v != leader).collect();
            let to = *self.rng.pick(&others);
            let moved = self.cluster.transfer_leader(to).await;
            self.record(
                "transfer-leader".into(),
                json!({"from": leader, "to": to, "moved": moved}),
            );
            return Ok(Undo::Nothing);
        }
        let old = *self.rng.pick(&voters);
        let new = self.cluster.add_node()?;
        self.record(
            "rotate-member".into(),
            json!({"old": old, "new": new, "leader": old == leader}),
        );
        Ok(Undo::Rotate { old, new })
    }

    /// Starts `new` as a learner joining through the live voters, waits until it has caught
    /// up, swaps it for `old`, and moves the run (roster, clients) to the new member set.
    async fn bring_in(&mut self, old: u64, new: u64) -> anyhow::Result<()> {
        let via: Vec<String> = self
            .roster
            .voters()
            .into_iter()
            .filter(|id| *id != old)
            .map(|id| self.cluster.node(id).client_addr.clone())
            .collect();
        self.cluster
            .spawn(new, &["--join".to_string(), via.join(",")])?;
        self.roster
            .joined(new, self.cluster.node(new).client_addr.clone());
        replacement::catch_up(self.cluster, new).await?;
        replacement::swap(self.cluster, old, new).await?;
        self.roster.replaced(old, new);
        self.probe = probe_client(&self.roster)?;
        self.rec.note("replaced", json!({"old": old, "new": new}));
        Ok(())
    }

    async fn undo(&mut self, undo: Undo) -> anyhow::Result<()> {
        match undo {
            Undo::Heal => self.net.heal()?,
            Undo::Resume(ids) => ids.iter().for_each(|id| self.cluster.pause(*id, false)),
            Undo::Restart(ids) => {
                for id in ids {
                    self.respawn(id, Vec::new())?;
                }
            }
            Undo::RestartClean(id, why) => {
                if why == "failpoint" {
                    match self.cluster.exit_status(id) {
                        Some(s) if s.success() => self.anomalies.push(Anomaly::new(
                            "storage-error-clean-exit",
                            format!("node {id} exited 0 after a storage failure"),
                        )),
                        Some(_) => *self.faults.entry("failpoint-crash".into()).or_default() += 1,
                        None => {}
                    }
                }
                self.respawn(id, Vec::new())?;
            }
            Undo::Replace { old, new } => self
                .bring_in(old, new)
                .await
                .with_context(|| format!("replacing node {old} by node {new}"))?,
            Undo::Rotate { old, new } => {
                self.bring_in(old, new)
                    .await
                    .with_context(|| format!("rotating node {old} out for node {new}"))?;
                // Out of the membership: stopped and its data deleted, as an operator would.
                self.kill(old);
                let dir = self.cluster.node(old).data_dir.clone();
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("delete {}", dir.display()))?;
            }
            Undo::Nothing => {}
        }
        self.rec.note("healed", json!(null));
        Ok(())
    }

    /// Waits until a leader is agreed and a write then a read of it succeed; records how long
    /// that took, or a liveness anomaly after 30 s.
    pub async fn recover(&mut self) -> Option<Duration> {
        let started = Instant::now();
        self.probes += 1;
        let value = format!("probe-{}", self.probes);
        self.rec.wrote(&value);
        let probe = self.probe.clone();
        let cluster = &*self.cluster;
        let ok = wait_until(Duration::from_secs(30), "recovery after heal", || {
            let (probe, value) = (probe.clone(), value.clone());
            async move {
                cluster.leader(Duration::from_secs(2)).await.ok()?;
                let rev = probe.put("chaos/probe", value.clone()).await.ok()?;
                let kv = probe.get("chaos/probe").await.ok()??;
                (kv.mod_revision >= rev).then_some(rev)
            }
        })
        .await;
        match ok {
            Ok(rev) => {
                // The probe write is acknowledged like any other.
                self.rec.acked("chaos/probe", &value, rev);
                let d = started.elapsed();
                self.recoveries.push(d);
                self.rec
                    .note("recovered", json!({"ms": d.as_millis() as u64}));
                Some(d)
            }
            Err(e) => {
                self.anomalies.push(Anomaly::new("liveness", e.to_string()));
                None
            }
        }
    }
}

/// The recovery probe's client: short retries, so a probe that fails is tried again soon.
fn probe_client(roster: &Roster) -> anyhow::Result<Client> {
    let config = ClientConfig {
        retry_deadline: Duration::from_secs(2),
        request_timeout: Duration::from_secs(1),
        ..ClientConfig::default()
    };
    Ok(Client::with_config(roster.endpoints(), config)?)
}
