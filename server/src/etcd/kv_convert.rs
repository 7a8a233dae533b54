//! etcd KV messages to Cairn's replicated transaction types and back. Every bad input is an
//! INVALID_ARGUMENT with etcd's own message where etcd has one.

use cairn_model::KvRecord;
use cairn_model::txn::{
    Compare, CompareOp, CompareTarget, KeyRange, KeyValue, MAX_TXN_OPS, OpReply, PutOp, RangeReply,
    RangeSpec, SortOrder, SortTarget, TxnCommand, TxnOp, TxnReply,
};
use etcd_client::proto::{
    PbCompare, PbDeleteRequest, PbDeleteResponse, PbKeyValue, PbPutRequest, PbPutResponse,
    PbRangeRequest, PbRangeResponse, PbResponseOp, PbTargetUnion, PbTxnOpRequest, PbTxnOpResponse,
    PbTxnRequest, PbTxnResponse,
};

use super::header::{Headers, to_i64};
use crate::config::Limits;
use crate::error::{Error, EtcdError};

fn invalid(msg: &str) -> Error {
    EtcdError::Invalid(msg.to_string()).into()
}

fn non_negative(v: i64, what: &str) -> Result<u64, Error> {
    u64::try_from(v).map_err(|_| invalid(&format!("{what} must not be negative")))
}

pub fn key_value(kv: KeyValue) -> PbKeyValue {
    pb_key_value(kv.key, kv.record)
}

/// etcd's KeyValue for `key` holding `r`.
pub fn pb_key_value(key: Vec<u8>, r: KvRecord) -> PbKeyValue {
    PbKeyValue {
        key,
        create_revision: to_i64(r.create_revision),
        mod_revision: to_i64(r.mod_revision),
        version: to_i64(r.version),
        value: r.value,
        lease: to_i64(r.lease),
    }
}

/// Checks sizes against the node's limits (the same as for Cairn's own KV API).
pub struct Convert<'a> {
    pub limits: &'a Limits,
}

