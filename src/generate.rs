//! Synthetic history for `changerisk generate`: a seeded simulation of (by default) two
//! years of changes across 40 services and 300 authors (people and AI agents), the incidents some
//! of those changes cause, and background incidents that no change caused. Every change's
//! incident probability comes from a known logistic model (`TRUTH` below, with the
//! interaction AI x elevated permission x skipped review at its heart), so what the engine
//! learns can be checked against ground truth. The module owns only the simulation and
//! the CSV layout of SPEC.md; it never reads data. Same parameters, same bytes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Utc};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Exp1, StandardNormal};
use serde::{Serialize, Serializer};

use crate::error::{Error, Result};
use crate::load::CHANGE_COLUMNS;
use crate::output::{commit_all, create_dir, stage, Staged};
use crate::schema::{format_timestamp, AiInvolvement, ChangeType, Permission, Review};

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// Parameters of the synthetic history.
#[derive(Debug, Clone)]
pub struct GenerateParams {
    /// Seed of the only random stream (ChaCha8): same seed, same files.
    pub seed: u64,
    /// Labelled history rows (changes.csv).
    pub changes: usize,
    /// Recent unlabelled changes to score (new_changes.csv), continuing the timeline.
    pub new_changes: usize,
    /// Span of the labelled history in days (0: no labelled history at all).
    pub days: u32,
    /// Unix seconds of the first day; rounded down to that day's UTC midnight.
    pub start: i64,
}

impl Default for GenerateParams {
    fn default() -> Self {
        GenerateParams {
            seed: 7,
            changes: 15_000,
            new_changes: 500,
            days: 730,
            // 2024-01-01T00:00:00Z (date -d 2024-01-01T00:00:00Z +%s)
            start: 1_704_067_200,
        }
    }
}

/// One row of changes.csv / new_changes.csv: the SPEC columns in SPEC order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeRow {
    pub change_id: String,
    #[serde(serialize_with = "timestamp_cell")]
    pub timestamp: i64,
    pub service: String,
    pub author: String,
    #[serde(serialize_with = "level_cell")]
    pub ai_involvement: AiInvolvement,
    pub ai_tool: Option<String>,
    #[serde(serialize_with = "level_cell")]
    pub permission_level: Permission,
    #[serde(serialize_with = "level_cell")]
    pub review_status: Review,
    pub reviewer_count: u32,
    #[serde(serialize_with = "level_cell")]
    pub change_type: ChangeType,
    pub services_affected: u32,
    pub regions_affected: u32,
    pub customer_facing: bool,
    pub lines_changed: u32,
    pub files_changed: u32,
    pub rollback_plan: bool,
}

/// One row of incidents.csv: the SPEC columns in SPEC order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentRow {
    pub incident_id: String,
    #[serde(serialize_with = "timestamp_cell")]
    pub start_time: i64,
    pub service: String,
    /// As written: `3` or, for some rows, `sev3`.
    pub severity: String,
    /// `chg-000123`, occasionally two ids joined by `;`, or none (left to attribution).
    pub caused_by_change: Option<String>,
    pub duration_minutes: Option<f64>,
}

/// A generated history, held in memory.
pub struct History {
    pub changes: Vec<ChangeRow>,
    pub incidents: Vec<IncidentRow>,
    pub new_changes: Vec<ChangeRow>,
    /// The generating process's own incident probability of every change: one per row of
    /// `changes`, then one per row of `new_changes`, in that order (the ceiling any model
    /// can reach; written to truth.csv by [`write_truth`]).
    pub truth: Vec<f64>,
}

/// One row of truth.csv.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct TruthRow<'a> {
    change_id: &'a str,
    true_risk: f64,
}

/// Header of truth.csv; a test keeps it equal to `TruthRow`'s fields.
const TRUTH_COLUMNS: [&str; 2] = ["change_id", "true_risk"];

/// Header of incidents.csv; a test keeps it equal to `IncidentRow`'s fields.
const INCIDENT_COLUMNS: [&str; 6] = [
    "incident_id",
    "start_time",
    "service",
    "severity",
    "caused_by_change",
    "duration_minutes",
];

/// Simulates the history described by `params`.
pub fn generate(params: &GenerateParams) -> History {
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let world = World::build(&mut rng);
    let calendar = Calendar {
        first_day: params.start.div_euclid(DAY),
        days: i64::from(params.days),
    };
    let labelled_times = calendar.labelled_times(&mut rng, params.changes);
    let new_times = calendar.following_times(&mut rng, params.changes, params.new_changes);
    let background = world.background_incidents(&mut rng, &calendar, params.changes);

    let mut sim = Simulation::new(&world, background);
    let mut truth = Vec::with_capacity(labelled_times.len() + new_times.len());
    let labelled: Vec<ChangeRow> = labelled_times
        .iter()
        .enumerate()
        .map(|(i, &ts)| {
            let (change, p) = sim.step(&mut rng, i, ts, calendar.fraction(ts), true);
            truth.push(p);
            change
        })
        .collect();
    let new_changes: Vec<ChangeRow> = new_times
        .iter()
        .enumerate()
        .map(|(k, &ts)| {
            let i = labelled.len() + k;
            let (change, p) = sim.step(&mut rng, i, ts, calendar.fraction(ts), false);
            truth.push(p);
            change
        })
        .collect();

    // Incidents caused after the labelled span ends belong to a future this history does not cover.
    let end = calendar.span_end();
    let mut incidents: Vec<IncidentRow> = sim
        .incidents
        .into_iter()
        .filter(|inc| inc.start_time < end)
        .collect();
    // Stable sort: simultaneous incidents keep their (deterministic) creation order.
    incidents.sort_by_key(|inc| inc.start_time);
    for (k, inc) in incidents.iter_mut().enumerate() {
        inc.incident_id = format!("inc-{:05}", k + 1);
    }
    History {
        changes: labelled,
        incidents,
        new_changes,
        truth,
    }
}

/// Writes changes.csv, incidents.csv and new_changes.csv into `dir` (created if missing),
/// all or none ([`write_files`]). Returns the three paths in that order.
pub fn write_history(history: &History, dir: &Path) -> Result<[PathBuf; 3]> {
    let paths = write_files(history, dir, false)?;
    Ok([paths[0].clone(), paths[1].clone(), paths[2].clone()])
}

/// Writes truth.csv into `dir` (created if missing), atomically: `change_id,true_risk`,
/// one row per change of changes.csv and then of new_changes.csv, in their order, with
/// the probability that the generating process gave the change of causing an incident.
/// Returns its path.
pub fn write_truth(history: &History, dir: &Path) -> Result<PathBuf> {
    create_dir(dir)?;
    let path = dir.join("truth.csv");
    stage_truth(history, &path)?.commit()?;
    Ok(path)
}

/// Writes the history's files (and truth.csv when `truth`) into `dir`, all or none:
/// each is staged in full before any is put in place ([`commit_all`]), so a failure
/// never leaves a new changes.csv beside an old incidents.csv. Without `truth`, an
/// earlier run's truth.csv there is removed (it belongs to another history). Returns
/// their paths.
pub fn write_files(history: &History, dir: &Path, truth: bool) -> Result<Vec<PathBuf>> {
    create_dir(dir)?;
    let mut paths = vec![
        dir.join("changes.csv"),
        dir.join("incidents.csv"),
        dir.join("new_changes.csv"),
    ];
    let mut staged = vec![
        stage_csv(&paths[0], CHANGE_COLUMNS, &history.changes)?,
        stage_csv(&paths[1], &INCIDENT_COLUMNS, &history.incidents)?,
        stage_csv(&paths[2], CHANGE_COLUMNS, &history.new_changes)?,
    ];
    let truth_path = dir.join("truth.csv");
    if truth {
        staged.push(stage_truth(history, &truth_path)?);
    }
    commit_all(staged)?;
    if truth {
        paths.push(truth_path);
    } else if truth_path.is_file() {
        // An earlier run's true risks describe another history: not left beside this one.
        std::fs::remove_file(&truth_path).map_err(|e| Error::io(&truth_path, e))?;
    }
    Ok(paths)
}

