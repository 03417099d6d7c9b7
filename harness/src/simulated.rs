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
    let c = sim.config();
    json!({
        "BaseUrl": sim.base_url(),
        "TenantName": c.tenant,
        "Realm": c.realm,
        "ClientId": c.client_id,
        "PageSize": 100,
        "ImportWorkers": true,
        "ImportOrganizations": true,
        "ImportPositions": false,
        "ExternalIdAttribute": "id",
        "MaxRequestsPerHour": 1_000_000,
    })
    .to_string()
}

/// A resolver holding the simulator's demo client secret under
/// [`auth_material`]; the value is also added to `redactor` so it is never
/// printed or logged.
pub fn secrets(sim: &Simulator, redactor: &Redactor) -> StaticSecrets {
    let secret = &sim.config().client_secret;
    redactor.add(&SecretString::from(secret.clone()));
    StaticSecrets::new().with(&auth_material(sim), secret)
}
