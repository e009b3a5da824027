use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn verdict(spf: Check, dkim: &[Check], dmarc: Dmarc) -> Verdict {
    Verdict {
        spf,
        dkim: dkim.to_vec(),
        dmarc,
    }
}

const REFUSED: Disposition = Disposition::Refuse(replies::DMARC_REJECTED);
const DEFERRED: Disposition = Disposition::Defer(replies::AUTHENTICATION_UNAVAILABLE);

#[test]
fn the_table_of_the_module_documentation() {
    use Disposition::{Inbox, Junk};
    use DmarcHandling::{Policy, Quarantine, Reject, Tag};
    let fail = |p| verdict(Check::Fail, &[Check::None], Dmarc::Fail(p));
    let cases = [
        (
            verdict(Check::Pass, &[], Dmarc::Pass),
            [Inbox, Inbox, Inbox, Inbox],
        ),
        (
            verdict(Check::None, &[], Dmarc::None),
            [Inbox, Inbox, Inbox, Inbox],
        ),
        (
            verdict(Check::Fail, &[], Dmarc::PermError),
            [Inbox, Inbox, Inbox, Inbox],
        ),
        (fail(DmarcPolicy::Reject), [REFUSED, REFUSED, Junk, Inbox]),
        (fail(DmarcPolicy::Quarantine), [Junk, REFUSED, Junk, Inbox]),
        (fail(DmarcPolicy::None), [Inbox, REFUSED, Junk, Inbox]),
        (
            verdict(Check::Pass, &[], Dmarc::TempError),
            [DEFERRED, DEFERRED, DEFERRED, Inbox],
        ),
        (
            verdict(Check::TempError, &[], Dmarc::Fail(DmarcPolicy::Reject)),
            [DEFERRED, DEFERRED, DEFERRED, Inbox],
        ),
        (
            verdict(
                Check::Fail,
                &[Check::Pass, Check::TempError],
                Dmarc::Fail(DmarcPolicy::Quarantine),
            ),
            [DEFERRED, DEFERRED, DEFERRED, Inbox],
        ),
    ];
    for (verdict, expected) in cases {
        for (handling, want) in [Policy, Reject, Quarantine, Tag].into_iter().zip(expected) {
            assert_eq!(
                verdict.disposition(handling),
                want,
                "{verdict:?} under {handling:?}"
            );
        }
    }
}

#[test]
fn a_temporary_error_that_cannot_change_a_pass_does_not_defer() {
    let pass = verdict(Check::TempError, &[Check::Pass], Dmarc::Pass);
    assert_eq!(pass.disposition(DmarcHandling::Policy), Disposition::Inbox);
    let monitored = verdict(Check::TempError, &[], Dmarc::Fail(DmarcPolicy::None));
    assert_eq!(
        monitored.disposition(DmarcHandling::Policy),
        Disposition::Inbox
    );
}

#[test]
fn recipients_of_different_domains_settle_on_one_reply() {
    use Disposition::{Inbox, Junk};
    assert_eq!(settle(&[REFUSED, REFUSED]), Some(REFUSED));
    assert_eq!(settle(&[Inbox, DEFERRED, REFUSED]), Some(DEFERRED));
    assert_eq!(
        settle(&[REFUSED, Inbox]),
        None,
        "delivered when one domain accepts"
    );
    assert_eq!(settle(&[Inbox, Junk]), None);
    assert_eq!(settle(&[]), None);
    assert_eq!(
        folder(REFUSED),
        Junk,
        "a refusing domain's copy goes to Junk"
    );
    assert_eq!(folder(Junk), Junk);
    assert_eq!(folder(Inbox), Inbox);
}

#[test]
fn handling_names_round_trip() {
    for handling in [
        DmarcHandling::Policy,
        DmarcHandling::Reject,
        DmarcHandling::Quarantine,
        DmarcHandling::Tag,
    ] {
        assert_eq!(DmarcHandling::parse(handling.as_str()), Some(handling));
        let json = serde_json::to_string(&handling).unwrap();
        assert_eq!(json, alloc::format!("\"{}\"", handling.as_str()));
    }
    assert_eq!(DmarcHandling::parse("Reject"), None);
    assert_eq!(DmarcHandling::default(), DmarcHandling::Policy);
}