fn stage_truth(history: &History, path: &Path) -> Result<Staged> {
    let rows: Vec<TruthRow> = history
        .changes
        .iter()
        .chain(&history.new_changes)
        .zip(&history.truth)
        .map(|(change, &true_risk)| TruthRow {
            change_id: &change.change_id,
            true_risk,
        })
        .collect();
    stage_csv(path, &TRUTH_COLUMNS, &rows)
}

/// Writes the header explicitly so that a table without rows still has its columns.
fn stage_csv<R: Serialize>(path: &Path, columns: &[&str], rows: &[R]) -> Result<Staged> {
    stage(path, |out| {
        let csv_error = |e: csv::Error| Error::io(path, e.into());
        let mut writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(out);
        writer.write_record(columns).map_err(csv_error)?;
        for row in rows {
            writer.serialize(row).map_err(csv_error)?;
        }
        writer.flush().map_err(|e| Error::io(path, e))
    })
}

fn timestamp_cell<S: Serializer>(secs: &i64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&format_timestamp(*secs))
}

/// The schema's level enums, written with their canonical spelling.
trait Spelling: Copy {
    fn spelling(self) -> &'static str;
}

macro_rules! spelling {
    ($($level:ty),+) => {
        $(impl Spelling for $level {
            fn spelling(self) -> &'static str {
                self.as_str()
            }
        })+
    };
}
spelling!(AiInvolvement, Permission, Review, ChangeType);

fn level_cell<L: Spelling, S: Serializer>(level: &L, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(level.spelling())
}

// ---------------------------------------------------------------------------------------
// The ground truth
// ---------------------------------------------------------------------------------------

/// Log-odds effects of the generating incident model. A change causes an incident with
/// probability `sigmoid(logit)`, where `logit` sums the intercept, the latent risks of its
/// author and service, and the effects below that apply to it.
struct RiskModel {
    intercept: f64,
    assisted: f64,
    agent: f64,
    elevated: f64,
    admin: f64,
    self_approved: f64,
    bypassed: f64,
    no_review: f64,
    /// Elevated/admin and not approved, whoever made the change.
    privileged_unreviewed: f64,
    /// Added on top when such a change was AI-assisted...
    assisted_privileged_unreviewed: f64,
    /// ...or made by an agent: the outage pattern changerisk exists for.
    agent_privileged_unreviewed: f64,
    /// Per unit of ln(services_affected).
    log_services: f64,
    /// Per unit of ln(regions_affected).
    log_regions: f64,
    customer_facing: f64,
    config: f64,
    infra: f64,
    iam: f64,
    database: f64,
    feature_flag: f64,
    /// Per unit of ln(1 + lines_changed) - ln(51).
    log_lines: f64,
    no_rollback: f64,
    /// Weekend, or before 08:00 / from 19:00 UTC.
    off_hours: f64,
    /// Per incident (background or caused) on the change's service in the 7 days before
    /// it, counting at most `RECENT_INCIDENT_CAP`.
    recent_incident: f64,
    /// Times exp(-prior changes of the author / 20): newcomers are riskier.
    new_author: f64,
}

/// The model every generated history follows (see `RiskModel`).
const TRUTH: RiskModel = RiskModel {
    intercept: -5.55,
    assisted: 0.30,
    agent: 0.70,
    elevated: 0.40,
    admin: 0.70,
    self_approved: 0.35,
    bypassed: 0.85,
    no_review: 0.75,
    privileged_unreviewed: 0.40,
    assisted_privileged_unreviewed: 1.50,
    agent_privileged_unreviewed: 2.20,
    log_services: 0.40,
    log_regions: 0.30,
    customer_facing: 0.45,
    config: 0.25,
    infra: 0.50,
    iam: 0.65,
    database: 0.75,
    feature_flag: -0.35,
    log_lines: 0.12,
    no_rollback: 0.50,
    off_hours: 0.40,
    recent_incident: 0.55,
    new_author: 0.50,
};

const RECENT_INCIDENT_CAP: usize = 3;
const RECENT_INCIDENT_WINDOW: i64 = 7 * DAY;

/// What the risk of a change depends on beyond its own row.
struct RiskContext {
    author_risk: f64,
    service_risk: f64,
    author_prior_changes: u32,
    recent_service_incidents: usize,
}

impl RiskModel {
    fn logit(&self, change: &ChangeRow, context: &RiskContext) -> f64 {
        let mut x = self.intercept + context.author_risk + context.service_risk;
        x += match change.ai_involvement {
            AiInvolvement::None => 0.0,
            AiInvolvement::Assisted => self.assisted,
            AiInvolvement::Agent => self.agent,
        };
        x += match change.permission_level {
            Permission::Standard => 0.0,
            Permission::Elevated => self.elevated,
            Permission::Admin => self.admin,
        };
        x += match change.review_status {
            Review::Approved => 0.0,
            Review::SelfApproved => self.self_approved,
            Review::Bypassed => self.bypassed,
            Review::None => self.no_review,
        };
        if change.permission_level != Permission::Standard
            && change.review_status != Review::Approved
        {
            x += self.privileged_unreviewed
                + match change.ai_involvement {
                    AiInvolvement::None => 0.0,
                    AiInvolvement::Assisted => self.assisted_privileged_unreviewed,
                    AiInvolvement::Agent => self.agent_privileged_unreviewed,
                };
        }
        x += self.log_services * f64::from(change.services_affected.max(1)).ln();
        x += self.log_regions * f64::from(change.regions_affected.max(1)).ln();
        x += match change.change_type {
            ChangeType::Code => 0.0,
            ChangeType::Config => self.config,
            ChangeType::Infra => self.infra,
            ChangeType::Iam => self.iam,
            ChangeType::Database => self.database,
            ChangeType::FeatureFlag => self.feature_flag,
        };
        x += self.log_lines * ((1.0 + f64::from(change.lines_changed)).ln() - 51f64.ln());
        if change.customer_facing {
            x += self.customer_facing;
        }
        if !change.rollback_plan {
            x += self.no_rollback;
        }
        if is_off_hours(change.timestamp) {
            x += self.off_hours;
        }
        x +=
            self.recent_incident * context.recent_service_incidents.min(RECENT_INCIDENT_CAP) as f64;
        x += self.new_author * (-f64::from(context.author_prior_changes) / 20.0).exp();
        x
    }
}

/// Share of incident-causing changes the model is tuned to, used only to size the
/// background incidents so that they are about `BACKGROUND_SHARE` of all incidents.
const EXPECTED_POSITIVE_RATE: f64 = 0.045;
const BACKGROUND_SHARE: f64 = 0.25;
/// Share of caused incidents that name their change.
const NAMED_SHARE: f64 = 0.55;
/// Share of named incidents that also name a second (co-deployed) change.
const TWO_CAUSES_SHARE: f64 = 0.02;
/// Share of caused incidents declared on a dependent service instead of the changed one.
const DOWNSTREAM_SHARE: f64 = 0.10;

// ---------------------------------------------------------------------------------------
// The world: services and authors with their latent traits
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum ServiceKind {
    Product,
    Data,
    Platform,
    Security,
}

/// Fixed traits of a service: name, tier (0 is most critical), share of its changes on a
/// customer-facing path, relative change volume, and how many regions it runs in.
struct ServiceSpec {
    name: &'static str,
    tier: u8,
    kind: ServiceKind,
    customer_facing: f64,
    volume: f64,
    regions: u32,
}

const fn svc(
    name: &'static str,
    tier: u8,
    kind: ServiceKind,
    customer_facing: f64,
    volume: f64,
    regions: u32,
) -> ServiceSpec {
    ServiceSpec {
        name,
        tier,
        kind,
        customer_facing,
        volume,
        regions,
    }
}