impl Convert<'_> {
    fn key(&self, key: &[u8]) -> Result<(), Error> {
        if key.len() > self.limits.max_key_bytes {
            return Err(invalid(&format!(
                "key is {} bytes, over the {} byte limit",
                key.len(),
                self.limits.max_key_bytes
            )));
        }
        Ok(())
    }

    fn range(&self, key: Vec<u8>, range_end: Vec<u8>) -> Result<KeyRange, Error> {
        if key.is_empty() && range_end.is_empty() {
            return Err(EtcdError::KeyNotProvided.into());
        }
        self.key(&key)?;
        self.key(&range_end)?;
        Ok(KeyRange { key, range_end })
    }

    /// A Range request's spec and the revision to read at (0 = current).
    pub fn range_request(&self, r: PbRangeRequest) -> Result<(RangeSpec, u64), Error> {
        if r.key.is_empty() {
            return Err(EtcdError::KeyNotProvided.into());
        }
        let sort_order = match r.sort_order {
            0 => SortOrder::None,
            1 => SortOrder::Ascend,
            2 => SortOrder::Descend,
            other => return Err(invalid(&format!("unknown sort order {other}"))),
        };
        let sort_target = match r.sort_target {
            0 => SortTarget::Key,
            1 => SortTarget::Version,
            2 => SortTarget::Create,
            3 => SortTarget::Mod,
            4 => SortTarget::Value,
            other => return Err(invalid(&format!("unknown sort target {other}"))),
        };
        let spec = RangeSpec {
            range: self.range(r.key, r.range_end)?,
            // etcd treats a negative limit as none.
            limit: u64::try_from(r.limit).unwrap_or(0),
            count_only: r.count_only,
            keys_only: r.keys_only,
            sort_order,
            sort_target,
            min_mod_revision: non_negative(r.min_mod_revision, "min_mod_revision")?,
            max_mod_revision: non_negative(r.max_mod_revision, "max_mod_revision")?,
            min_create_revision: non_negative(r.min_create_revision, "min_create_revision")?,
            max_create_revision: non_negative(r.max_create_revision, "max_create_revision")?,
        };
        Ok((spec, non_negative(r.revision, "revision")?))
    }

    pub fn put(&self, r: PbPutRequest) -> Result<PutOp, Error> {
        if r.key.is_empty() {
            return Err(EtcdError::KeyNotProvided.into());
        }
        self.key(&r.key)?;
        if r.value.len() > self.limits.max_value_bytes {
            return Err(invalid(&format!(
                "value is {} bytes, over the {} byte limit",
                r.value.len(),
                self.limits.max_value_bytes
            )));
        }
        Ok(PutOp {
            key: r.key,
            value: r.value,
            // A negative id names no lease that can exist.
            lease: u64::try_from(r.lease).map_err(|_| Error::from(EtcdError::LeaseNotFound))?,
            prev_kv: r.prev_kv,
            ignore_value: r.ignore_value,
            ignore_lease: r.ignore_lease,
        })
    }

    pub fn delete(&self, r: PbDeleteRequest) -> Result<TxnOp, Error> {
        if r.key.is_empty() {
            return Err(EtcdError::KeyNotProvided.into());
        }
        Ok(TxnOp::DeleteRange {
            range: self.range(r.key, r.range_end)?,
            prev_kv: r.prev_kv,
        })
    }

    pub fn txn(&self, t: PbTxnRequest) -> Result<TxnCommand, Error> {
        // Per level, as etcd counts.
        if t.compare.len().max(t.success.len()).max(t.failure.len()) > MAX_TXN_OPS {
            return Err(invalid("too many operations in txn request"));
        }
        let compare = t
            .compare
            .into_iter()
            .map(|c| self.compare(c))
            .collect::<Result<_, _>>()?;
        let branch = |reqs: Vec<etcd_client::proto::PbTxnRequestOp>| {
            reqs.into_iter()
                .map(|op| match op.request {
                    Some(PbTxnOpRequest::RequestRange(r)) => {
                        let (spec, revision) = self.range_request(r)?;
                        if revision != 0 {
                            return Err(invalid(
                                "a range at a past revision is not supported inside a txn",
                            ));
                        }
                        Ok(TxnOp::Range(spec))
                    }
                    Some(PbTxnOpRequest::RequestPut(p)) => Ok(TxnOp::Put(self.put(p)?)),
                    Some(PbTxnOpRequest::RequestDeleteRange(d)) => self.delete(d),
                    Some(PbTxnOpRequest::RequestTxn(t)) => Ok(TxnOp::Txn(self.txn(t)?)),
                    None => Err(invalid("empty request op")),
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let success = branch(t.success)?;
        let failure = branch(t.failure)?;
        Ok(TxnCommand {
            compare,
            success,
            failure,
        })
    }

    fn compare(&self, c: PbCompare) -> Result<Compare, Error> {
        let op = match c.result {
            0 => CompareOp::Equal,
            1 => CompareOp::Greater,
            2 => CompareOp::Less,
            3 => CompareOp::NotEqual,
            other => return Err(invalid(&format!("unknown compare result {other}"))),
        };
        let num = |v: i64| non_negative(v, "compare target");
        // The target field names what is compared; the union carries the value (etcd reads
        // the union for the value and checks nothing else, and so do we).
        let target = match (c.target, c.target_union) {
            (0, Some(PbTargetUnion::Version(v))) => CompareTarget::Version(num(v)?),
            (1, Some(PbTargetUnion::CreateRevision(v))) => CompareTarget::CreateRevision(num(v)?),
            (2, Some(PbTargetUnion::ModRevision(v))) => CompareTarget::ModRevision(num(v)?),
            (3, Some(PbTargetUnion::Value(v))) => CompareTarget::Value(v),
            (4, Some(PbTargetUnion::Lease(v))) => CompareTarget::Lease(num(v)?),
            // proto3 drops a zero-valued oneof member on some clients: a missing union means
            // the target's zero value.
            (0, None) => CompareTarget::Version(0),
            (1, None) => CompareTarget::CreateRevision(0),
            (2, None) => CompareTarget::ModRevision(0),
            (3, None) => CompareTarget::Value(Vec::new()),
            (4, None) => CompareTarget::Lease(0),
            (t, _) => {
                return Err(invalid(&format!(
                    "compare target {t} does not match its value"
                )));
            }
        };
        Ok(Compare {
            range: self.range(c.key, c.range_end)?,
            op,
            target,
        })
    }
}

pub fn range_response(h: &Headers, revision: u64, r: RangeReply) -> PbRangeResponse {
    PbRangeResponse {
        header: Some(h.at(revision)),
        kvs: r.kvs.into_iter().map(key_value).collect(),
        more: r.more,
        count: to_i64(r.count),
    }
}

pub fn put_response(h: &Headers, revision: u64, prev: Option<KeyValue>) -> PbPutResponse {
    PbPutResponse {
        header: Some(h.at(revision)),
        prev_kv: prev.map(key_value),
    }
}

pub fn delete_response(
    h: &Headers,
    revision: u64,
    deleted: u64,
    prev: Vec<KeyValue>,
) -> PbDeleteResponse {
    PbDeleteResponse {
        header: Some(h.at(revision)),
        deleted: to_i64(deleted),
        prev_kvs: prev.into_iter().map(key_value).collect(),
    }
}

pub fn txn_response(h: &Headers, revision: u64, t: TxnReply) -> PbTxnResponse {
    PbTxnResponse {
        header: Some(h.at(revision)),
        succeeded: t.succeeded,
        responses: t
            .responses
            .into_iter()
            .map(|r| PbResponseOp {
                response: Some(match r {
                    OpReply::Range(r) => {
                        PbTxnOpResponse::ResponseRange(range_response(h, revision, r))
                    }
                    OpReply::Put { prev } => {
                        PbTxnOpResponse::ResponsePut(put_response(h, revision, prev))
                    }
                    OpReply::DeleteRange { deleted, prev } => PbTxnOpResponse::ResponseDeleteRange(
                        delete_response(h, revision, deleted, prev),
                    ),
                    OpReply::Txn(t) => PbTxnOpResponse::ResponseTxn(txn_response(h, revision, t)),
                }),
            })
            .collect(),
    }
}
