//! OAuth2Credentials → snapshot credentials: consumer and Secret resolution, `clientId`
//! uniqueness (the older credential keeps it) and secret verifiers.

use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use tollgate_core::ids::credential_id;
use tollgate_core::secret::{
    MAX_ARGON2_M_KIB, MAX_ARGON2_P, MAX_ARGON2_T, MAX_ARGON2_WORK_KIB, MAX_PBKDF2_ITERATIONS,
    SecretError,
};
use tollgate_core::snapshot::{self, ClientType};

use super::consumers::{ConsumerLookup, Consumers};
use super::hasher::{SecretHasher, Verdict};
use super::problem::{Kind, ProblemCondition, reason};
use super::secrets::{self, SecretIndex};
use super::verifier_cache::SecretOrigin;
use super::{Named, ObjectName, Problems, is_header_safe, namespace_and_name};
use crate::resources::OAuth2CredentialSpec;
use crate::resources::oauth2_credential::ClientType as SpecClientType;

struct Candidate<'a> {
    spec: &'a OAuth2CredentialSpec,
    /// `metadata.uid`, when set.
    uid: Option<&'a str>,
    /// Namespace (the default one when it has none) and name.
    namespace: &'a str,
    name: &'a str,
    created: Option<Timestamp>,
}

impl<'a> Candidate<'a> {
    /// What a client id is unique within: namespace and client id.
    fn group_key(&self) -> (&'a str, &'a str) {
        (self.namespace, self.spec.client_id.as_str())
    }

    /// Age order: older first; objects without a creation time (standalone) after those with
    /// one; then namespace and name.
    fn age_key(&self) -> (bool, Option<Timestamp>, &str, &str) {
        (
            self.created.is_none(),
            self.created,
            self.namespace,
            self.name,
        )
    }

    /// Its name, for problems.
    fn at(&self) -> ObjectName {
        ObjectName {
            namespace: self.namespace.to_owned(),
            name: self.name.to_owned(),
        }
    }

    /// `namespace/name`.
    fn path(&self) -> String {
        let mut path = String::with_capacity(self.namespace.len() + 1 + self.name.len());
        path.push_str(self.namespace);
        path.push('/');
        path.push_str(self.name);
        path
    }
}

