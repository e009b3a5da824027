//! Identifiers that must never collide: queue ids and usage batch ids are 128 random
//! bits from the operating system, not a function of time and pid (pid 1 in every
//! container).

/// 32 lowercase hex digits of fresh randomness.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    tenantry_core::encoding::hex_encode(&bytes)
}

#[cfg(test)]
mod tests {
    use super::random_id;

    #[test]
    fn ids_are_128_bit_hex_and_distinct() {
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| random_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(
            ids.iter()
                .all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        );
    }
}
