//! Input limits for workflow records, checked before anything is proposed: metadata must be a
//! JSON object within a size limit, labels are bounded in number and length.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordLimits {
    pub max_metadata_bytes: usize,
    pub max_labels: usize,
    pub max_label_key_bytes: usize,
    pub max_label_value_bytes: usize,
}

impl Default for RecordLimits {
    fn default() -> Self {
        Self {
            max_metadata_bytes: 1024 * 1024,
            max_labels: 64,
            max_label_key_bytes: 128,
            max_label_value_bytes: 256,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum LimitError {
    #[error("metadata is not valid JSON: {0}")]
    MetadataNotJson(String),
    #[error("metadata must be a JSON object, got {0}")]
    MetadataNotObject(String),
    #[error("metadata is {size} bytes; the limit is {limit} bytes")]
    MetadataTooLarge { size: usize, limit: usize },
    #[error("{count} labels; the limit is {limit}")]
    TooManyLabels { count: usize, limit: usize },
    #[error("label key {key:?} is invalid: 1-{limit} bytes of [A-Za-z0-9_.:/-]")]
    InvalidLabelKey { key: String, limit: usize },
    #[error("label {key:?} value is {size} bytes; the limit is {limit} bytes")]
    LabelValueTooLong {
        key: String,
        size: usize,
        limit: usize,
    },
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl RecordLimits {
    /// Parses metadata sent as JSON text; it must be an object within the size limit.
    pub fn parse_metadata(&self, text: &[u8]) -> Result<Value, LimitError> {
        if text.len() > self.max_metadata_bytes {
            return Err(LimitError::MetadataTooLarge {
                size: text.len(),
                limit: self.max_metadata_bytes,
            });
        }
        let value: Value =
            serde_json::from_slice(text).map_err(|e| LimitError::MetadataNotJson(e.to_string()))?;
        if !value.is_object() {
            return Err(LimitError::MetadataNotObject(kind(&value).into()));
        }
        Ok(value)
    }

    /// Checks merged metadata (after a merge patch) against the size limit.
    pub fn check_metadata_size(&self, value: &Value) -> Result<(), LimitError> {
        let size = serde_json::to_vec(value)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > self.max_metadata_bytes {
            return Err(LimitError::MetadataTooLarge {
                size,
                limit: self.max_metadata_bytes,
            });
        }
        Ok(())
    }

    pub fn check_labels(&self, labels: &BTreeMap<String, String>) -> Result<(), LimitError> {
        if labels.len() > self.max_labels {
            return Err(LimitError::TooManyLabels {
                count: labels.len(),
                limit: self.max_labels,
            });
        }
        for (key, value) in labels {
            if key.len() > self.max_label_key_bytes || !super::names::is_valid_id(key) {
                return Err(LimitError::InvalidLabelKey {
                    key: key.clone(),
                    limit: self.max_label_key_bytes,
                });
            }
            if value.len() > self.max_label_value_bytes {
                return Err(LimitError::LabelValueTooLong {
                    key: key.clone(),
                    size: value.len(),
                    limit: self.max_label_value_bytes,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_must_be_a_bounded_object() {
        let l = RecordLimits {
            max_metadata_bytes: 32,
            ..Default::default()
        };
        assert!(l.parse_metadata(br#"{"total_tasks": 5}"#).is_ok());
        assert_eq!(
            l.parse_metadata(b"[1,2]"),
            Err(LimitError::MetadataNotObject("an array".into()))
        );
        assert!(matches!(
            l.parse_metadata(b"{nope"),
            Err(LimitError::MetadataNotJson(_))
        ));
        let big = format!(r#"{{"k":"{}"}}"#, "x".repeat(40));
        assert_eq!(
            l.parse_metadata(big.as_bytes()),
            Err(LimitError::MetadataTooLarge {
                size: big.len(),
                limit: 32
            })
        );
        let grown = serde_json::json!({"k": "x".repeat(40)});
        assert!(matches!(
            l.check_metadata_size(&grown),
            Err(LimitError::MetadataTooLarge { .. })
        ));
    }

    #[test]
    fn labels_are_bounded() {
        let l = RecordLimits {
            max_labels: 2,
            max_label_value_bytes: 4,
            ..Default::default()
        };
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(
            l.check_labels(&labels(&[("team", "ml"), ("tier", "gold")]))
                .is_ok()
        );
        assert!(matches!(
            l.check_labels(&labels(&[("a", ""), ("b", ""), ("c", "")])),
            Err(LimitError::TooManyLabels { count: 3, limit: 2 })
        ));
        assert!(matches!(
            l.check_labels(&labels(&[("bad key", "x")])),
            Err(LimitError::InvalidLabelKey { .. })
        ));
        assert!(matches!(
            l.check_labels(&labels(&[("team", "toolong")])),
            Err(LimitError::LabelValueTooLong {
                size: 7,
                limit: 4,
                ..
            })
        ));
    }
}
