//! What translation reads of a Consumer or OAuth2Credential: its name, namespace, uid, creation
//! time and spec. The operator hands over the objects of its caches as they are; standalone mode
//! keeps [`Slim`] copies, because an `ObjectMeta` alone takes 360 bytes and a manifest directory
//! can hold 100,000 consumers and as many credentials, all kept between reconciles.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;

use crate::resources::{Consumer, ConsumerSpec, OAuth2Credential, OAuth2CredentialSpec};

/// An object translation reads through its metadata and its spec.
pub trait Named {
    type Spec;
    /// `metadata.name`, else `metadata.generateName`, else empty (as `ResourceExt::name_any`).
    fn name(&self) -> &str;
    /// `metadata.namespace`, when set.
    fn namespace(&self) -> Option<&str>;
    /// `metadata.uid`, when set.
    fn uid(&self) -> Option<&str>;
    /// `metadata.creationTimestamp`, when set.
    fn created(&self) -> Option<Timestamp>;
    fn spec(&self) -> &Self::Spec;
}

/// A resource reduced to what translation reads of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slim<S> {
    pub name: String,
    pub namespace: Option<String>,
    pub uid: Option<String>,
    pub created: Option<Timestamp>,
    pub spec: S,
}

impl<S> Slim<S> {
    /// Keeps of `metadata` what translation reads.
    pub fn new(metadata: ObjectMeta, spec: S) -> Self {
        Self {
            name: metadata.name.unwrap_or_default(),
            namespace: metadata.namespace,
            uid: metadata.uid,
            created: metadata.creation_timestamp.map(|t| t.0),
            spec,
        }
    }
}

impl<S> Named for Slim<S> {
    type Spec = S;
    fn name(&self) -> &str {
        &self.name
    }
    fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }
    fn uid(&self) -> Option<&str> {
        self.uid.as_deref()
    }
    fn created(&self) -> Option<Timestamp> {
        self.created
    }
    fn spec(&self) -> &S {
        &self.spec
    }
}

macro_rules! named_resource {
    ($($resource:ident: $spec:ident),* $(,)?) => {$(
        impl Named for $resource {
            type Spec = $spec;
            fn name(&self) -> &str {
                self.metadata
                    .name
                    .as_deref()
                    .or(self.metadata.generate_name.as_deref())
                    .unwrap_or_default()
            }
            fn namespace(&self) -> Option<&str> {
                self.metadata.namespace.as_deref()
            }
            fn uid(&self) -> Option<&str> {
                self.metadata.uid.as_deref()
            }
            fn created(&self) -> Option<Timestamp> {
                self.metadata.creation_timestamp.as_ref().map(|t| t.0)
            }
            fn spec(&self) -> &$spec {
                &self.spec
            }
        }
    )*};
}

named_resource!(
    Consumer: ConsumerSpec,
    OAuth2Credential: OAuth2CredentialSpec,
);
