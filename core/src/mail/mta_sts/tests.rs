use super::*;
use alloc::string::ToString;
use alloc::vec;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const ENFORCE: &[u8] = b"version: STSv1\r\nmode: enforce\r\nmx: mx1.strict.example\r\nmx: *.mx.strict.example\r\nmax_age: 86400\r\n";

#[test]
fn a_policy_parses_with_its_mx_patterns() {
    let policy = Policy::parse(ENFORCE).unwrap();
    assert_eq!(policy.mode, Mode::Enforce);
    assert_eq!(policy.max_age, 86400);
    assert_eq!(policy.mx, vec!["mx1.strict.example", "*.mx.strict.example"]);
    let lf = Policy::parse(
        b"version: STSv1\nmode: testing\nmx: A.Example\nmax_age: 600\nextension: ignored\n",
    )
    .unwrap();
    assert_eq!(
        (lf.mode, lf.mx),
        (Mode::Testing, vec!["a.example".to_string()])
    );
    assert_eq!(
        Policy::parse(b"version: STSv1\nmode: none\nmax_age: 1\n")
            .unwrap()
            .mode,
        Mode::None
    );
}

#[test]
fn broken_policies_are_refused() {
    let cases: [(&[u8], PolicyError); 7] = [
        (
            b"mode: enforce\nmx: a.example\nmax_age: 1\n",
            PolicyError::Version,
        ),
        (
            b"version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n",
            PolicyError::Version,
        ),
        (
            b"version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n",
            PolicyError::Mode,
        ),
        (
            b"version: STSv1\nmx: a.example\nmax_age: 1\n",
            PolicyError::Mode,
        ),
        (
            b"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n",
            PolicyError::MaxAge,
        ),
        (
            b"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: soon\n",
            PolicyError::MaxAge,
        ),
        (
            b"version: STSv1\nmode: enforce\nmax_age: 60\n",
            PolicyError::NoMx,
        ),
    ];
    for (body, want) in cases {
        assert_eq!(
            Policy::parse(body),
            Err(want.clone()),
            "{:?}",
            core::str::from_utf8(body)
        );
    }
    assert_eq!(Policy::parse(&[0xff, 0xfe]), Err(PolicyError::NotText));
    assert_eq!(
        Policy::parse(&vec![b'a'; MAX_POLICY_BYTES + 1]),
        Err(PolicyError::NotText)
    );
}

#[test]
fn a_wildcard_covers_exactly_one_label() {
    let policy = Policy::parse(ENFORCE).unwrap();
    assert!(policy.allows_mx("mx1.strict.example"));
    assert!(policy.allows_mx("MX1.Strict.Example."));
    assert!(policy.allows_mx("a.mx.strict.example"));
    assert!(!policy.allows_mx("a.b.mx.strict.example"));
    assert!(!policy.allows_mx("mx.strict.example"));
    assert!(!policy.allows_mx(".mx.strict.example"));
    assert!(!policy.allows_mx("mx1.strict.example.evil.example"));
}

#[test]
fn the_cache_follows_the_published_id_and_outlives_a_missing_record() {
    let fetched = Fetched {
        id: "20261208".into(),
        policy: Policy::parse(ENFORCE).unwrap(),
        fetched_at: 1_000,
    };
    assert_eq!(
        refresh(Some(&fetched), Some("20261208"), 2_000),
        Refresh::UseCached
    );
    assert_eq!(
        refresh(Some(&fetched), Some("20261209"), 2_000),
        Refresh::Fetch
    );
    assert_eq!(
        refresh(Some(&fetched), Some("20261208"), 1_000 + 86_400),
        Refresh::Fetch,
        "expired"
    );
    assert_eq!(
        refresh(Some(&fetched), None, 2_000),
        Refresh::UseCached,
        "a policy outlives a missing record"
    );
    assert_eq!(
        refresh(Some(&fetched), None, 1_000 + 86_400),
        Refresh::NoPolicy
    );
    assert_eq!(refresh(None, Some("1"), 0), Refresh::Fetch);
    assert_eq!(refresh(None, None, 0), Refresh::NoPolicy);
}

#[test]
fn enforce_keeps_listed_hosts_with_verified_tls_and_testing_only_reports() {
    let hosts = vec![
        "mx1.strict.example".to_string(),
        "backup.other.example".to_string(),
    ];
    let enforce = Policy::parse(ENFORCE).unwrap();
    assert_eq!(
        delivery(Some(&enforce), &hosts),
        Delivery {
            hosts: vec!["mx1.strict.example".into()],
            verified_tls: true,
            would_refuse: vec![]
        }
    );
    let testing = Policy {
        mode: Mode::Testing,
        ..enforce.clone()
    };
    assert_eq!(
        delivery(Some(&testing), &hosts),
        Delivery {
            hosts: hosts.clone(),
            verified_tls: false,
            would_refuse: vec!["backup.other.example".into()]
        }
    );
    let none = Policy {
        mode: Mode::None,
        ..enforce
    };
    assert_eq!(delivery(Some(&none), &hosts).hosts, hosts);
    assert_eq!(
        delivery(None, &hosts),
        Delivery {
            hosts: hosts.clone(),
            verified_tls: false,
            would_refuse: vec![]
        }
    );
}
