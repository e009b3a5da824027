//! Core benchmarks, each next to its named peer in the same run.
//!
//! Run with `cargo bench -p tenantry-core`; `scripts/bench.sh core` prints the ratios.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::hint::black_box;
use std::num::NonZeroU32;
use tenantry_core::auth::{
    Audience, Claims, JwtConfig, JwtKey, Membership, Principal, PrincipalKind, TenantClaim,
};
use tenantry_core::limits::Plan;
use tenantry_core::ratelimit::{SlidingWindow, WindowState};
use tenantry_core::rbac::{Required, authorize};
use tenantry_core::tenant::{
    Hostname, RequestFacts, Tenant, TenantKey, TenantResolver, TenantStatus,
};
use tenantry_core::webhook::StripeVerifier;

const SECRET: &[u8] = b"bench-secret-bench-secret-bench-secret!!";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(now: i64) -> Claims {
    Claims {
        sub: "u_01HZX3".into(),
        tenant_id: Some("t_paris".into()),
        tenant_role: Some("admin".into()),
        tenants: vec![
            TenantClaim {
                id: "t_paris".into(),
                slug: "paris".into(),
                role: "admin".into(),
            },
            TenantClaim {
                id: "t_lyon".into(),
                slug: "lyon".into(),
                role: "viewer".into(),
            },
        ],
        platform_role: None,
        iat: now,
        exp: now + 3600,
        nbf: None,
        iss: "tenantry".into(),
        aud: Audience::One("tenantry-api".into()),
        sid: None,
        amr: Vec::new(),
    }
}

fn jwt(c: &mut Criterion) {
    let now = now();
    let key = JwtKey::new(SECRET).unwrap();
    let token = key.sign(&claims(now));
    let config = JwtConfig::default();
    assert!(key.verify(&token, &config, now).is_ok());

    let decoding = jsonwebtoken::DecodingKey::from_secret(SECRET);
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&["tenantry"]);
    validation.set_audience(&["tenantry-api"]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    assert!(jsonwebtoken::decode::<Claims>(&token, &decoding, &validation).is_ok());

    let mut group = c.benchmark_group("jwt_verify_hs256");
    group.bench_function("tenantry", |b| {
        b.iter(|| key.verify(black_box(&token), &config, now).unwrap())
    });
    group.bench_function("jsonwebtoken", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<Claims>(black_box(&token), &decoding, &validation).unwrap()
        })
    });
    group.finish();
}

fn stripe(c: &mut Criterion) {
    let now = now();
    let pattern = br#"{"id":"evt_1","object":"event"}"#;
    let payload: Vec<u8> = pattern.iter().copied().cycle().take(2048).collect();
    let secret = "whsec_bench_secret_value";
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{now}.").as_bytes());
    mac.update(&payload);
    let signature: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let header = format!("t={now},v1={signature}");
    let verifier = StripeVerifier::new(&[secret]).unwrap();
    assert!(verifier.verify(&payload, Some(&header), now).is_ok());

    let mut group = c.benchmark_group("stripe_verify_2KiB");
    group.bench_function("tenantry", |b| {
        b.iter(|| {
            verifier
                .verify(black_box(&payload), Some(black_box(&header)), now)
                .unwrap()
        })
    });
    group.bench_function("bare_hmac_hex_ct", |b| {
        b.iter(|| {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(now.to_string().as_bytes());
            mac.update(b".");
            mac.update(black_box(&payload));
            let digest = mac.finalize().into_bytes();
            let mut hex = [0u8; 64];
            for (i, byte) in digest.iter().enumerate() {
                hex[2 * i] = b"0123456789abcdef"[(byte >> 4) as usize];
                hex[2 * i + 1] = b"0123456789abcdef"[(byte & 15) as usize];
            }
            assert!(bool::from(subtle::ConstantTimeEq::ct_eq(
                &hex[..],
                signature.as_bytes()
            )));
        })
    });
    group.finish();
}

fn ratelimit(c: &mut Criterion) {
    // A limit high enough that every decision is an allow, for both.
    let per_minute = 1_000_000_000u32;
    let policy = SlidingWindow::per_minute(per_minute);
    let mut group = c.benchmark_group("ratelimit_single_key");
    group.bench_function("tenantry_sliding_window", |b| {
        let mut state = WindowState::default();
        let mut t = 0u64;
        b.iter(|| {
            t += 1;
            black_box(policy.check(&mut state, 1_000_000 + t / 1000).allowed)
        })
    });
    let quota = governor::Quota::per_minute(NonZeroU32::new(per_minute).unwrap());
    let direct = governor::RateLimiter::direct(quota);
    group.bench_function("governor", |b| b.iter(|| black_box(direct.check().is_ok())));
    group.finish();

    let mut group = c.benchmark_group("ratelimit_1000_keys");
    group.bench_function("tenantry_sliding_window", |b| {
        // Each key's state where a shell keeps it (in production, its Durable Object).
        let mut states: HashMap<u32, WindowState> = HashMap::new();
        let mut i = 0u32;
        b.iter(|| {
            i = i.wrapping_add(1);
            let state = states.entry(i % 1000).or_default();
            black_box(policy.check(state, 1_000_000 + u64::from(i) / 1000).allowed)
        })
    });
    let keyed = governor::RateLimiter::keyed(quota);
    group.bench_function("governor", |b| {
        let mut i = 0u32;
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(keyed.check_key(&(i % 1000)).is_ok())
        })
    });
    group.finish();
}

fn decisions(c: &mut Criterion) {
    let tenants = [
        Tenant {
            id: "t_paris".into(),
            slug: "paris".into(),
            name: "Paris".into(),
            plan: Plan::Starter,
            status: TenantStatus::Active,
        },
        Tenant {
            id: "t_lyon".into(),
            slug: "lyon".into(),
            name: "Lyon".into(),
            plan: Plan::Free,
            status: TenantStatus::Active,
        },
    ];
    let resolver = TenantResolver::new(Some(Hostname::parse("app.example").unwrap()));
    let principal = Principal {
        subject: "u_1".into(),
        kind: PrincipalKind::User,
        platform_role: None,
        home_tenant: Some("t_paris".into()),
        memberships: vec![Membership {
            tenant_id: "t_paris".into(),
            role: "employee".into(),
        }],
        session: None,
    };
    let facts = RequestFacts {
        host: Some("paris.app.example:443"),
        path: "/v1/clients",
        ..Default::default()
    };
    let lookup = |key: &TenantKey| match key {
        TenantKey::Slug(s) => tenants.iter().find(|t| t.slug == s.as_str()),
        TenantKey::Id(id) => tenants.iter().find(|t| &t.id == id),
        TenantKey::Hostname(_) => None,
    };
    c.bench_function("tenant_resolution_subdomain", |b| {
        b.iter(|| {
            let named = resolver.named(black_box(&facts), Some(&principal)).unwrap();
            resolver.decide(&named, Some(&principal), lookup).unwrap()
        })
    });
    let mut group = c.benchmark_group("authorize");
    for (name, required) in [
        ("builtin_allow", Required::new("clients", "read")),
        (
            "own_allow",
            Required::new("appointments", "update").owned_by("u_1"),
        ),
        ("deny", Required::new("members", "delete")),
    ] {
        group.bench_with_input(
            BenchmarkId::from_parameter(name),
            &required,
            |b, required| b.iter(|| authorize(&principal, "t_paris", black_box(required), &[])),
        );
    }
    group.finish();
}

criterion_group!(benches, jwt, stripe, ratelimit, decisions);
criterion_main!(benches);