const SERVICES: [ServiceSpec; 40] = {
    use ServiceKind::{Data, Platform, Product, Security};
    [
        svc("auth-service", 0, Security, 0.90, 1.2, 12),
        svc("payments-api", 0, Product, 0.95, 1.4, 6),
        svc("identity-gateway", 0, Security, 0.90, 0.8, 12),
        svc("dns-control", 0, Platform, 0.70, 0.5, 18),
        svc("edge-proxy", 0, Platform, 0.95, 0.9, 18),
        svc("iam-policy", 0, Security, 0.30, 0.7, 18),
        svc("ledger", 0, Data, 0.30, 0.6, 2),
        svc("checkout-web", 1, Product, 0.95, 2.0, 6),
        svc("cart-service", 1, Product, 0.90, 1.6, 6),
        svc("search-api", 1, Product, 0.90, 1.8, 6),
        svc("product-catalog", 1, Product, 0.80, 1.5, 6),
        svc("storefront-web", 1, Product, 0.95, 2.2, 6),
        svc("mobile-bff", 1, Product, 0.95, 1.7, 6),
        svc("recommendations", 1, Product, 0.70, 1.3, 3),
        svc("notifications", 1, Product, 0.60, 1.0, 3),
        svc("pricing-engine", 1, Product, 0.80, 1.2, 3),
        svc("order-service", 1, Product, 0.90, 1.6, 6),
        svc("inventory-service", 1, Product, 0.60, 1.2, 3),
        svc("shipping-quotes", 1, Product, 0.70, 0.8, 3),
        svc("reviews-api", 1, Product, 0.70, 0.7, 3),
        svc("account-portal", 1, Product, 0.85, 1.0, 6),
        svc("fraud-scoring", 1, Data, 0.50, 0.9, 3),
        svc("ml-inference", 1, Data, 0.40, 0.9, 3),
        svc("config-service", 1, Platform, 0.40, 0.9, 12),
        svc("feature-flags", 1, Platform, 0.50, 0.8, 12),
        svc("k8s-platform", 1, Platform, 0.30, 1.2, 12),
        svc("network-vpc", 1, Platform, 0.40, 0.5, 18),
        svc("db-proxy", 1, Platform, 0.50, 0.7, 6),
        svc("cache-cluster", 1, Platform, 0.60, 0.8, 6),
        svc("message-bus", 1, Platform, 0.40, 0.9, 6),
        svc("secrets-manager", 1, Security, 0.20, 0.4, 12),
        svc("billing-batch", 2, Data, 0.20, 0.8, 2),
        svc("data-pipeline", 2, Data, 0.05, 1.4, 2),
        svc("analytics-etl", 2, Data, 0.02, 1.1, 1),
        svc("feature-store", 2, Data, 0.10, 0.7, 2),
        svc("ci-runners", 2, Platform, 0.00, 1.3, 2),
        svc("artifact-registry", 2, Platform, 0.05, 0.6, 3),
        svc("observability", 2, Platform, 0.02, 1.0, 6),
        svc("log-ingest", 2, Platform, 0.02, 0.8, 6),
        svc("email-sender", 2, Product, 0.40, 0.5, 2),
    ]
};

/// AI tools a person may use, with their overall popularity.
const TOOLS: [(&str, f64); 5] = [
    ("copilot", 0.32),
    ("amazon-q", 0.22),
    ("cursor", 0.18),
    ("claude-code", 0.16),
    ("kiro", 0.12),
];

/// Agent accounts: name, tool, when they start working (fraction of the labelled span),
/// and relative share of agent changes once active.
const BOTS: [(&str, &str, f64, f64); 8] = [
    ("copilot-swe-agent[bot]", "copilot", 0.30, 3.0),
    ("claude-code[bot]", "claude-code", 0.40, 3.0),
    ("amazon-q-developer[bot]", "amazon-q", 0.35, 2.0),
    ("kiro-agent", "kiro", 0.55, 2.0),
    ("cursor-agent[bot]", "cursor", 0.50, 1.5),
    ("deps-upgrade-agent[bot]", "copilot", 0.45, 1.0),
    ("platform-autofix[bot]", "claude-code", 0.60, 1.0),
    ("sre-remediation-agent", "amazon-q", 0.70, 0.7),
];

const AUTHORS: usize = 300;
/// Share of people who are careless: much riskier changes, reviews skipped more often.
const CARELESS_SHARE: f64 = 0.04;

const FIRST_NAMES: [&str; 48] = [
    "alice", "amir", "ana", "ben", "carla", "chen", "dana", "david", "elena", "emeka", "fatima",
    "felix", "grace", "hana", "ivan", "jin", "jose", "julia", "kai", "kavya", "lars", "leila",
    "liam", "lucia", "maya", "mei", "mohamed", "nadia", "nico", "noah", "olga", "omar", "priya",
    "rafael", "ravi", "rosa", "sam", "sara", "sofia", "tariq", "tom", "uma", "victor", "wei",
    "yara", "yusuf", "zoe", "zora",
];
const LAST_NAMES: [&str; 48] = [
    "adams", "ahmed", "alvarez", "bauer", "brown", "castro", "chen", "costa", "dubois", "eze",
    "fischer", "garcia", "gupta", "haddad", "hansen", "ito", "jensen", "kim", "kowalski", "kumar",
    "larsen", "lee", "lopez", "martin", "meyer", "mori", "nguyen", "novak", "okafor", "olsen",
    "park", "patel", "petrov", "quinn", "rossi", "sato", "schmidt", "silva", "singh", "smith",
    "tanaka", "torres", "wang", "weber", "wilson", "wong", "yilmaz", "zhang",
];

struct Service {
    spec: &'static ServiceSpec,
    /// Latent additive log-odds of incidents: how fragile the service is.
    base_risk: f64,
    /// (author, weight) of the people who change this service.
    team: Vec<(usize, f64)>,
    /// Services that depend on this one, where its changes sometimes surface.
    dependents: Vec<usize>,
}

struct Author {
    name: String,
    /// The agent account's tool; `None` for a person.
    bot_tool: Option<&'static str>,
    /// A person's usual AI tool.
    preferred_tool: &'static str,
    /// Latent additive log-odds of incidents.
    risk: f64,
    /// Propensity to skip review and rollback plans (0 for a typical author).
    sloppiness: f64,
    /// Multiplier of the AI-assisted share for this person.
    ai_affinity: f64,
    /// Log-multiplier of the odds of elevated/admin permission.
    admin_habit: f64,
    /// When the author starts making changes (fraction of the labelled span).
    joins_at: f64,
    /// Relative share among active bots.
    bot_weight: f64,
}

struct World {
    services: Vec<Service>,
    authors: Vec<Author>,
    service_choice: Categorical,
}

impl World {
    fn build(rng: &mut ChaCha8Rng) -> World {
        let mut services: Vec<Service> = SERVICES
            .iter()
            .map(|spec| {
                let kind_risk = match spec.kind {
                    ServiceKind::Product | ServiceKind::Security => 0.0,
                    ServiceKind::Data => 0.10,
                    ServiceKind::Platform => 0.20,
                };
                Service {
                    spec,
                    base_risk: kind_risk + 0.45 * normal(rng),
                    team: Vec::new(),
                    dependents: Vec::new(),
                }
            })
            .collect();
        let n_services = services.len();
        for (s, service) in services.iter_mut().enumerate() {
            let wanted = rng.gen_range(2..=4);
            let mut dependents = BTreeSet::new();
            while dependents.len() < wanted {
                let d = rng.gen_range(0..n_services);
                if d != s {
                    dependents.insert(d);
                }
            }
            service.dependents = dependents.into_iter().collect();
        }

        let humans = AUTHORS - BOTS.len();
        let names = human_names(rng, humans);
        let volume = Categorical::new(SERVICES.iter().map(|s| s.volume));
        let tool_choice = Categorical::new(TOOLS.iter().map(|t| t.1));
        let mut authors = Vec::with_capacity(AUTHORS);
        for (k, name) in names.into_iter().enumerate() {
            // The first three people per service found it; later ones join over time.
            let founder = k < 3 * n_services;
            let primary = if founder {
                k % n_services
            } else {
                volume.sample(rng)
            };
            let joins_at = if !founder && chance(rng, 0.25) {
                rng.gen_range(0.05..1.05)
            } else {
                0.0
            };
            let careless = chance(rng, CARELESS_SHARE);
            let activity = lognormal(rng, 0.0, 0.8);
            let id = authors.len();
            services[primary].team.push((id, activity));
            if chance(rng, 0.3) {
                let secondary = volume.sample(rng);
                if secondary != primary {
                    services[secondary].team.push((id, 0.25 * activity));
                }
            }
            authors.push(Author {
                name,
                bot_tool: None,
                preferred_tool: TOOLS[tool_choice.sample(rng)].0,
                risk: 0.35 * normal(rng) + if careless { 1.4 } else { 0.0 },
                sloppiness: if careless { 1.0 } else { 0.2 * normal(rng) },
                ai_affinity: lognormal(rng, -0.18, 0.6),
                admin_habit: 0.35 * normal(rng),
                joins_at,
                bot_weight: 0.0,
            });
        }
        for &(name, tool, launch, weight) in &BOTS {
            authors.push(Author {
                name: name.to_string(),
                bot_tool: Some(tool),
                preferred_tool: tool,
                risk: 0.15 + 0.35 * normal(rng),
                sloppiness: 0.3 + 0.2 * normal(rng),
                ai_affinity: 1.0,
                admin_habit: 0.4 + 0.4 * normal(rng),
                joins_at: launch,
                bot_weight: weight,
            });
        }
        World {
            services,
            authors,
            service_choice: Categorical::new(SERVICES.iter().map(|s| s.volume)),
        }
    }

