//! What the changed paths say: the change type (a table of path globs) and the services
//! touched (a CODEOWNERS-like map from path prefixes or globs to services).
//!
//! Change type: each file takes the first type in the order below whose globs match
//! its path (case-insensitive; `**/` is any depth); the change takes the highest type
//! among its files, in that same order, so one IAM policy in a large code change makes
//! it an `iam` change. Dependency manifests and lock files count as code, not config.
//!
//! | type | path globs |
//! |---|---|
//! | iam | `**/iam/**`, `**/iam*.*`, `**/*-iam*.*`, `**/*_iam*.*`, `**/*.iam.*`, `**/*policy.json`, `**/rbac/**`, `**/*rbac*.*` |
//! | database | `**/migrations/**`, `**/migration/**`, `**/migrate/**`, `**/alembic/**`, `**/flyway/**`, `**/liquibase/**`, `**/*.sql`, `**/schema.rb`, `**/*.prisma` |
//! | infra | `**/*.tf`, `**/*.tfvars`, `**/*.tf.json`, `**/*.hcl`, `**/terraform/**`, `**/cloudformation/**`, `**/*.cfn.*`, `**/*.template.json`, `**/*.template.yaml`, `**/*.template.yml`, `**/template.yaml`, `**/template.yml`, `**/cdk.json`, `**/Chart.yaml`, `**/charts/**`, `**/helm/**`, `**/helmfile*.yaml`, `**/k8s/**`, `**/kubernetes/**`, `**/kustomization.yaml`, `**/Pulumi*.yaml`, `**/Dockerfile`, `**/*.dockerfile` |
//! | feature_flag | `**/feature-flags/**`, `**/feature_flags/**`, `**/featureflags/**`, `**/flags/**`, `**/*flags.json`, `**/*flags.yaml`, `**/*flags.yml`, `**/*flags.toml`, `**/*.flags.*`, `**/flagd*.json` |
//! | code (before config) | `**/package.json`, `**/package-lock.json`, `**/Cargo.toml`, `**/pyproject.toml`, `**/composer.json`, `**/tsconfig*.json`, `**/go.mod`, `**/go.sum`, `**/*.lock`, `**/pnpm-lock.yaml` |
//! | config | `**/*.yaml`, `**/*.yml`, `**/*.json`, `**/*.toml`, `**/*.ini`, `**/*.cfg`, `**/*.conf`, `**/*.properties`, `**/*.env`, `**/.env*` |
//! | code | everything else |
//!
//! The services map (`--services FILE`):
//!
//! ```toml
//! default = "platform"            # optional: the service of files no entry matches
//!
//! [[service]]
//! name = "checkout"
//! paths = ["services/checkout/", "*.checkout.yaml"]
//! customer_facing = true          # optional, default false
//! regions = 3                     # optional, default 1
//! ```
//!
//! Paths follow CODEOWNERS: a pattern without a `/` (other than a trailing one) matches
//! at any depth, a leading `/` anchors at the root, a trailing `/` or a plain path
//! matches everything under it, `*`, `?` and `**` are globs; the last matching entry wins.

use std::path::Path;

use glob::{MatchOptions, Pattern};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::schema::ChangeType;

const MATCH: MatchOptions = MatchOptions {
    case_sensitive: false,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

/// Per-file classification, in priority order (the first match types the file).
const CHANGE_TYPE_RULES: &[(ChangeType, &[&str])] = &[
    (
        ChangeType::Iam,
        &[
            "**/iam/**",
            "**/iam*.*",
            "**/*-iam*.*",
            "**/*_iam*.*",
            "**/*.iam.*",
            "**/*policy.json",
            "**/rbac/**",
            "**/*rbac*.*",
        ],
    ),
    (
        ChangeType::Database,
        &[
            "**/migrations/**",
            "**/migration/**",
            "**/migrate/**",
            "**/alembic/**",
            "**/flyway/**",
            "**/liquibase/**",
            "**/*.sql",
            "**/schema.rb",
            "**/*.prisma",
        ],
    ),
    (
        ChangeType::Infra,
        &[
            "**/*.tf",
            "**/*.tfvars",
            "**/*.tf.json",
            "**/*.hcl",
            "**/terraform/**",
            "**/cloudformation/**",
            "**/*.cfn.*",
            "**/*.template.json",
            "**/*.template.yaml",
            "**/*.template.yml",
            "**/template.yaml",
            "**/template.yml",
            "**/cdk.json",
            "**/Chart.yaml",
            "**/charts/**",
            "**/helm/**",
            "**/helmfile*.yaml",
            "**/k8s/**",
            "**/kubernetes/**",
            "**/kustomization.yaml",
            "**/Pulumi*.yaml",
            "**/Dockerfile",
            "**/*.dockerfile",
        ],
    ),
    (
        ChangeType::FeatureFlag,
        &[
            "**/feature-flags/**",
            "**/feature_flags/**",
            "**/featureflags/**",
            "**/flags/**",
            "**/*flags.json",
            "**/*flags.yaml",
            "**/*flags.yml",
            "**/*flags.toml",
            "**/*.flags.*",
            "**/flagd*.json",
        ],
    ),
    (
        ChangeType::Code,
        &[
            "**/package.json",
            "**/package-lock.json",
            "**/Cargo.toml",
            "**/pyproject.toml",
            "**/composer.json",
            "**/tsconfig*.json",
            "**/go.mod",
            "**/go.sum",
            "**/*.lock",
            "**/pnpm-lock.yaml",
        ],
    ),
    (
        ChangeType::Config,
        &[
            "**/*.yaml",
            "**/*.yml",
            "**/*.json",
            "**/*.toml",
            "**/*.ini",
            "**/*.cfg",
            "**/*.conf",
            "**/*.properties",
            "**/*.env",
            "**/.env*",
        ],
    ),
];

/// The change types from most to least specific: the change takes the first present.
const PRIORITY: [ChangeType; 6] = [
    ChangeType::Iam,
    ChangeType::Database,
    ChangeType::Infra,
    ChangeType::FeatureFlag,
    ChangeType::Config,
    ChangeType::Code,
];

/// [`CHANGE_TYPE_RULES`], compiled once.
fn compiled_rules() -> &'static [(ChangeType, Vec<Pattern>)] {
    static RULES: std::sync::OnceLock<Vec<(ChangeType, Vec<Pattern>)>> = std::sync::OnceLock::new();
    RULES.get_or_init(|| {
        CHANGE_TYPE_RULES
            .iter()
            .map(|(t, globs)| {
                let patterns = globs
                    .iter()
                    .map(|g| {
                        Pattern::new(g)
                            .unwrap_or_else(|e| unreachable!("the built-in glob {g} is valid: {e}"))
                    })
                    .collect();
                (*t, patterns)
            })
            .collect()
    })
}

