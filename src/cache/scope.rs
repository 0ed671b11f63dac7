//! The user scope of cache keys: a digest of the access token, so one user's cached answers are
//! never served to another and the token itself is never stored.

use std::cell::RefCell;

/// The first 128 bits of SHA-256 of a token: the user part of every cache key.
pub(crate) type UserScope = [u8; 16];

thread_local! {
    // The last token this thread saw and its digest: tokens rarely change, so the hot cache-hit
    // path compares bytes instead of hashing, and threads never contend for it.
    static LAST_SCOPE: RefCell<(String, UserScope)> = RefCell::new((String::new(), digest("")));
}

fn digest(token: &str) -> UserScope {
    let hash = crate::checksum::sha256(token.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&hash[..16]);
    out
}

/// The cache scope of `token`, hashing only when the token differs from this thread's last one.
pub(crate) fn user_scope(token: &str) -> UserScope {
    LAST_SCOPE.with(|cell| {
        let mut last = cell.borrow_mut();
        if last.0 != token {
            last.1 = digest(token);
            last.0.clear();
            last.0.push_str(token);
        }
        last.1
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the scope is the SHA-256 prefix and that the memo never returns a stale digest. (FR-11)
    #[test]
    fn scope_is_sha256_prefix_and_memo_tracks_changes() {
        let a = user_scope("token-a");
        assert_eq!(a, digest("token-a"));
        assert_eq!(user_scope("token-a"), a);
        let b = user_scope("token-b");
        assert_ne!(a, b);
        assert_eq!(user_scope("token-a"), a);
        assert_eq!(user_scope(""), digest(""));
    }
}