    /// A person on `service`'s team who has joined by `t`, by activity.
    fn pick_person(&self, rng: &mut ChaCha8Rng, service: usize, t: f64) -> usize {
        let team = &self.services[service].team;
        let active: Vec<(usize, f64)> = team
            .iter()
            .copied()
            .filter(|&(a, _)| self.authors[a].joins_at <= t)
            .collect();
        // Founders join at 0, so `active` is empty only for t < 0 (never generated).
        let pool = if active.is_empty() { team } else { &active };
        pool[Categorical::new(pool.iter().map(|m| m.1)).sample(rng)].0
    }

    /// An agent account active by `t`, or `None` before the first one launches.
    fn pick_bot(&self, rng: &mut ChaCha8Rng, t: f64) -> Option<usize> {
        let active: Vec<usize> = (0..self.authors.len())
            .filter(|&a| self.authors[a].bot_tool.is_some() && self.authors[a].joins_at <= t)
            .collect();
        if active.is_empty() {
            return None;
        }
        let choice = Categorical::new(active.iter().map(|&a| self.authors[a].bot_weight));
        Some(active[choice.sample(rng)])
    }

    /// Incidents no change caused: a Poisson process per service over the labelled span,
    /// faster on fragile and busy services, sized to be about `BACKGROUND_SHARE` of all.
    fn background_incidents(
        &self,
        rng: &mut ChaCha8Rng,
        calendar: &Calendar,
        changes: usize,
    ) -> Vec<(usize, IncidentRow)> {
        let span = (calendar.span_end() - calendar.span_start()) as f64;
        let expected =
            BACKGROUND_SHARE / (1.0 - BACKGROUND_SHARE) * EXPECTED_POSITIVE_RATE * changes as f64;
        let weights: Vec<f64> = self
            .services
            .iter()
            .map(|s| s.base_risk.exp() * s.spec.volume.sqrt())
            .collect();
        let total: f64 = weights.iter().sum();
        let mut incidents = Vec::new();
        if span <= 0.0 || expected <= 0.0 {
            return incidents;
        }
        for (s, w) in weights.iter().enumerate() {
            let per_second = expected * w / total / span;
            let mut t = calendar.span_start() as f64;
            loop {
                let gap: f64 = rng.sample(Exp1);
                t += gap / per_second;
                if t >= calendar.span_end() as f64 {
                    break;
                }
                let spec = self.services[s].spec;
                let severity = draw_severity(rng, 1, 1, spec.customer_facing > 0.5, spec.tier);
                let incident = IncidentRow {
                    incident_id: String::new(),
                    start_time: t as i64,
                    service: spec.name.to_string(),
                    severity: severity_cell(rng, severity),
                    caused_by_change: None,
                    duration_minutes: draw_duration(rng, severity),
                };
                incidents.push((s, incident));
            }
        }
        incidents
    }
}

/// `n` distinct `first.last` names (a digit is appended when a pair repeats).
fn human_names(rng: &mut ChaCha8Rng, n: usize) -> Vec<String> {
    let mut taken = BTreeSet::new();
    let mut names = Vec::with_capacity(n);
    while names.len() < n {
        let first = FIRST_NAMES.choose(rng).copied().unwrap_or("alex");
        let last = LAST_NAMES.choose(rng).copied().unwrap_or("doe");
        let mut name = format!("{first}.{last}");
        let mut suffix = 2;
        while taken.contains(&name) {
            name = format!("{first}.{last}{suffix}");
            suffix += 1;
        }
        taken.insert(name.clone());
        names.push(name);
    }
    names
}

// ---------------------------------------------------------------------------------------
// Time: calendar weights, working hours, adoption curves
// ---------------------------------------------------------------------------------------

/// Relative change volume per UTC hour on a weekday (EU afternoon overlaps US morning).
const WEEKDAY_HOURS: [f64; 24] = [
    1.0, 0.8, 0.7, 0.7, 0.8, 1.0, 1.8, 3.5, 7.0, 10.0, 12.0, 12.5, 11.0, 12.5, 14.0, 14.5, 13.5,
    11.5, 8.5, 5.5, 3.5, 2.5, 1.8, 1.3,
];
/// Relative change volume per UTC hour on a weekend day.
const WEEKEND_HOURS: [f64; 24] = [
    1.5, 1.2, 1.0, 0.9, 0.9, 1.0, 1.2, 1.6, 2.2, 3.0, 3.6, 3.9, 3.9, 4.0, 4.0, 3.9, 3.6, 3.2, 2.8,
    2.5, 2.2, 2.0, 1.8, 1.6,
];
/// Changes per unit of day weight when there is no labelled history to continue.
const DEFAULT_CHANGES_PER_DAY: f64 = 20.0;

/// Day 0 is 1970-01-01, a Thursday; returns 0 for Monday .. 6 for Sunday.
fn weekday(unix_day: i64) -> i64 {
    (unix_day + 3).rem_euclid(7)
}

fn is_off_hours(ts: i64) -> bool {
    let hour = ts.rem_euclid(DAY) / HOUR;
    weekday(ts.div_euclid(DAY)) >= 5 || !(8..19).contains(&hour)
}

struct Calendar {
    /// Unix day (days since 1970-01-01) of the first labelled day.
    first_day: i64,
    days: i64,
}

impl Calendar {
    fn span_start(&self) -> i64 {
        self.first_day * DAY
    }

    fn span_end(&self) -> i64 {
        (self.first_day + self.days) * DAY
    }

    /// Position of `ts` in the labelled span: 0 at its start, 1 at its end, above after.
    fn fraction(&self, ts: i64) -> f64 {
        if self.days == 0 {
            return 1.0;
        }
        (ts - self.span_start()) as f64 / (self.days * DAY) as f64
    }

    /// Relative change volume of day `day` (0 = first labelled day): weekends and the
    /// year-end freeze are quiet, and the organisation grows over time.
    fn day_weight(&self, day: i64) -> f64 {
        let unix_day = self.first_day + day;
        let mut w = if weekday(unix_day) >= 5 { 0.2 } else { 1.0 };
        if let Some(date) = DateTime::<Utc>::from_timestamp(unix_day * DAY, 0) {
            if (date.month() == 12 && date.day() >= 22) || (date.month() == 1 && date.day() == 1) {
                w *= 0.35;
            }
        }
        w * (0.85 + 0.3 * day as f64 / self.days.max(1) as f64)
    }

    fn labelled_times(&self, rng: &mut ChaCha8Rng, n: usize) -> Vec<i64> {
        self.sample_times(rng, n, 0, self.days)
    }

    /// `n` times in the days right after the labelled span, at the rate the labelled
    /// `labelled` changes set.
    fn following_times(&self, rng: &mut ChaCha8Rng, labelled: usize, n: usize) -> Vec<i64> {
        if n == 0 {
            return Vec::new();
        }
        let labelled_weight: f64 = (0..self.days).map(|d| self.day_weight(d)).sum();
        let per_weight = if labelled > 0 && labelled_weight > 0.0 {
            labelled as f64 / labelled_weight
        } else {
            DEFAULT_CHANGES_PER_DAY
        };
        let mut end = self.days;
        let mut expected = 0.0;
        while expected < n as f64 {
            expected += self.day_weight(end) * per_weight;
            end += 1;
        }
        self.sample_times(rng, n, self.days, end)
    }