pub(crate) fn translate<K: Named<Spec = OAuth2CredentialSpec>>(
    objects: &[Arc<K>],
    consumers: &Consumers,
    secrets: &SecretIndex<'_>,
    hasher: &mut SecretHasher,
    problems: &mut Problems,
) -> Vec<snapshot::Credential> {
    // Client ids are unique per namespace: a tenant cannot take another tenant's client id.
    // Grouped by (namespace, client id) by one sort, oldest first in each group; the snapshot
    // and the problems are sorted afterwards.
    let mut candidates: Vec<Candidate<'_>> = objects
        .iter()
        .map(|obj| {
            let (namespace, name) = namespace_and_name(obj.as_ref());
            Candidate {
                spec: obj.spec(),
                uid: obj.uid(),
                namespace,
                name,
                created: obj.created(),
            }
        })
        .collect();
    let group_key = Candidate::group_key;
    candidates.sort_unstable_by(|a, b| {
        group_key(a)
            .cmp(&group_key(b))
            .then_with(|| a.age_key().cmp(&b.age_key()))
    });
    // Owners whose verifier is derived (a salted SHA-256, no previous secrets) need nothing of
    // the hasher's memo: those are translated on several threads when there are many.
    let (derived, memoized): (Vec<&[Candidate<'_>]>, Vec<&[Candidate<'_>]>) = candidates
        .chunk_by(|a, b| group_key(a) == group_key(b))
        .partition(|group| {
            group.first().is_some_and(|owner| {
                !owner.spec.hash_secret && owner.spec.previous_client_secrets.is_empty()
            })
        });
    let mut out = Vec::with_capacity(objects.len());
    for group in memoized {
        translate_group(
            group,
            consumers,
            secrets,
            Hashing::With(&mut *hasher),
            problems,
            &mut out,
        );
    }
    let threads = if derived.len() < PARALLEL_FROM {
        1
    } else {
        std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .min(MAX_THREADS)
    };
    let share = derived.len().div_ceil(threads).max(1);
    let shares: Vec<(Vec<snapshot::Credential>, Problems)> = std::thread::scope(|scope| {
        let work = move |share: &[&[Candidate<'_>]]| {
            let mut problems = Problems::default();
            let mut out = Vec::with_capacity(share.len());
            for group in share {
                translate_group(
                    group,
                    consumers,
                    secrets,
                    Hashing::Derived,
                    &mut problems,
                    &mut out,
                );
            }
            (out, problems)
        };
        let mut chunks = derived.chunks(share);
        // The first share is translated here, the others on threads of their own.
        let first = chunks.next();
        let handles: Vec<_> = chunks
            .map(|chunk| {
                std::thread::Builder::new()
                    .name("translate".into())
                    .spawn_scoped(scope, move || work(chunk))
                    .map_err(|_| chunk)
            })
            .collect();
        let mut shares = vec![work(first.unwrap_or_default())];
        for handle in handles {
            shares.push(match handle {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                // No thread to be had: translate that share here.
                Err(chunk) => work(chunk),
            });
        }
        shares
    });
    for (mut credentials, share_problems) in shares {
        out.append(&mut credentials);
        problems.0.extend(share_problems.0);
    }
    out
}

/// Below this many credentials whose verifier is derived, they are translated on one thread.
const PARALLEL_FROM: usize = 4096;
const MAX_THREADS: usize = 4;

/// How a credential's secret becomes a verifier.
enum Hashing<'h> {
    /// It does not: the credential is only checked (it lost its clientId to an older one).
    CheckOnly,
    /// Derived without the hasher's memo ([`SecretHasher::derived`]): for a credential with
    /// `hashSecret: false` and no previous secrets.
    Derived,
    /// Through the hasher (argon2id, memoized; previous secrets).
    With(&'h mut SecretHasher),
}

/// The credential of a group of one (namespace, client id), oldest first: the oldest owns the
/// client id, the others are reported.
fn translate_group(
    group: &[Candidate<'_>],
    consumers: &Consumers,
    secrets: &SecretIndex<'_>,
    hashing: Hashing<'_>,
    problems: &mut Problems,
    out: &mut Vec<snapshot::Credential>,
) {
    let Some((owner, newer)) = group.split_first() else {
        return;
    };
    let client_id = &owner.spec.client_id;
    for newer in newer {
        problems.push(
            Kind::OAuth2Credential,
            &newer.at(),
            ProblemCondition::Accepted,
            reason::DUPLICATE_CLIENT_ID,
            format!(
                "clientId {client_id:?} already belongs to the older OAuth2Credential {} \
                     of this namespace",
                owner.path()
            ),
        );
        // Report its other problems too (without hashing), so one fix is not followed by a
        // surprise.
        credential(newer, consumers, secrets, Hashing::CheckOnly, problems);
    }
    if let Some(credential) = credential(owner, consumers, secrets, hashing, problems) {
        out.push(credential);
    }
}

fn credential(
    c: &Candidate<'_>,
    consumers: &Consumers,
    secrets: &SecretIndex<'_>,
    mut hashing: Hashing<'_>,
    problems: &mut Problems,
) -> Option<snapshot::Credential> {
    let spec = &c.spec;
    let mut report = |condition, reason, message: String| {
        problems.push(Kind::OAuth2Credential, &c.at(), condition, reason, message);
    };
    let consumer_id = consumer_of(c, consumers, &mut report);
    let fields_ok = check_fields(c, &mut report);
    let client_type = match spec.client_type {
        SpecClientType::Confidential => ClientType::Confidential,
        SpecClientType::Public => ClientType::Public,
    };
    let secret_value = secret_of(c, client_type, secrets, &mut report);
    let consumer_id = consumer_id?;
    if matches!(hashing, Hashing::CheckOnly) {
        return None;
    }
    let secret_value = secret_value.ok()?;
    if !fields_ok {
        return None;
    }
    let id = match c.uid {
        Some(uid) if !uid.is_empty() => uid.to_owned(),
        _ => credential_id(c.namespace, c.name),
    };
    // Previous secrets first: one that was the current secret until now is still memoized under
    // the credential id, and is taken from there before the current secret replaces it.
    let mut previous = match &mut hashing {
        Hashing::With(hasher) => {
            previous_secrets(c, &id, client_type, secrets, hasher, &mut report)?
        }
        Hashing::Derived | Hashing::CheckOnly => {
            debug_assert!(spec.previous_client_secrets.is_empty());
            Vec::new()
        }
    };
    // The Secret as installed now: a secret set back to an earlier value is another
    // installation, so tokens of the earlier one stay revoked (standalone mode, whose Secrets
    // have neither, stamps a counter of its own). Tokens that survive rotation must not depend
    // on the Secret at all: the credential's own id (its uid) is what they are bound to.
    let incarnation = match &secret_value {
        Some(found) if !spec.tokens_survive_rotation => {
            match (
                &found.secret.metadata.uid,
                &found.secret.metadata.resource_version,
            ) {
                (Some(uid), Some(rv)) if !uid.is_empty() && !rv.is_empty() => {
                    format!("{uid}/{rv}")
                }
                _ => String::new(),
            }
        }
        _ => String::new(),
    };
    let secret_verifier = match secret_value {
        None => None,
        Some(found) => {
            match verifier_of(&id, spec.hash_secret, &found, &mut hashing, &mut report) {
                Ok(verifier) => Some(verifier),
                // A new secret still being hashed: the previous ones keep the client served
                // meanwhile (the next round brings the new one in).
                Err(Unready::Pending) if !previous.is_empty() => Some(previous.remove(0).verifier),
                Err(Unready::Pending) => {
                    report(
                        ProblemCondition::ResolvedRefs,
                        reason::SECRET_HASHING,
                        "the client secret is being hashed; the credential is served once done"
                            .into(),
                    );
                    return None;
                }
                Err(Unready::Reported) => return None,
            }
        }
    };
    Some(snapshot::Credential {
        scopes: spec.scopes.clone(),
        id,
        object: c.path(),
        consumer_id,
        name: spec.name.clone().unwrap_or_else(|| c.name.to_owned()),
        client_id: spec.client_id.clone(),
        client_type,
        secret_verifier,
        redirect_uris: spec.redirect_uris.clone(),
        previous_secrets: previous,
        tokens_survive_rotation: spec.tokens_survive_rotation,
        incarnation,
    })
}

/// How a credential's problems are reported: condition, reason, message.
type Report<'r> = dyn FnMut(ProblemCondition, &'static str, String) + 'r;

/// The credential's Consumer id, if that Consumer exists in its namespace and is accepted.
fn consumer_of(
    c: &Candidate<'_>,
    consumers: &Consumers,
    report: &mut Report<'_>,
) -> Option<String> {
    let name = &c.spec.consumer_ref.name;
    match consumers.lookup(c.namespace, name) {
        ConsumerLookup::Accepted(consumer) => Some(consumer.id.clone()),
        ConsumerLookup::NotAccepted => {
            report(
                ProblemCondition::ResolvedRefs,
                reason::CONSUMER_NOT_ACCEPTED,
                format!("Consumer {name} is not accepted"),
            );
            None
        }
        ConsumerLookup::NotFound => {
            report(
                ProblemCondition::ResolvedRefs,
                reason::CONSUMER_NOT_FOUND,
                format!(
                    "Consumer {name} does not exist in namespace {}",
                    c.namespace
                ),
            );
            None
        }
    }
}

/// Checks the client id and the redirect URIs, reporting every problem; whether all passed.
fn check_fields(c: &Candidate<'_>, report: &mut Report<'_>) -> bool {
    let spec = &c.spec;
    let mut ok = true;
    if !is_header_safe(&spec.client_id) || spec.client_id.contains(' ') {
        ok = false;
        report(
            ProblemCondition::Accepted,
            reason::INVALID_CREDENTIAL,
            "clientId must be non-empty visible ASCII without spaces".into(),
        );
    }
    for uri in &spec.redirect_uris {
        if let Err(why) = check_redirect_uri(uri) {
            ok = false;
            report(
                ProblemCondition::Accepted,
                reason::INVALID_CREDENTIAL,
                format!("redirect URI {uri:?} {why}"),
            );
        }
    }
    ok
}

/// A confidential client's secret: its value, the Secret holding it and the key.
struct FoundSecret<'a> {
    value: &'a [u8],
    secret: &'a k8s_openapi::api::core::v1::Secret,
    key: &'a str,
}