const ID: &str = "mx.tenantry.test";

#[test]
fn the_results_field_reports_each_method_on_its_own_line() {
    let dkim = [SignatureResult {
        check: Check::Pass,
        domain: "bank.example".into(),
        selector: "s1".into(),
        b_prefix: "ABsqa9Pv".into(),
    }];
    let results = Results {
        authserv_id: ID,
        remote_ip: "192.0.2.7",
        helo: ("mail.bank.example", Check::None),
        mail_from: ("notices@bank.example", Check::Pass),
        dkim: &dkim,
        arc: Check::None,
        dmarc: (Dmarc::Pass, "bank.example"),
    };
    assert_eq!(
        results.field(),
        "Authentication-Results: mx.tenantry.test;\r\n\tspf=none smtp.helo=mail.bank.example;\r\n\t\
spf=pass smtp.mailfrom=notices@bank.example;\r\n\tdkim=pass header.d=bank.example header.s=s1 header.b=ABsqa9Pv;\r\n\t\
arc=none smtp.remote-ip=192.0.2.7;\r\n\tdmarc=pass header.from=bank.example\r\n"
    );
    let bounce = Results {
        mail_from: ("", Check::None),
        dkim: &[],
        dmarc: (Dmarc::Fail(DmarcPolicy::Reject), "bank.example"),
        ..results
    };
    let field = bounce.field();
    assert!(field.contains("spf=none smtp.mailfrom=<>;"), "{field}");
    assert!(field.contains("\tdkim=none;"), "{field}");
    assert!(
        field.ends_with("\tdmarc=fail header.from=bank.example policy.dmarc=reject\r\n"),
        "{field}"
    );
}

#[test]
fn nothing_a_sender_chose_can_shape_the_field() {
    let dkim = [SignatureResult {
        check: Check::Fail,
        domain: "x.example\r\nauthentication-results: mx.tenantry.test; dmarc=pass".into(),
        selector: "s;dmarc=pass".into(),
        b_prefix: "AAAA".into(),
    }];
    let field = Results {
        authserv_id: ID,
        remote_ip: "127.0.0.1",
        helo: ("x;\tdmarc=pass\theader.from=bank.example", Check::None),
        mail_from: ("\"a;dmarc=pass\"@x.example", Check::None),
        dkim: &dkim,
        arc: Check::None,
        dmarc: (Dmarc::None, "bank.example\r\nX-Evil: 1"),
    }
    .field();
    assert_eq!(field.matches("dmarc=").count(), 1, "{field}");
    assert_eq!(field.matches(';').count(), 5, "one per method: {field}");
    assert_eq!(field.matches("\r\n").count(), 6, "{field}");
    assert!(!field.contains("\nX-Evil"), "{field}");
    assert!(
        field.contains("header.from=bank.exampleX-Evil:1"),
        "{field}"
    );
}

#[test]
fn one_author_domain_or_none() {
    assert_eq!(single_author_domain(&[]), Ok(()));
    assert_eq!(
        single_author_domain(&["bank.example", "BANK.example"]),
        Ok(())
    );
    assert_eq!(
        single_author_domain(
            &["ceo@bank.example", "x@evil.example"].map(|a| a.rsplit_once('@').unwrap().1)
        ),
        Err(replies::SEVERAL_AUTHOR_DOMAINS)
    );
    assert_eq!(
        submitted_results(ID, "ann@hopital-paris.example"),
        "Authentication-Results: mx.tenantry.test;\r\n\tauth=pass smtp.auth=ann@hopital-paris.example\r\n"
    );
}

#[test]
fn the_stricter_decision_wins_and_a_deferral_outranks_a_refusal() {
    use Disposition::{Inbox, Junk};
    assert_eq!(Inbox.stricter(Junk), Junk);
    assert_eq!(Junk.stricter(Inbox), Junk);
    assert_eq!(Junk.stricter(REFUSED), REFUSED);
    assert_eq!(REFUSED.stricter(DEFERRED), DEFERRED);
    assert_eq!(DEFERRED.stricter(REFUSED), DEFERRED);
    assert_eq!(Inbox.stricter(Inbox), Inbox);
}