    /// `n` sorted times on days `from..to`, by day weight and hour of day.
    fn sample_times(&self, rng: &mut ChaCha8Rng, n: usize, from: i64, to: i64) -> Vec<i64> {
        if n == 0 || to <= from {
            return Vec::new();
        }
        let day_choice = Categorical::new((from..to).map(|d| self.day_weight(d)));
        let weekday_hours = Categorical::new(WEEKDAY_HOURS);
        let weekend_hours = Categorical::new(WEEKEND_HOURS);
        let mut times: Vec<i64> = (0..n)
            .map(|_| {
                let unix_day = self.first_day + from + day_choice.sample(rng) as i64;
                let hours = if weekday(unix_day) >= 5 {
                    &weekend_hours
                } else {
                    &weekday_hours
                };
                unix_day * DAY + hours.sample(rng) as i64 * HOUR + rng.gen_range(0..HOUR)
            })
            .collect();
        times.sort_unstable();
        times
    }
}

/// 0 at t = 0 rising along a logistic curve to 1 at t = 1 (and a little beyond after).
fn adoption(t: f64, midpoint: f64, steepness: f64) -> f64 {
    let s = |x: f64| sigmoid(steepness * (x - midpoint));
    ((s(t) - s(0.0)) / (s(1.0) - s(0.0))).clamp(0.0, 1.2)
}

/// Share of changes that are AI-assisted at time `t`: about 5% at first, 45% at the end.
fn assisted_share(t: f64) -> f64 {
    0.05 + 0.40 * adoption(t, 0.45, 6.0)
}

/// Share of changes made by AI agents at time `t`: none at first, 15% at the end.
fn agent_share(t: f64) -> f64 {
    0.15 * adoption(t, 0.65, 8.0)
}

// ---------------------------------------------------------------------------------------
// The simulation
// ---------------------------------------------------------------------------------------

struct Simulation<'w> {
    world: &'w World,
    /// Start times of the background incidents per service, sorted, with the cursors
    /// of the recent-incident window `[ts - RECENT_INCIDENT_WINDOW, ts)`: changes come
    /// in time order, so both only move forward.
    background: Vec<Vec<i64>>,
    window: Vec<(usize, usize)>,
    /// Start times of the incidents changes caused per service, pruned of those the
    /// window has passed (later changes come later, so they never count again).
    caused: Vec<Vec<i64>>,
    author_changes: Vec<u32>,
    last_change_on_service: Vec<Option<usize>>,
    incidents: Vec<IncidentRow>,
}

impl<'w> Simulation<'w> {
    fn new(world: &'w World, background: Vec<(usize, IncidentRow)>) -> Self {
        let mut starts = vec![Vec::new(); world.services.len()];
        let mut incidents = Vec::with_capacity(background.len());
        for (service, incident) in background {
            starts[service].push(incident.start_time);
            incidents.push(incident);
        }
        for s in &mut starts {
            s.sort_unstable();
        }
        Simulation {
            world,
            window: vec![(0, 0); starts.len()],
            background: starts,
            caused: vec![Vec::new(); world.services.len()],
            author_changes: vec![0; world.authors.len()],
            last_change_on_service: vec![None; world.services.len()],
            incidents,
        }
    }

    /// Incidents on `service` that started in the week before `ts` (not at `ts`); `ts`
    /// never decreases from one call to the next.
    fn recent_incidents(&mut self, service: usize, ts: i64) -> usize {
        let starts = &self.background[service];
        let (lo, hi) = &mut self.window[service];
        while *lo < starts.len() && starts[*lo] < ts - RECENT_INCIDENT_WINDOW {
            *lo += 1;
        }
        *hi = (*hi).max(*lo);
        while *hi < starts.len() && starts[*hi] < ts {
            *hi += 1;
        }
        let caused = &mut self.caused[service];
        caused.retain(|&start| ts - start <= RECENT_INCIDENT_WINDOW);
        *hi - *lo + caused.iter().filter(|&&start| start < ts).count()
    }

    /// Draws change number `index` at `ts` (`t` its span fraction), decides whether it
    /// causes an incident and, when `labelled`, records that incident. Returns the change
    /// and its true incident probability.
    fn step(
        &mut self,
        rng: &mut ChaCha8Rng,
        index: usize,
        ts: i64,
        t: f64,
        labelled: bool,
    ) -> (ChangeRow, f64) {
        let world = self.world;
        let service = world.service_choice.sample(rng);
        let (author, change) = draw_change(world, rng, index, ts, t, service);
        let recent = self.recent_incidents(service, ts);
        let context = RiskContext {
            author_risk: world.authors[author].risk,
            service_risk: world.services[service].base_risk,
            author_prior_changes: self.author_changes[author],
            recent_service_incidents: recent,
        };
        let p = sigmoid(TRUTH.logit(&change, &context));
        if chance(rng, p) {
            let (on, incident) = self.caused_incident(rng, index, &change, service);
            self.caused[on].push(incident.start_time);
            if labelled {
                self.incidents.push(incident);
            }
        }
        self.author_changes[author] += 1;
        self.last_change_on_service[service] = Some(index);
        (change, p)
    }

    /// The incident change `index` causes, and the service it is declared on: minutes to
    /// hours later, mostly on the changed service, named as the cause only in some reports.
    fn caused_incident(
        &self,
        rng: &mut ChaCha8Rng,
        index: usize,
        change: &ChangeRow,
        service: usize,
    ) -> (usize, IncidentRow) {
        let world = self.world;
        let delay_minutes = lognormal(rng, 90f64.ln(), 1.1).clamp(3.0, 1200.0);
        let dependents = &world.services[service].dependents;
        let on = if chance(rng, DOWNSTREAM_SHARE) {
            dependents.choose(rng).copied().unwrap_or(service)
        } else {
            service
        };
        let spec = world.services[on].spec;
        let severity = draw_severity(
            rng,
            change.services_affected,
            change.regions_affected,
            change.customer_facing,
            spec.tier,
        );
        let caused_by_change = if chance(rng, NAMED_SHARE) {
            let mut named = change_id(index);
            if chance(rng, TWO_CAUSES_SHARE) {
                if let Some(previous) = self.last_change_on_service[service] {
                    named = format!("{named};{}", change_id(previous));
                }
            }
            Some(named)
        } else {
            None
        };
        let incident = IncidentRow {
            incident_id: String::new(),
            start_time: change.timestamp + (delay_minutes * 60.0) as i64,
            service: spec.name.to_string(),
            severity: severity_cell(rng, severity),
            caused_by_change,
            duration_minutes: draw_duration(rng, severity),
        };
        (on, incident)
    }
}

fn change_id(index: usize) -> String {
    format!("chg-{:06}", index + 1)
}

/// Draws every column of a change on `service`; returns its author and the row.
fn draw_change(
    world: &World,
    rng: &mut ChaCha8Rng,
    index: usize,
    ts: i64,
    t: f64,
    service: usize,
) -> (usize, ChangeRow) {
    let (author, ai) = draw_actor(world, rng, service, t);
    let setting = Setting {
        service: world.services[service].spec,
        author: &world.authors[author],
        ai,
        off_hours: is_off_hours(ts),
        weekend: weekday(ts.div_euclid(DAY)) >= 5,
    };
    let ai_tool = setting.ai_tool(rng);
    let change_type = setting.change_type(rng);
    let permission = setting.permission(rng, change_type);
    let (review, reviewer_count) = setting.review(rng, change_type, permission);
    let (services_affected, regions_affected, customer_facing) =
        setting.blast_radius(rng, change_type);
    let (lines_changed, files_changed) = setting.size(rng, change_type);
    let rollback_plan = setting.rollback_plan(rng, change_type);
    let row = ChangeRow {
        change_id: change_id(index),
        timestamp: ts,
        service: setting.service.name.to_string(),
        author: setting.author.name.clone(),
        ai_involvement: ai,
        ai_tool: ai_tool.map(str::to_string),
        permission_level: permission,
        review_status: review,
        reviewer_count,
        change_type,
        services_affected,
        regions_affected,
        customer_facing,
        lines_changed,
        files_changed,
        rollback_plan,
    };
    (author, row)
}