/// Added to a missing secret's message when `generateSecret` is set.
const GENERATING: &str = "; generateSecret is set: an operator run with \
    --generate-client-secrets (chart value clientSecrets.generate) writes one there; standalone \
    mode never writes Secrets: put one in the manifest, such as the output of \
    `openssl rand -base64 32 | tr '+/' '-_'`";

/// The client secret the credential's type calls for: `Ok(None)` for a public client,
/// `Err(())` once a problem is reported.
fn secret_of<'a>(
    c: &Candidate<'a>,
    client_type: ClientType,
    secrets: &'a SecretIndex<'_>,
    report: &mut Report<'_>,
) -> Result<Option<FoundSecret<'a>>, ()> {
    let namespace = c.namespace;
    let r = match (client_type, &c.spec.client_secret_ref) {
        (ClientType::Public, None) => return Ok(None),
        (ClientType::Public, Some(_)) => {
            report(
                ProblemCondition::Accepted,
                reason::INVALID_CREDENTIAL,
                "a public client has no secret: remove clientSecretRef".into(),
            );
            return Err(());
        }
        (ClientType::Confidential, None) => {
            report(
                ProblemCondition::Accepted,
                reason::INVALID_CREDENTIAL,
                "a confidential client needs clientSecretRef".into(),
            );
            return Err(());
        }
        (ClientType::Confidential, Some(r)) => r,
    };
    let generating = if c.spec.generate_secret {
        GENERATING
    } else {
        ""
    };
    let Some(secret) = secrets.get(namespace, &r.name) else {
        let (why, message) = secrets.missing(namespace, &r.name);
        report(
            ProblemCondition::ResolvedRefs,
            why,
            format!("{message}{generating}"),
        );
        return Err(());
    };
    match secrets::value(secret, &r.key) {
        None => {
            report(
                ProblemCondition::ResolvedRefs,
                reason::SECRET_KEY_NOT_FOUND,
                format!("Secret {} has no key {:?}{generating}", r.name, r.key),
            );
            Err(())
        }
        Some([]) => {
            report(
                ProblemCondition::ResolvedRefs,
                reason::INVALID_SECRET,
                format!("key {:?} of Secret {} is empty", r.key, r.name),
            );
            Err(())
        }
        Some(value) => Ok(Some(FoundSecret {
            value,
            secret,
            key: r.key.as_str(),
        })),
    }
}

