//! The one drift check of the generated CRDs: `crds/` and the Helm chart's `crds/` must hold
//! exactly what the Rust types generate (regenerate both with
//! `cargo run -p tollgate-controller --bin crdgen`, their one writer).

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn assert_same_as_generated(dir: &Path) {
    let generated = tollgate_controller::crdgen::render().expect("render CRDs");
    let mut committed: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tollgate.dev.yaml"))
        .collect();
    committed.sort();
    let names: Vec<&str> = generated.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        committed,
        names,
        "{}: CRD files differ from the generated set; run `cargo run -p tollgate-controller --bin crdgen`",
        dir.display()
    );
    for (name, yaml) in &generated {
        let path = dir.join(name);
        let on_disk = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        assert!(
            on_disk == *yaml,
            "{} drifted from the Rust types; run `cargo run -p tollgate-controller --bin crdgen`",
            path.display()
        );
    }
}

#[test]
fn every_generated_crd_directory_matches_the_rust_types() {
    for dir in tollgate_controller::crdgen::OUTPUT_DIRS {
        assert_same_as_generated(&repo().join(dir));
    }
}

#[test]
fn every_crd_has_status_printer_columns_short_names_and_descriptions() {
    for crd in tollgate_controller::crdgen::crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        assert!(name.ends_with(".tollgate.dev"), "{name}");
        assert_eq!(crd.spec.scope, "Namespaced", "{name}");
        assert!(
            crd.spec
                .names
                .short_names
                .as_ref()
                .is_some_and(|s| !s.is_empty()),
            "{name}: short name"
        );
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{name}: status subresource"
        );
        let columns = version
            .additional_printer_columns
            .as_ref()
            .expect("columns");
        let ready = columns
            .iter()
            .find(|c| c.name == "Ready")
            .expect("Ready column");
        assert!(ready.json_path.contains("Programmed"), "{name}");
        let schema = serde_json::to_value(&version.schema).expect("schema");
        assert_described(
            &schema["openAPIV3Schema"]["properties"]["spec"],
            &format!("{name}.spec"),
        );
        let conditions =
            &schema["openAPIV3Schema"]["properties"]["status"]["properties"]["conditions"];
        assert_eq!(conditions["x-kubernetes-list-type"], "map", "{name}");
        assert_eq!(
            conditions["x-kubernetes-list-map-keys"][0], "type",
            "{name}"
        );
    }
}

/// Every property of a schema, recursively, has a description.
fn assert_described(schema: &serde_json::Value, at: &str) {
    if let Some(props) = schema["properties"].as_object() {
        for (field, sub) in props {
            let path = format!("{at}.{field}");
            assert!(sub["description"].is_string(), "{path} has no description");
            assert_described(sub, &path);
        }
    }
    if schema["items"].is_object() {
        assert_described(&schema["items"], at);
    }
}

#[test]
fn schemas_carry_the_cel_rules_defaults_and_enums() {
    let all = serde_json::to_string(&tollgate_controller::crdgen::crds()).expect("json");
    for needle in [
        "has(self.service) != has(self.url)",
        "self.type == 'oauth2' ? (has(self.oauth2) && !has(self.openidConnect) && !has(self.rateLimiting))",
        "has(self.second) || has(self.minute) || has(self.hour)",
        "self.type != 'rate-limiting' || (!has(self.acl) && !has(self.allowedNamespaces))",
        r#""enum":["consumer","credential","ip"]"#,
        "!self.mandatoryScope || (has(self.scopes) && size(self.scopes) > 0)",
        "self.enableClientCredentials",
        "self.clientType == 'public' || has(self.clientSecretRef)",
        r#""default":7200"#,
        r#""default":60000"#,
        r#""default":true"#,
        r#""enum":["kong_oauth2","bearer","introspection"]"#,
        r#""enum":["username","customId","id"]"#,
        "!self.authMethods.exists(m, m == 'bearer') || has(self.issuer)",
        r#""enum":["oauth2","openid-connect","rate-limiting"]"#,
        r#""enum":["confidential","public"]"#,
        r#""enum":["header","query","body"]"#,
    ] {
        assert!(all.contains(needle), "generated CRDs lack {needle:?}");
    }
}

#[test]
fn the_generated_yaml_reads_back_as_the_same_crds() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crds = tollgate_controller::crdgen::crds();
    let rendered = tollgate_controller::crdgen::render().expect("render CRDs");
    for crd in crds {
        let name = format!("{}.yaml", crd.metadata.name.clone().unwrap_or_default());
        let (_, yaml) = rendered.iter().find(|(n, _)| *n == name).expect("rendered");
        let read: CustomResourceDefinition = serde_saphyr::from_str(yaml).expect("valid YAML");
        assert_eq!(
            serde_json::to_value(&read).expect("json"),
            serde_json::to_value(&crd).expect("json"),
            "{name}"
        );
    }
}