/// Who makes a change on `service` at time `t`, and how much AI is involved. Agents work
/// through their own accounts or, before those exist and sometimes after, a person's.
fn draw_actor(
    world: &World,
    rng: &mut ChaCha8Rng,
    service: usize,
    t: f64,
) -> (usize, AiInvolvement) {
    let agent_p = agent_share(t);
    if chance(rng, agent_p) {
        let bot = if chance(rng, 0.65) {
            world.pick_bot(rng, t)
        } else {
            None
        };
        let author = bot.unwrap_or_else(|| world.pick_person(rng, service, t));
        return (author, AiInvolvement::Agent);
    }
    let author = world.pick_person(rng, service, t);
    // Conditional on not being an agent change, so the overall share follows the curve.
    let p = assisted_share(t) / (1.0 - agent_p) * world.authors[author].ai_affinity;
    let ai = if chance(rng, p.min(0.95)) {
        AiInvolvement::Assisted
    } else {
        AiInvolvement::None
    };
    (author, ai)
}

/// What is settled about a change before its remaining columns are drawn.
struct Setting<'a> {
    service: &'static ServiceSpec,
    author: &'a Author,
    ai: AiInvolvement,
    off_hours: bool,
    weekend: bool,
}

/// `value` when `condition` holds, else 0: one term of a log-odds sum.
fn when(condition: bool, value: f64) -> f64 {
    if condition {
        value
    } else {
        0.0
    }
}

impl Setting<'_> {
    fn agent(&self) -> bool {
        self.ai == AiInvolvement::Agent
    }

    /// An agent account's own tool; a person mostly uses their usual one.
    fn ai_tool(&self, rng: &mut ChaCha8Rng) -> Option<&'static str> {
        match (self.ai, self.author.bot_tool) {
            (AiInvolvement::None, _) => None,
            (_, Some(tool)) => Some(tool),
            _ if chance(rng, 0.8) => Some(self.author.preferred_tool),
            _ => Some(TOOLS[Categorical::new(TOOLS.iter().map(|t| t.1)).sample(rng)].0),
        }
    }

    /// The mix depends on what kind of service it is.
    fn change_type(&self, rng: &mut ChaCha8Rng) -> ChangeType {
        // Order: code, config, infra, iam, database, feature_flag.
        let mix: [f64; 6] = match self.service.kind {
            ServiceKind::Product => [62.0, 14.0, 5.0, 2.0, 5.0, 12.0],
            ServiceKind::Data => [50.0, 14.0, 8.0, 2.0, 22.0, 4.0],
            ServiceKind::Platform => [38.0, 26.0, 26.0, 5.0, 3.0, 2.0],
            ServiceKind::Security => [40.0, 20.0, 10.0, 25.0, 2.0, 3.0],
        };
        [
            ChangeType::Code,
            ChangeType::Config,
            ChangeType::Infra,
            ChangeType::Iam,
            ChangeType::Database,
            ChangeType::FeatureFlag,
        ][Categorical::new(mix).sample(rng)]
    }

    /// IAM and infra changes need more rights; agents, habitual admins and night-time
    /// break-glass changes use more.
    fn permission(&self, rng: &mut ChaCha8Rng, change_type: ChangeType) -> Permission {
        let [standard, elevated, admin] = match change_type {
            ChangeType::Code => [88.0, 10.0, 2.0],
            ChangeType::Config => [72.0, 22.0, 6.0],
            ChangeType::Infra => [45.0, 40.0, 15.0],
            ChangeType::Iam => [22.0, 46.0, 32.0],
            ChangeType::Database => [50.0, 38.0, 12.0],
            ChangeType::FeatureFlag => [90.0, 8.0, 2.0],
        };
        let lift =
            (when(self.agent(), 0.7) + self.author.admin_habit + when(self.off_hours, 0.35)).exp();
        let weights = [standard, elevated * lift, admin * lift.powf(1.4)];
        [
            Permission::Standard,
            Permission::Elevated,
            Permission::Admin,
        ][Categorical::new(weights).sample(rng)]
    }

    /// Review outcome and approving reviewers: review is skipped more by agents, with
    /// elevated rights, at night, at weekends, for config pushes and by careless people;
    /// tier-0 services insist on it.
    fn review(
        &self,
        rng: &mut ChaCha8Rng,
        change_type: ChangeType,
        permission: Permission,
    ) -> (Review, u32) {
        let approve_logit = 2.8
            - when(self.agent(), 1.3)
            - when(self.ai == AiInvolvement::Assisted, 0.25)
            - match permission {
                Permission::Standard => 0.0,
                Permission::Elevated => 0.7,
                Permission::Admin => 1.3,
            }
            - when(self.off_hours, 0.7)
            - when(self.weekend, 0.5)
            - when(
                matches!(change_type, ChangeType::Config | ChangeType::FeatureFlag),
                0.6,
            )
            + when(self.service.tier == 0, 0.6)
            - 0.9 * self.author.sloppiness;
        if !chance(rng, sigmoid(approve_logit)) {
            // Order: self_approved, bypassed, none. Agents rarely self-approve; privileged
            // principals can bypass.
            let mut w = [0.5, 0.25, 0.25];
            if self.agent() {
                w = [w[0] * 0.4, w[1] * 1.5, w[2] * 2.0];
            }
            if permission != Permission::Standard {
                w[1] *= 2.0;
            }
            let skipped = [Review::SelfApproved, Review::Bypassed, Review::None]
                [Categorical::new(w).sample(rng)];
            return (skipped, 0);
        }
        let reviewers = if self.service.tier == 0 {
            [35.0, 50.0, 15.0]
        } else {
            [65.0, 28.0, 7.0]
        };
        // At most 2, from a three-element table.
        let extra = Categorical::new(reviewers).sample(rng) as u32;
        (Review::Approved, 1 + extra)
    }

    /// Services affected, regions affected and customer-facing: mostly one service in
    /// one region, with a heavy tail for infra, IAM and config pushes.
    fn blast_radius(&self, rng: &mut ChaCha8Rng, change_type: ChangeType) -> (u32, u32, bool) {
        let wide = match change_type {
            ChangeType::Code => 0.22,
            ChangeType::Config => 0.35,
            ChangeType::Infra => 0.50,
            ChangeType::Iam => 0.45,
            ChangeType::Database => 0.30,
            ChangeType::FeatureFlag => 0.25,
        };
        let services = if chance(rng, wide) {
            (2.0 + lognormal(rng, 0.4, 0.9).floor()).min(SERVICES.len() as f64) as u32
        } else {
            1
        };
        let multi_region = when(
            matches!(change_type, ChangeType::Infra | ChangeType::Config),
            0.25,
        ) + 0.20;
        let footprint = self.service.regions;
        let regions = if footprint > 1 && chance(rng, multi_region) {
            if chance(rng, 0.3) {
                footprint
            } else {
                rng.gen_range(2..=footprint)
            }
        } else {
            1
        };
        let customer_facing = chance(
            rng,
            self.service.customer_facing + when(services >= 3, 0.25),
        );
        (services, regions, customer_facing)
    }

    /// Lines and files changed: lognormal per change type, larger when AI writes them;
    /// config and flag pushes touch a file or two.
    fn size(&self, rng: &mut ChaCha8Rng, change_type: ChangeType) -> (u32, u32) {
        let (median, sigma) = match change_type {
            ChangeType::Code => (45.0, 1.3),
            ChangeType::Config => (6.0, 0.9),
            ChangeType::Infra => (40.0, 1.2),
            ChangeType::Iam => (10.0, 1.0),
            ChangeType::Database => (25.0, 1.1),
            ChangeType::FeatureFlag => (2.0, 0.6),
        };
        let ai_scale = match self.ai {
            AiInvolvement::None => 1.0,
            AiInvolvement::Assisted => 1.25,
            AiInvolvement::Agent => 1.5,
        };
        let lines = lognormal(rng, f64::ln(median * ai_scale), sigma)
            .round()
            .clamp(1.0, 50_000.0);
        let files = if matches!(change_type, ChangeType::Config | ChangeType::FeatureFlag) {
            if chance(rng, 0.8) {
                1.0
            } else {
                f64::from(rng.gen_range(2..=3u32))
            }
        } else {
            lognormal(rng, 0.55 * lines.ln(), 0.4).round()
        }
        .clamp(1.0, lines);
        // Both lie in 1..=50_000, so the casts are exact.
        (lines as u32, files as u32)
    }

    /// Tested rollbacks are standard on tier-0 services and trivial for flags, rarer for
    /// schema changes, agents, night work and careless authors.
    fn rollback_plan(&self, rng: &mut ChaCha8Rng, change_type: ChangeType) -> bool {
        let logit = 0.9
            + when(self.service.tier == 0, 0.8)
            + match change_type {
                ChangeType::FeatureFlag => 1.5,
                ChangeType::Database => -0.6,
                _ => 0.0,
            }
            - when(self.agent(), 0.3)
            - when(self.off_hours, 0.3)
            - 0.6 * self.author.sloppiness;
        chance(rng, sigmoid(logit))
    }
}