/// Why a found secret has no verifier yet.
enum Unready {
    /// Being hashed in the background (not reported: the caller decides).
    Pending,
    /// Refused, and the reason reported.
    Reported,
}

/// The verifier of a found secret, kept in the hasher's memo under `slot` (the credential id for
/// the current secret). Failures are reported (a pre-hashed verifier over the cost bounds, or a
/// failure to hash).
fn verifier_of(
    slot: &str,
    hash_secret: bool,
    found: &FoundSecret<'_>,
    hashing: &mut Hashing<'_>,
    report: &mut Report<'_>,
) -> Result<String, Unready> {
    let origin = found
        .secret
        .metadata
        .uid
        .as_deref()
        .filter(|uid| !uid.is_empty())
        .map(|uid| SecretOrigin {
            uid,
            key: found.key,
        });
    let verdict = match hashing {
        Hashing::With(hasher) => hasher.verifier(slot, hash_secret, found.value, origin),
        // Only credentials whose verifier is derived are translated this way.
        Hashing::Derived | Hashing::CheckOnly => {
            SecretHasher::derived(slot, hash_secret, found.value).unwrap_or(Verdict::Pending)
        }
    };
    match verdict {
        Verdict::Ready(verifier) => Ok(verifier),
        Verdict::Pending => Err(Unready::Pending),
        Verdict::Failed(err @ SecretError::OutOfBounds(_)) => {
            report(
                ProblemCondition::ResolvedRefs,
                reason::INVALID_SECRET,
                format!(
                    "the Secret holds a pre-hashed verifier that costs more than allowed \
                     ({err}; argon2id: m <= {MAX_ARGON2_M_KIB} KiB, t <= {MAX_ARGON2_T}, \
                     p <= {MAX_ARGON2_P}, m*t <= {MAX_ARGON2_WORK_KIB}; pbkdf2-sha512: \
                     i <= {MAX_PBKDF2_ITERATIONS})"
                ),
            );
            Err(Unready::Reported)
        }
        Verdict::Failed(err) => {
            report(
                ProblemCondition::ResolvedRefs,
                reason::INVALID_SECRET,
                format!("the client secret could not be hashed: {err}"),
            );
            Err(Unready::Reported)
        }
    }
}

