//! JSON merge patch (RFC 7386): how workflow metadata is updated and how delta checkpoints
//! are materialized. serde_json's map is ordered (no `preserve_order` feature), so applying
//! a patch is deterministic: every replica produces the same bytes.

use serde_json::Value;

/// Applies `patch` to `target` in place, as RFC 7386 section 2 defines: an object patch
/// merges key by key (`null` removes a key), anything else replaces the target.
///
/// `json_patch::merge` is that algorithm step for step (the test below checks it against the
/// hand-written version this replaced, so replicas on either build agree).
pub fn apply(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The examples of RFC 7386, appendix A.
    #[test]
    fn rfc_7386_appendix_a() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (target, patch, expected) in cases {
            let mut t = target.clone();
            apply(&mut t, &patch);
            assert_eq!(t, expected, "target {target} patch {patch}");
            let mut r = target.clone();
            reference_apply(&mut r, &patch);
            assert_eq!(r, expected, "reference: target {target} patch {patch}");
        }
    }

    /// The hand-written RFC 7386 merge that `apply` replaced, kept as the reference.
    fn reference_apply(target: &mut Value, patch: &Value) {
        let Value::Object(patch) = patch else {
            *target = patch.clone();
            return;
        };
        if !target.is_object() {
            *target = Value::Object(serde_json::Map::new());
        }
        if let Value::Object(map) = target {
            for (key, value) in patch {
                if value.is_null() {
                    map.remove(key);
                } else {
                    reference_apply(map.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
    }

    const KEYS: [&str; 5] = ["a", "b", "c", "d", ""];

    /// A random JSON value over a few keys, so that patches hit existing keys, nest into
    /// objects, replace arrays and scalars and remove keys with `null`.
    fn random_value(rng: &mut impl rand::Rng, depth: u32) -> Value {
        let kinds = if depth == 0 { 5 } else { 8 };
        match rng.random_range(0..kinds) {
            0 => Value::Null,
            1 => Value::Bool(rng.random()),
            2 => json!(rng.random_range(-3i64..3)),
            3 => json!(f64::from(rng.random_range(-3i32..3)) / 2.0),
            4 => json!(KEYS[rng.random_range(0..KEYS.len())]),
            5 => Value::Array(
                (0..rng.random_range(0..3))
                    .map(|_| random_value(rng, depth - 1))
                    .collect(),
            ),
            _ => random_object(rng, depth - 1),
        }
    }

    fn random_object(rng: &mut impl rand::Rng, depth: u32) -> Value {
        Value::Object(
            (0..rng.random_range(0..5))
                .map(|_| {
                    let key = KEYS[rng.random_range(0..KEYS.len())].to_string();
                    (key, random_value(rng, depth))
                })
                .collect(),
        )
    }

    /// Mostly objects at the top (the key-by-key path), sometimes anything.
    fn random_doc(rng: &mut impl rand::Rng) -> Value {
        if rng.random_bool(0.8) {
            random_object(rng, 4)
        } else {
            random_value(rng, 4)
        }
    }

    /// The library merge gives the same value, and the same bytes, as the hand-written one.
    #[test]
    fn same_result_as_the_hand_written_merge() {
        use rand::SeedableRng;

        let mut rng = rand::rngs::StdRng::seed_from_u64(7386);
        let mut objects = 0;
        for _ in 0..20_000 {
            let target = random_doc(&mut rng);
            let patch = random_doc(&mut rng);
            objects += usize::from(target.is_object() && patch.is_object());
            let (mut ours, mut theirs) = (target.clone(), target.clone());
            apply(&mut ours, &patch);
            reference_apply(&mut theirs, &patch);
            assert_eq!(ours, theirs, "target {target} patch {patch}");
            assert_eq!(
                serde_json::to_vec(&ours).unwrap(),
                serde_json::to_vec(&theirs).unwrap()
            );
        }
        // The key-by-key path (both objects) is most of the cases.
        assert!(objects > 10_000, "{objects}");
    }

    #[test]
    fn result_bytes_do_not_depend_on_key_order() {
        let mut a = json!({"z": 1, "a": 2});
        let mut b = json!({"a": 2, "z": 1});
        apply(&mut a, &json!({"m": 3}));
        apply(&mut b, &json!({"m": 3}));
        assert_eq!(
            serde_json::to_vec(&a).unwrap(),
            serde_json::to_vec(&b).unwrap()
        );
    }
}