/// Severity 1 (worst) ..5: mostly 3-4, worse with a wider blast radius and on tier 0.
fn draw_severity(
    rng: &mut ChaCha8Rng,
    services: u32,
    regions: u32,
    customer_facing: bool,
    tier: u8,
) -> u8 {
    let z = normal(rng)
        + 0.45 * f64::from(services.max(1)).ln()
        + 0.35 * f64::from(regions.max(1)).ln()
        + when(customer_facing, 0.3)
        + match tier {
            0 => 0.35,
            1 => 0.0,
            _ => -0.3,
        };
    match z {
        z if z > 2.7 => 1,
        z if z > 1.6 => 2,
        z if z > 0.0 => 3,
        z if z > -1.2 => 4,
        _ => 5,
    }
}

/// Most tools export the bare number; some write `sev2`.
fn severity_cell(rng: &mut ChaCha8Rng, severity: u8) -> String {
    if chance(rng, 0.2) {
        format!("sev{severity}")
    } else {
        severity.to_string()
    }
}

/// Minutes to resolve, to 0.1: lognormal, longer when more severe; sometimes not recorded.
fn draw_duration(rng: &mut ChaCha8Rng, severity: u8) -> Option<f64> {
    let scale = match severity {
        1 => 3.0,
        2 => 2.0,
        3 => 1.2,
        4 => 0.8,
        _ => 0.5,
    };
    let minutes = lognormal(rng, f64::ln(40.0 * scale), 0.9).max(1.0);
    (!chance(rng, 0.07)).then(|| (minutes * 10.0).round() / 10.0)
}

// ---------------------------------------------------------------------------------------
// Sampling helpers that cannot fail
// ---------------------------------------------------------------------------------------

/// Draws an index with probability proportional to its (non-negative) weight.
struct Categorical {
    cumulative: Vec<f64>,
}

impl Categorical {
    fn new(weights: impl IntoIterator<Item = f64>) -> Self {
        let mut total = 0.0;
        let cumulative = weights
            .into_iter()
            .map(|w| {
                total += w.max(0.0);
                total
            })
            .collect();
        Categorical { cumulative }
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let u = rng.gen::<f64>() * total;
        self.cumulative
            .partition_point(|&c| c <= u)
            .min(self.cumulative.len().saturating_sub(1))
    }
}

fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    rng.gen::<f64>() < p
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    rng.sample(StandardNormal)
}

