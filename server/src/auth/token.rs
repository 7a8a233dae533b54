//! Auth tokens: `cairn1.<user hex>.<password revision>.<expiry ms>.<mac hex>`, signed with
//! HMAC-SHA256 under the cluster's replicated secret (set when auth is enabled). Any member
//! verifies any member's token without a round trip; a token ends at its expiry, when the
//! user's password changes or the user is re-created (the password revision moves), and when
//! auth is disabled and enabled again (a new secret).

use ring::hmac;

use cairn_model::auth::AuthState;

const PREFIX: &str = "cairn1";

/// A token for `user` (at `password_revision`) valid until `expires_ms`.
pub fn issue(secret: &[u8], user: &str, password_revision: u64, expires_ms: u64) -> String {
    let body = format!(
        "{PREFIX}.{}.{password_revision}.{expires_ms}",
        hex::encode(user)
    );
    let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), body.as_bytes());
    format!("{body}.{}", hex::encode(mac.as_ref()))
}

/// The user `token` speaks for, if it is genuine, unexpired at `now_ms`, and its user still
/// has the password it was issued for.
pub fn verify(state: &AuthState, token: &str, now_ms: u64) -> Option<String> {
    let (body, mac) = token.rsplit_once('.')?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, &state.secret);
    // Constant-time comparison (ring's verify), before anything else is believed.
    hmac::verify(&key, body.as_bytes(), &hex::decode(mac).ok()?).ok()?;
    let mut parts = body.split('.');
    if parts.next()? != PREFIX {
        return None;
    }
    let user = String::from_utf8(hex::decode(parts.next()?).ok()?).ok()?;
    let password_revision: u64 = parts.next()?.parse().ok()?;
    let expires_ms: u64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || expires_ms <= now_ms {
        return None;
    }
    let current = state.user(&user)?;
    (current.password_revision == password_revision).then_some(user)
}

#[cfg(test)]
mod tests {
    use cairn_model::auth::{AuthCommand, AuthState};

    use super::*;

    fn state() -> AuthState {
        let mut s = AuthState::default();
        let add = AuthCommand::UserAdd {
            name: "alice".into(),
            password_hash: Some("h".into()),
        };
        s.apply(&add, 3).unwrap();
        s.secret = vec![5; 32];
        s
    }

    #[test]
    fn a_token_names_its_user_until_it_expires() {
        let s = state();
        let t = issue(&s.secret, "alice", 3, 1_000);
        assert_eq!(verify(&s, &t, 999).as_deref(), Some("alice"));
        assert_eq!(verify(&s, &t, 1_000), None, "expired");
    }

    #[test]
    fn forged_stale_and_foreign_tokens_are_refused() {
        let s = state();
        let t = issue(&s.secret, "alice", 3, 1_000);
        // Another user's name under alice's signature.
        let forged = t.replacen(&hex::encode("alice"), &hex::encode("root"), 1);
        assert_eq!(verify(&s, &forged, 0), None);
        // A later expiry under the old signature.
        let extended = t.replacen(".1000.", ".9000.", 1);
        assert_eq!(verify(&s, &extended, 0), None);
        // Signed with another secret (auth disabled and enabled again).
        assert_eq!(verify(&s, &issue(&[6; 32], "alice", 3, 1_000), 0), None);
        // Issued before the password changed.
        assert_eq!(verify(&s, &issue(&s.secret, "alice", 2, 1_000), 0), None);
        // A user that does not exist (any more).
        assert_eq!(verify(&s, &issue(&s.secret, "bob", 3, 1_000), 0), None);
        assert_eq!(verify(&s, "garbage", 0), None);
        assert_eq!(verify(&s, "", 0), None);
    }
}
