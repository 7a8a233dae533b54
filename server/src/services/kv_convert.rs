//! The KV service's conversions: stored records to `KeyValue`, and `KV.Txn` (Cairn's own
//! compare-and-swap transaction over several keys) to and from the same replicated
//! `TxnCommand` as etcd's Txn (single keys only: compares, puts, deletes, gets). Input limits
//! (key sizes, operation counts) are the command's own check, run by the gateway; permissions
//! are its needs (read what is compared or read, write what is written).

use cairn_api::v1 as pb;
use cairn_api::v1::KeyValue;
use cairn_model::KvRecord;
use cairn_model::txn::{
    Compare, CompareOp, CompareTarget, KeyRange, OpReply, PutOp, RangeSpec, TxnCommand, TxnOp,
    TxnReply,
};
use tonic::Status;

use crate::status;

pub(super) fn key_value(key: Vec<u8>, r: KvRecord) -> KeyValue {
    KeyValue {
        key,
        value: r.value,
        create_revision: r.create_revision,
        mod_revision: r.mod_revision,
        version: r.version,
    }
}

pub fn command(r: &mut pb::TxnRequest) -> Result<TxnCommand, Status> {
    let compare = std::mem::take(&mut r.compare)
        .into_iter()
        .enumerate()
        .map(|(i, c)| compare(i, c))
        .collect::<Result<_, _>>()?;
    Ok(TxnCommand {
        compare,
        success: ops("success", std::mem::take(&mut r.success))?,
        failure: ops("failure", std::mem::take(&mut r.failure))?,
    })
}

fn compare(i: usize, c: pb::Compare) -> Result<Compare, Status> {
    use pb::compare::{Op, Target};
    let op = match Op::try_from(c.op) {
        Ok(Op::Equal) => CompareOp::Equal,
        Ok(Op::NotEqual) => CompareOp::NotEqual,
        Ok(Op::Less) => CompareOp::Less,
        Ok(Op::Greater) => CompareOp::Greater,
        Err(_) => {
            return Err(status::invalid(format!(
                "compare[{i}].op: unknown op {}",
                c.op
            )));
        }
    };
    let target = match c.target {
        Some(Target::ModRevision(v)) => CompareTarget::ModRevision(v),
        Some(Target::CreateRevision(v)) => CompareTarget::CreateRevision(v),
        Some(Target::Version(v)) => CompareTarget::Version(v),
        Some(Target::Value(v)) => CompareTarget::Value(v),
        None => {
            return Err(status::invalid(format!(
                "compare[{i}]: set mod_revision, create_revision, version or value"
            )));
        }
    };
    Ok(Compare {
        range: KeyRange::single(c.key),
        op,
        target,
    })
}

fn ops(branch: &str, ops: Vec<pb::TxnOp>) -> Result<Vec<TxnOp>, Status> {
    use pb::txn_op::Op;
    ops.into_iter()
        .enumerate()
        .map(|(i, o)| match o.op {
            Some(Op::Put(p)) => Ok(TxnOp::Put(PutOp {
                key: p.key,
                value: p.value,
                lease: 0,
                prev_kv: false,
                ignore_value: false,
                ignore_lease: false,
            })),
            Some(Op::Delete(d)) => Ok(TxnOp::DeleteRange {
                range: KeyRange::single(d.key),
                prev_kv: false,
            }),
            Some(Op::Get(g)) => Ok(TxnOp::Range(RangeSpec {
                range: KeyRange::single(g.key),
                ..RangeSpec::default()
            })),
            None => Err(status::invalid(format!(
                "{branch}[{i}]: set put, delete or get"
            ))),
        })
        .collect()
}

pub fn response(reply: TxnReply, revision: u64) -> Result<pb::TxnResponse, Status> {
    use pb::txn_op_result::Result as R;
    let results = reply
        .responses
        .into_iter()
        .map(|r| {
            let result = match r {
                OpReply::Put { .. } => R::Put(true),
                OpReply::DeleteRange { deleted, .. } => R::Deleted(deleted > 0),
                OpReply::Range(range) => R::Get(pb::GetResponse {
                    kv: range
                        .kvs
                        .into_iter()
                        .next()
                        .map(|kv| key_value(kv.key, kv.record)),
                    revision,
                }),
                OpReply::Txn(_) => {
                    return Err(status::internal("a nested transaction in a KV.Txn reply"));
                }
            };
            Ok(pb::TxnOpResult {
                result: Some(result),
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(pb::TxnResponse {
        succeeded: reply.succeeded,
        results,
        revision,
    })
}