fn lognormal(rng: &mut ChaCha8Rng, mu: f64, sigma: f64) -> f64 {
    (mu + sigma * normal(rng)).exp()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::schema::{parse_bool, parse_severity, parse_timestamp};

    fn small(seed: u64) -> GenerateParams {
        GenerateParams {
            seed,
            changes: 3_000,
            new_changes: 100,
            days: 365,
            ..GenerateParams::default()
        }
    }

    /// The default history, generated once for the statistical tests.
    fn default_history() -> &'static History {
        static HISTORY: std::sync::OnceLock<History> = std::sync::OnceLock::new();
        HISTORY.get_or_init(|| generate(&GenerateParams::default()))
    }

    /// Labels as SPEC.md defines them: named changes, else the most recent change on the
    /// incident's service within 24 hours before it.
    fn spec_labels(history: &History) -> Vec<bool> {
        let position: BTreeMap<&str, usize> = history
            .changes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.change_id.as_str(), i))
            .collect();
        let mut by_service: BTreeMap<&str, Vec<(i64, usize)>> = BTreeMap::new();
        for (i, c) in history.changes.iter().enumerate() {
            by_service
                .entry(c.service.as_str())
                .or_default()
                .push((c.timestamp, i));
        }
        let mut labels = vec![false; history.changes.len()];
        for incident in &history.incidents {
            if let Some(named) = &incident.caused_by_change {
                for id in named.split(';') {
                    labels[position[id]] = true;
                }
            } else if let Some(on_service) = by_service.get(incident.service.as_str()) {
                let before = on_service.partition_point(|&(ts, _)| ts <= incident.start_time);
                if let Some(&(ts, i)) = before.checked_sub(1).map(|k| &on_service[k]) {
                    if incident.start_time - ts <= DAY {
                        labels[i] = true;
                    }
                }
            }
        }
        labels
    }

    /// Share of positive labels among the changes `keep` selects.
    fn rate(history: &History, labels: &[bool], keep: impl Fn(&ChangeRow) -> bool) -> f64 {
        let (n, positive) = history
            .changes
            .iter()
            .zip(labels)
            .filter(|(c, _)| keep(c))
            .fold((0, 0), |(n, p), (_, &l)| (n + 1, p + usize::from(l)));
        positive as f64 / n.max(1) as f64
    }

    fn read_csv(path: &Path) -> (Vec<String>, Vec<csv::StringRecord>) {
        let mut reader = csv::Reader::from_path(path).expect("readable csv");
        let header = reader
            .headers()
            .expect("header")
            .iter()
            .map(String::from)
            .collect();
        let rows = reader.records().map(|r| r.expect("record")).collect();
        (header, rows)
    }

    #[test]
    fn same_seed_gives_identical_rows_and_bytes() {
        let a = generate(&small(11));
        let b = generate(&small(11));
        assert_eq!(a.changes, b.changes);
        assert_eq!(a.incidents, b.incidents);
        assert_eq!(a.new_changes, b.new_changes);

        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let paths_a = write_history(&a, dir_a.path()).unwrap();
        let paths_b = write_history(&b, dir_b.path()).unwrap();
        for (pa, pb) in paths_a.iter().zip(&paths_b) {
            assert_eq!(
                std::fs::read(pa).unwrap(),
                std::fs::read(pb).unwrap(),
                "{pa:?}"
            );
        }

        let c = generate(&small(12));
        assert_ne!(a.changes, c.changes);
        assert_ne!(a.incidents, c.incidents);
    }

    /// The header line the csv crate derives from a row's serde field names.
    fn serialized_header<R: Serialize>(row: &R) -> String {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.serialize(row).unwrap();
        let text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
        text.lines().next().unwrap().to_string()
    }

    #[test]
    fn column_constants_match_the_serialized_fields() {
        let history = generate(&small(3));
        assert_eq!(
            serialized_header(&history.changes[0]),
            CHANGE_COLUMNS.join(",")
        );
        assert_eq!(
            serialized_header(&history.incidents[0]),
            INCIDENT_COLUMNS.join(",")
        );
    }

    #[test]
    fn written_files_follow_the_spec() {
        let params = small(5);
        let history = generate(&params);
        let dir = tempfile::tempdir().unwrap();
        let [changes_csv, incidents_csv, new_csv] = write_history(&history, dir.path()).unwrap();
        let span_start = params.start;
        let span_end = params.start + i64::from(params.days) * DAY;

        let mut ids = BTreeSet::new();
        for (path, from, to, expected_rows) in [
            (&changes_csv, span_start, span_end, params.changes),
            (&new_csv, span_end, span_end + 60 * DAY, params.new_changes),
        ] {
            let (header, rows) = read_csv(path);
            assert_eq!(header, CHANGE_COLUMNS);
            assert_eq!(rows.len(), expected_rows, "{path:?}");
            let mut previous = i64::MIN;
            for row in &rows {
                let cell =
                    |name: &str| &row[CHANGE_COLUMNS.iter().position(|c| *c == name).unwrap()];
                let count = |name: &str| cell(name).parse::<u32>().unwrap();
                assert!(
                    ids.insert(cell("change_id").to_string()),
                    "duplicate id {row:?}"
                );
                assert!(cell("change_id").starts_with("chg-") && cell("change_id").len() == 10);
                let ts = parse_timestamp(cell("timestamp")).unwrap();
                assert!(ts >= previous && (from..to).contains(&ts), "{row:?}");
                previous = ts;
                let ai = AiInvolvement::parse(cell("ai_involvement")).unwrap();
                assert_eq!(
                    ai == AiInvolvement::None,
                    cell("ai_tool").is_empty(),
                    "{row:?}"
                );
                Permission::parse(cell("permission_level")).unwrap();
                let review = Review::parse(cell("review_status")).unwrap();
                let reviewers = count("reviewer_count");
                assert_eq!(
                    review == Review::Approved,
                    (1..=3).contains(&reviewers),
                    "{row:?}"
                );
                ChangeType::parse(cell("change_type")).unwrap();
                assert!(count("services_affected") >= 1 && count("regions_affected") >= 1);
                assert!((1..=count("lines_changed")).contains(&count("files_changed")));
                parse_bool(cell("customer_facing")).unwrap();
                parse_bool(cell("rollback_plan")).unwrap();
                assert!(!cell("service").is_empty() && !cell("author").is_empty());
            }
        }

        let (header, rows) = read_csv(&incidents_csv);
        assert_eq!(header, INCIDENT_COLUMNS);
        assert!(!rows.is_empty());
        let mut previous = i64::MIN;
        for (k, row) in rows.iter().enumerate() {
            assert_eq!(&row[0], format!("inc-{:05}", k + 1));
            let start = parse_timestamp(&row[1]).unwrap();
            assert!(start >= previous && (span_start..span_end).contains(&start));
            previous = start;
            assert!(parse_severity(&row[3]).is_some(), "{row:?}");
            for named in row[4].split(';').filter(|s| !s.is_empty()) {
                let change = history
                    .changes
                    .iter()
                    .find(|c| c.change_id == named)
                    .unwrap();
                assert!(change.timestamp < start, "{row:?}");
            }
            if !row[5].is_empty() {
                assert!(row[5].parse::<f64>().unwrap() > 0.0);
            }
        }
        // The variety consumers must cope with is present.
        assert!(rows.iter().any(|r| r[3].starts_with("sev")));
        assert!(rows.iter().any(|r| r[4].is_empty()));
        assert!(rows.iter().any(|r| r[5].is_empty()));
    }

    #[test]
    fn truth_file_has_one_probability_per_change_in_order() {
        let params = small(9);
        let history = generate(&params);
        let dir = tempfile::tempdir().unwrap();
        let path = write_truth(&history, dir.path()).unwrap();
        assert_eq!(path, dir.path().join("truth.csv"));
        let (header, rows) = read_csv(&path);
        assert_eq!(header, TRUTH_COLUMNS);
        assert_eq!(
            serialized_header(&TruthRow {
                change_id: "chg-000001",
                true_risk: 0.5
            }),
            TRUTH_COLUMNS.join(",")
        );
        assert_eq!(rows.len(), params.changes + params.new_changes);
        let ids: Vec<&str> = history
            .changes
            .iter()
            .chain(&history.new_changes)
            .map(|c| c.change_id.as_str())
            .collect();
        let mut total = 0.0;
        for ((row, id), &expected) in rows.iter().zip(&ids).zip(&history.truth) {
            assert_eq!(&row[0], *id);
            let p: f64 = row[1].parse().unwrap();
            assert!(p > 0.0 && p < 1.0, "{row:?}");
            // Written exactly (shortest round-trip form).
            assert_eq!(p, expected);
            total += p;
        }
        // The truth is tuned to a positive rate of a few percent.
        let mean = total / rows.len() as f64;
        assert!((0.02..0.10).contains(&mean), "mean true risk {mean}");
        // Writing it leaves the other files alone and draws nothing from the stream.
        assert_eq!(generate(&params).changes, history.changes);
        assert!(!dir.path().join("changes.csv").exists());
    }

    #[test]
    fn an_empty_table_still_has_its_header() {
        let history = generate(&GenerateParams {
            new_changes: 0,
            ..small(1)
        });
        let dir = tempfile::tempdir().unwrap();
        let [_, _, new_csv] = write_history(&history, dir.path()).unwrap();
        let (header, rows) = read_csv(&new_csv);
        assert_eq!(header, CHANGE_COLUMNS);
        assert!(rows.is_empty());
    }

    #[test]
    fn positive_rate_is_a_few_percent() {
        let history = default_history();
        let labels = spec_labels(history);
        let positive = rate(history, &labels, |_| true);
        assert!(
            (0.03..=0.07).contains(&positive),
            "positive rate {positive}"
        );
    }

    #[test]
    fn ai_adoption_grows_over_time() {
        let history = default_history();
        let quarter = history.changes.len() / 4;
        let share = |rows: &[ChangeRow], level: AiInvolvement| {
            rows.iter().filter(|c| c.ai_involvement == level).count() as f64 / rows.len() as f64
        };
        let (first, last) = (&history.changes[..quarter], &history.changes[3 * quarter..]);
        assert!(share(first, AiInvolvement::Assisted) < 0.15);
        assert!(share(first, AiInvolvement::Agent) < 0.02);
        assert!((0.30..0.55).contains(&share(last, AiInvolvement::Assisted)));
        assert!((0.08..0.20).contains(&share(last, AiInvolvement::Agent)));
        let bots = history
            .changes
            .iter()
            .filter(|c| c.author.ends_with("[bot]"))
            .count();
        assert!(bots > 100, "{bots} changes by bot accounts");
    }

    #[test]
    fn unreviewed_privileged_agent_changes_fail_far_more_often() {
        let history = default_history();
        let labels = spec_labels(history);
        let outage_pattern = rate(history, &labels, |c| {
            c.ai_involvement == AiInvolvement::Agent
                && c.permission_level != Permission::Standard
                && c.review_status != Review::Approved
        });
        let ordinary = rate(history, &labels, |c| {
            c.ai_involvement == AiInvolvement::None
                && c.permission_level == Permission::Standard
                && c.review_status == Review::Approved
        });
        assert!(
            outage_pattern > 5.0 * ordinary,
            "{outage_pattern} vs {ordinary}"
        );
    }

    #[test]
    fn the_outage_pattern_is_superadditive_in_the_truth() {
        let history = generate(&small(2));
        let base = ChangeRow {
            ai_involvement: AiInvolvement::None,
            permission_level: Permission::Standard,
            review_status: Review::Approved,
            ..history.changes[0].clone()
        };
        let context = RiskContext {
            author_risk: 0.0,
            service_risk: 0.0,
            author_prior_changes: 100,
            recent_service_incidents: 0,
        };
        let effect =
            |change: &ChangeRow| TRUTH.logit(change, &context) - TRUTH.logit(&base, &context);
        let agent = ChangeRow {
            ai_involvement: AiInvolvement::Agent,
            ..base.clone()
        };
        let admin = ChangeRow {
            permission_level: Permission::Admin,
            ..base.clone()
        };
        let bypassed = ChangeRow {
            review_status: Review::Bypassed,
            ..base.clone()
        };
        let all = ChangeRow {
            ai_involvement: AiInvolvement::Agent,
            permission_level: Permission::Admin,
            review_status: Review::Bypassed,
            ..base.clone()
        };
        let parts = effect(&agent) + effect(&admin) + effect(&bypassed);
        // 0.70 + 0.70 + 0.85 = 2.25 apart; together 2.25 + 0.40 + 2.20 = 4.85 (TRUTH).
        assert!((parts - 2.25).abs() < 1e-9, "{parts}");
        assert!((effect(&all) - 4.85).abs() < 1e-9, "{}", effect(&all));
    }

    #[test]
    fn a_recent_incident_makes_the_next_changes_riskier() {
        let history = default_history();
        let labels = spec_labels(history);
        let mut incident_starts: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for incident in &history.incidents {
            incident_starts
                .entry(incident.service.as_str())
                .or_default()
                .push(incident.start_time);
        }
        let after_incident = |c: &ChangeRow| {
            incident_starts
                .get(c.service.as_str())
                .is_some_and(|starts| {
                    starts
                        .iter()
                        .any(|&s| s < c.timestamp && c.timestamp - s <= RECENT_INCIDENT_WINDOW)
                })
        };
        let fragile = rate(history, &labels, after_incident);
        let calm = rate(history, &labels, |c| !after_incident(c));
        assert!(fragile > 1.3 * calm, "{fragile} vs {calm}");
    }
}