/// The previous secrets of a rotation still accepted now, ready to serve; `None` once a reason
/// is reported (an unreadable `validUntil`, previous secrets on a public client, a value that
/// cannot be hashed). One past its `validUntil`, or whose Secret or key is gone, is left out
/// without a problem: that is how a grace period ends. One still being hashed joins in a later
/// round.
fn previous_secrets(
    c: &Candidate<'_>,
    id: &str,
    client_type: ClientType,
    secrets: &SecretIndex<'_>,
    hasher: &mut SecretHasher,
    report: &mut Report<'_>,
) -> Option<Vec<snapshot::PreviousSecret>> {
    let spec = c.spec;
    if spec.previous_client_secrets.is_empty() {
        return Some(Vec::new());
    }
    if client_type == ClientType::Public {
        report(
            ProblemCondition::Accepted,
            reason::INVALID_CREDENTIAL,
            "a public client has no secret: remove previousClientSecrets".into(),
        );
        return None;
    }
    if spec.previous_client_secrets.len() > snapshot::MAX_PREVIOUS_SECRETS {
        report(
            ProblemCondition::Accepted,
            reason::INVALID_CREDENTIAL,
            format!(
                "previousClientSecrets lists {} secrets, more than {}",
                spec.previous_client_secrets.len(),
                snapshot::MAX_PREVIOUS_SECRETS
            ),
        );
        return None;
    }
    let now = Timestamp::now().as_second();
    let mut out = Vec::new();
    let mut ok = true;
    for (i, previous) in spec.previous_client_secrets.iter().enumerate() {
        let valid_until = match previous.valid_until.parse::<Timestamp>() {
            Ok(t) => t.as_second(),
            Err(_) => {
                ok = false;
                report(
                    ProblemCondition::Accepted,
                    reason::INVALID_CREDENTIAL,
                    format!(
                        "previousClientSecrets[{i}].validUntil {:?} is not an RFC 3339 time \
                         (such as 2026-01-31T12:00:00Z)",
                        previous.valid_until
                    ),
                );
                continue;
            }
        };
        let Ok(valid_until) = u64::try_from(valid_until) else {
            continue;
        };
        if valid_until <= u64::try_from(now).unwrap_or(0) {
            continue;
        }
        let r = &previous.secret_ref;
        let Some(secret) = secrets.get(c.namespace, &r.name) else {
            continue;
        };
        let Some(value) = secrets::value(secret, &r.key).filter(|v| !v.is_empty()) else {
            continue;
        };
        let found = FoundSecret {
            value,
            secret,
            key: &r.key,
        };
        let slot = format!("{id}#previous/{}/{}", r.name, r.key);
        hasher.adopt(&slot, id, spec.hash_secret, value);
        match verifier_of(
            &slot,
            spec.hash_secret,
            &found,
            &mut Hashing::With(&mut *hasher),
            report,
        ) {
            Ok(verifier) => out.push(snapshot::PreviousSecret {
                verifier,
                valid_until,
            }),
            Err(Unready::Pending) => {}
            Err(Unready::Reported) => ok = false,
        }
    }
    ok.then_some(out)
}

fn check_redirect_uri(uri: &str) -> Result<(), &'static str> {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err("is not an absolute URI");
    };
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err("has an invalid scheme");
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() {
        return Err("has no host");
    }
    if uri.contains('#') {
        return Err("has a fragment, which is not allowed");
    }
    if uri.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err("contains spaces or control characters");
    }
    Ok(())
}