/// The type of one changed file.
pub fn file_change_type(path: &str) -> ChangeType {
    compiled_rules()
        .iter()
        .find(|(_, patterns)| patterns.iter().any(|p| p.matches_with(path, MATCH)))
        .map_or(ChangeType::Code, |(t, _)| *t)
}

/// The type of a change made of `paths` (code when there are none).
pub fn change_type<'a>(paths: impl IntoIterator<Item = &'a str>) -> ChangeType {
    let types: Vec<ChangeType> = paths.into_iter().map(file_change_type).collect();
    PRIORITY
        .into_iter()
        .find(|t| types.contains(t))
        .unwrap_or(ChangeType::Code)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MapFile {
    default: Option<String>,
    #[serde(default)]
    service: Vec<ServiceEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceEntry {
    name: String,
    paths: Vec<String>,
    #[serde(default)]
    customer_facing: bool,
    regions: Option<u64>,
}

/// One service of the map, with its compiled patterns.
#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    pub customer_facing: bool,
    pub regions: u64,
    patterns: Vec<Pattern>,
}

/// A checked path-to-service map.
#[derive(Debug, Clone)]
pub struct ServiceMap {
    services: Vec<Service>,
    /// Index into `services` of the default service (appended last, with no patterns).
    default: Option<usize>,
}

/// Compiles one CODEOWNERS-style pattern into globs.
fn compile(pattern: &str) -> std::result::Result<Vec<Pattern>, String> {
    let trimmed = pattern.trim();
    let anchored = trimmed.starts_with('/');
    let body = trimmed.trim_start_matches('/');
    let dir = body.ends_with('/');
    let body = body.trim_end_matches('/');
    if body.is_empty() {
        return Err("is empty".into());
    }
    let base = if anchored || body.contains('/') {
        body.to_string()
    } else {
        format!("**/{body}")
    };
    let globs = if dir {
        vec![format!("{base}/**")]
    } else {
        vec![base.clone(), format!("{base}/**")]
    };
    globs
        .iter()
        .map(|g| Pattern::new(g).map_err(|e| e.to_string()))
        .collect()
}

impl ServiceMap {
    /// Reads a services map.
    pub fn load(path: &Path) -> Result<ServiceMap> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and checks a services map; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<ServiceMap> {
        let bad = |message: String| Error::BadConfig {
            file: file.into(),
            message,
        };
        let parsed: MapFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let mut services = Vec::new();
        for (k, entry) in parsed.service.into_iter().enumerate() {
            let name = entry.name.trim().to_string();
            if name.is_empty() {
                return Err(bad(format!("service entry {} has an empty name", k + 1)));
            }
            if entry.paths.is_empty() {
                return Err(bad(format!("service '{name}' has no paths")));
            }
            if entry.regions == Some(0) {
                return Err(bad(format!("service '{name}': regions must be at least 1")));
            }
            let mut patterns = Vec::new();
            for p in &entry.paths {
                patterns.extend(
                    compile(p).map_err(|e| bad(format!("service '{name}': path {p:?} {e}")))?,
                );
            }
            services.push(Service {
                name,
                customer_facing: entry.customer_facing,
                regions: entry.regions.unwrap_or(1),
                patterns,
            });
        }
        let default = match parsed.default.map(|d| d.trim().to_string()) {
            Some(d) if d.is_empty() => return Err(bad("default is an empty name".into())),
            Some(d) => {
                let known = services.iter().find(|s| s.name == d).cloned();
                services.push(Service {
                    patterns: Vec::new(),
                    ..known.unwrap_or(Service {
                        name: d,
                        customer_facing: false,
                        regions: 1,
                        patterns: Vec::new(),
                    })
                });
                Some(services.len() - 1)
            }
            None => None,
        };
        Ok(ServiceMap { services, default })
    }

    /// The service of a path: the last entry that matches, else the default.
    pub fn service_of(&self, path: &str) -> Option<&Service> {
        self.services
            .iter()
            .rev()
            .find(|s| s.patterns.iter().any(|p| p.matches_with(path, MATCH)))
            .or_else(|| self.default.map(|d| &self.services[d]))
    }

    /// The services touched by `files` (path, lines changed), the most changed lines
    /// first (ties in map order); one entry per service name.
    pub fn touched<'a>(
        &self,
        files: impl IntoIterator<Item = (&'a str, u64)>,
    ) -> Vec<(&Service, u64)> {
        let mut touched: Vec<(&Service, u64)> = Vec::new();
        for (path, lines) in files {
            let Some(service) = self.service_of(path) else {
                continue;
            };
            match touched.iter_mut().find(|(s, _)| s.name == service.name) {
                Some((_, total)) => *total += lines,
                None => touched.push((service, lines)),
            }
        }
        let order = |s: &Service| self.services.iter().position(|x| x.name == s.name);
        touched.sort_by(|a, b| b.1.cmp(&a.1).then(order(a.0).cmp(&order(b.0))));
        touched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_typed_by_the_first_matching_rule() {
        for (path, expected) in [
            ("infra/iam/deployer.json", ChangeType::Iam),
            ("terraform/IAM-roles.tf", ChangeType::Iam),
            ("policies/bucket-policy.json", ChangeType::Iam),
            ("db/migrations/0042_add_index.py", ChangeType::Database),
            ("sql/report.sql", ChangeType::Database),
            ("main.tf", ChangeType::Infra),
            ("deploy/charts/api/values.yaml", ChangeType::Infra),
            ("stack.cfn.yaml", ChangeType::Infra),
            ("config/flags/checkout.yaml", ChangeType::FeatureFlag),
            ("release.flags.json", ChangeType::FeatureFlag),
            ("package.json", ChangeType::Code),
            ("Cargo.lock", ChangeType::Code),
            ("config/app.yaml", ChangeType::Config),
            (".env.production", ChangeType::Config),
            ("src/main.rs", ChangeType::Code),
            ("README.md", ChangeType::Code),
        ] {
            assert_eq!(file_change_type(path), expected, "{path}");
        }
    }

    #[test]
    fn the_most_specific_file_types_the_change() {
        assert_eq!(
            change_type(["src/a.rs", "config/app.yaml", "db/migrations/1.sql"]),
            ChangeType::Database
        );
        assert_eq!(change_type(["src/a.rs", "app.toml"]), ChangeType::Config);
        assert_eq!(change_type([]), ChangeType::Code);
    }

    const MAP: &str = r#"
default = "platform"
[[service]]
name = "checkout"
paths = ["services/checkout/", "*.checkout.yaml"]
customer_facing = true
regions = 3
[[service]]
name = "payments"
paths = ["/services/checkout/payments", "libs/pay*/**"]
regions = 2
"#;

    #[test]
    fn services_follow_codeowners_rules() {
        let map = ServiceMap::parse(MAP, "services.toml").unwrap();
        let of = |p: &str| map.service_of(p).map(|s| s.name.clone());
        assert_eq!(of("services/checkout/cart.rs").as_deref(), Some("checkout"));
        // The later entry wins.
        assert_eq!(
            of("services/checkout/payments/x.rs").as_deref(),
            Some("payments")
        );
        assert_eq!(of("deploy/eu.checkout.yaml").as_deref(), Some("checkout"));
        assert_eq!(of("libs/payment/a.rs").as_deref(), Some("payments"));
        assert_eq!(of("docs/x.md").as_deref(), Some("platform"));
        let touched = map.touched([
            ("services/checkout/a.rs", 10),
            ("libs/pay/b.rs", 30),
            ("services/checkout/c.rs", 5),
        ]);
        let names: Vec<(&str, u64)> = touched.iter().map(|(s, n)| (s.name.as_str(), *n)).collect();
        assert_eq!(names, [("payments", 30), ("checkout", 15)]);
    }

    #[test]
    fn malformed_maps_name_the_service_and_problem() {
        let e = ServiceMap::parse("[[service]]\nname='a'\npaths=['[']", "m.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("service 'a'") && e.contains("m.toml"), "{e}");
        let e = ServiceMap::parse("[[service]]\nname='a'\npaths=['x']\nowner='b'", "m.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("owner"), "{e}");
        assert!(matches!(
            ServiceMap::parse("[[service]]\nname='a'\npaths=[]", "m.toml"),
            Err(Error::BadConfig { .. })
        ));
    }
}
