//! Short ids at the API's edge: wherever a message or post id goes, a unique
//! prefix of at least [`MIN_PREFIX`] hex characters is accepted and expanded
//! here, so the services only ever see whole ids. An ambiguous prefix is
//! refused with the candidates listed (`300`, kind `ambiguous`).

use super::{ApiError, Shared};
use crate::chat::MIN_PREFIX;

/// Length of an id as the API prints it (32 bytes in hex).
const FULL: usize = 64;

/// The whole id of the logged message `typed` names.
pub(super) fn message(node: &Shared, typed: &str) -> Result<String, ApiError> {
    expand(typed, "message", |p| {
        let mut ids: Vec<[u8; 32]> = node
            .store
            .message_ids_with_prefix(p)?
            .into_iter()
            .map(|m| m.0)
            .collect();
        ids.extend(node.store.group_message_ids_with_prefix(p)?);
        Ok(ids)
    })
}

/// The whole id of the Moments post `typed` names.
pub(super) fn post(node: &Shared, typed: &str) -> Result<String, ApiError> {
    expand(typed, "post", |p| node.store.post_ids_with_prefix(p))
}

/// `typed` itself if it is whole, else the one stored id it starts.
fn expand(
    typed: &str,
    what: &str,
    find: impl FnOnce(&str) -> Result<Vec<[u8; 32]>, crate::store::StoreError>,
) -> Result<String, ApiError> {
    let typed = typed.trim();
    if typed.len() >= FULL {
        return Ok(typed.to_string());
    }
    let shown: String = typed.chars().take(80).collect();
    if typed.chars().count() < MIN_PREFIX {
        return Err(ApiError::bad_request(format!(
            "`{shown}` is too short for a {what} id; type at least {MIN_PREFIX} characters"
        )));
    }
    let found = find(typed)?;
    match found.as_slice() {
        [] => Err(ApiError::not_found(format!(
            "no {what} id starts with `{shown}`"
        ))),
        [one] => Ok(weft_protocol::hex::encode(one)),
        many => {
            let list: Vec<String> = many
                .iter()
                .map(|id| weft_protocol::hex::encode(id)[..12].to_string())
                .collect();
            Err(ApiError::ambiguous(format!(
                "`{shown}` starts several {what} ids: {}; type more characters",
                list.join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(
        v: &[[u8; 32]],
    ) -> impl FnOnce(&str) -> Result<Vec<[u8; 32]>, crate::store::StoreError> + '_ {
        move |_| Ok(v.to_vec())
    }

    #[test]
    fn prefixes_expand_or_explain() {
        let a = [0xab; 32];
        let b = [0xac; 32];
        assert_eq!(
            expand("abababab", "post", ids(&[a])).unwrap(),
            "ab".repeat(32)
        );
        let whole = "ab".repeat(32);
        assert_eq!(expand(&whole, "post", ids(&[])).unwrap(), whole);
        assert_eq!(
            expand("abab", "post", ids(&[a])).unwrap_err().0.as_u16(),
            400
        );
        assert_eq!(
            expand("ababab", "post", ids(&[])).unwrap_err().0.as_u16(),
            404
        );
        let err = expand("ababab", "post", ids(&[a, b])).unwrap_err();
        assert_eq!(err.0.as_u16(), 300);
        assert!(err.1.contains("acacacacacac"), "{}", err.1);
    }
}
