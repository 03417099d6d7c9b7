//! `harness import --simulated`: the embedded demo. Starts the simulator on
//! 127.0.0.1 with its demo credentials and builds the Workday configuration,
//! auth material and secrets that point the connector at it.

use connector_api::StaticSecrets;
use secrecy::SecretString;
use serde_json::json;

use crate::secrets::Redactor;
use crate::sim::{SimConfig, SimError, Simulator};

/// The generation seed `--simulated` uses unless told otherwise.
pub const DEFAULT_SEED: u64 = 42;

/// The churn seed `--churn` uses unless told otherwise.
pub const DEFAULT_CHURN_SEED: u64 = 1;

/// Starts a simulated tenant with `workers` workers and `orgs` orgs from
/// `seed`, on an ephemeral port, with the default demo credentials.
///
/// # Errors
/// [`SimError`] when the tenant cannot be generated or the port bound.
pub async fn start(workers: usize, orgs: usize, seed: u64) -> Result<Simulator, SimError> {
    Simulator::start(SimConfig {
        workers,
        orgs,
        seed,
        port: 0,
        ..SimConfig::default()
    })
    .await
}

/// The auth material for the simulator: `secret://workday/{tenant}/clientsecret`.
pub fn auth_material(sim: &Simulator) -> String {
    format!("secret://workday/{}/clientsecret", sim.config().tenant)
}

/// The Workday `configJson` pointing at the simulator (`BaseUrl`), with
/// page size 100 and a request budget that does not slow the demo down.
pub fn workday_config(sim: &Simulator) -> String {
    config_with(sim, 100, 1_000_000, None)
}

/// The Workday `configJson` pointing at the simulator, importing workers
/// and organizations anchored on `id`, with these paging and rate settings
/// (`MaxConcurrentRequests` left at its default when `None`).
pub fn config_with(
    sim: &Simulator,
    page_size: u32,
    max_requests_per_hour: u32,
    max_concurrent_requests: Option<u32>,
) -> String {
    let c = sim.config();
    let mut config = json!({
        "BaseUrl": sim.base_url(),
        "TenantName": c.tenant,
        "Realm": c.realm,
        "ClientId": c.client_id,
        "PageSize": page_size,
        "ImportWorkers": true,
        "ImportOrganizations": true,
        "ImportPositions": false,
        "ExternalIdAttribute": "id",
        "MaxRequestsPerHour": max_requests_per_hour,
    });
    if let (Some(n), Some(obj)) = (max_concurrent_requests, config.as_object_mut()) {
        obj.insert("MaxConcurrentRequests".into(), json!(n));
    }
    config.to_string()
}

/// Which Workday API `--simulated` and `harness bench` read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SimApi {
    /// The REST collections, with the OAuth client.
    #[default]
    Rest,
    /// The SOAP Human_Resources service, with the ISU's UsernameToken.
    Soap,
}

/// `config` (a configJson for `sim`) set to read `api`: for Soap, `Api`
/// `Soap` with the simulator's ISU username (so no `ClientId` and no OAuth
/// token; the password is in [`secrets`] under `IsuPasswordRef`'s default).
pub fn with_api(config: &str, sim: &Simulator, api: SimApi) -> String {
    let Ok(serde_json::Value::Object(mut obj)) = serde_json::from_str(config) else {
        return config.to_string();
    };
    if api == SimApi::Soap {
        obj.insert("Api".into(), json!("Soap"));
        obj.insert("IsuUsername".into(), json!(sim.config().isu_username));
        // IsuPasswordRef is left to its default,
        // secret://workday/{tenant}/isupassword, where `secrets` holds the
        // password (a plugin is sent it too: it lists the secrets its
        // configuration needs, defaults included).
        obj.remove("ClientId");
    }
    serde_json::Value::Object(obj).to_string()
}

/// A resolver holding the simulator's demo client secret under
/// [`auth_material`] and its ISU password under
/// `secret://workday/{tenant}/isupassword`; the values are also added to
/// `redactor` so they are never printed or logged.
pub fn secrets(sim: &Simulator, redactor: &Redactor) -> StaticSecrets {
    let c = sim.config();
    let secret = &c.client_secret;
    redactor.add(&SecretString::from(secret.clone()));
    redactor.add(&SecretString::from(c.isu_password.clone()));
    StaticSecrets::new().with(&auth_material(sim), secret).with(
        &format!("secret://workday/{}/isupassword", c.tenant),
        &c.isu_password,
    )
}
