//! `harness simulate`: serve a simulated tenant until Ctrl-C.

use std::time::Duration;

use super::{parse_fault, Shape, SimConfig, Simulator};

/// Arguments of `harness simulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8089)]
    pub port: u16,
    /// Number of generated workers.
    #[arg(long, default_value_t = 10_000)]
    pub workers: usize,
    /// Number of generated supervisory organizations.
    #[arg(long, default_value_t = 500)]
    pub orgs: usize,
    /// Generation seed (same seed, same data).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Latency added to every reply, in milliseconds.
    #[arg(long)]
    pub latency_ms: Option<u64>,
    /// A fault to inject, e.g. `workers@3:429=5` (repeatable; see docs/simulator.md).
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<String>,
    /// Use flat spellings (`manager`, `primaryWorkerSupervisoryOrganization`,
    /// `parentOrganizationId`) instead of reference objects.
    #[arg(long)]
    pub flat_spellings: bool,
    /// Which fields the records carry: `rich` (every mapped field) or
    /// `published` (only what Workday's published REST collections carry).
    #[arg(long, value_enum, default_value_t = Shape::Rich)]
    pub shape: Shape,
    /// Access-token lifetime in seconds.
    #[arg(long, default_value_t = 1800)]
    pub token_lifetime_secs: u64,
    /// Tenant name in the API path.
    #[arg(long, default_value = "acme")]
    pub tenant: String,
    /// Realm in the token path.
    #[arg(long, default_value = "acme")]
    pub realm: String,
    /// Apply this many random mutations every `--churn-interval-secs` (0 = off).
    #[arg(long, default_value_t = 0)]
    pub churn: usize,
    /// Seconds between churn rounds.
    #[arg(long, default_value_t = 10)]
    pub churn_interval_secs: u64,
}

/// Runs the simulator until Ctrl-C, printing how to reach it.
// The point of this command is to tell the operator, on stdout, where the
// simulator listens and which demo credentials it accepts.
#[allow(clippy::print_stdout)]
pub async fn run_simulate(args: SimulateArgs) -> anyhow::Result<()> {
    let rules = args
        .faults
        .iter()
        .map(|s| parse_fault(s))
        .collect::<Result<Vec<_>, _>>()?;
    let config = SimConfig {
        workers: args.workers,
        orgs: args.orgs,
        seed: args.seed,
        tenant: args.tenant.clone(),
        realm: args.realm.clone(),
        token_lifetime: Duration::from_secs(args.token_lifetime_secs),
        latency: args.latency_ms.map(Duration::from_millis),
        flat_spellings: args.flat_spellings,
        shape: args.shape,
        port: args.port,
        isu_username: format!("isu_idmesh@{}", args.tenant),
        ..SimConfig::default()
    };
    let sim = Simulator::start(config).await?;
    for r in rules {
        sim.add_fault(r);
    }
    let c = sim.config();
    println!("Workday tenant simulator listening on {}", sim.base_url());
    println!("  tenant:        {}", c.tenant);
    println!("  realm:         {}", c.realm);
    println!("  token URL:     {}", sim.token_url());
    println!("  API base:      {}", sim.api_base_url());
    println!("  client id:     {}", c.client_id);
    println!(
        "  client secret: {}   (demo value, not a real secret)",
        c.client_secret
    );
    println!(
        "  refresh token: {}   (demo value, not a real secret)",
        c.refresh_token
    );
    println!(
        "  SOAP endpoint: {}   (Get_Workers, Get_Organizations; {} to {})",
        sim.soap_url("v44.0"),
        super::SOAP_VERSION_FIRST,
        super::SOAP_VERSION_LAST
    );
    println!("  ISU username:  {}", c.isu_username);
    println!(
        "  ISU password:  {}   (demo value, not a real secret)",
        c.isu_password
    );
    println!(
        "  data:          {} workers, {} orgs, seed {}{}{}",
        c.workers,
        c.orgs,
        c.seed,
        if c.flat_spellings {
            ", flat spellings"
        } else {
            ""
        },
        match c.shape {
            Shape::Rich => "",
            Shape::Published => ", published shape (no status, names or update times)",
        }
    );
    for f in &args.faults {
        println!("  fault:         {f}");
    }
    println!("Press Ctrl-C to stop.");
    let churn = async {
        if args.churn == 0 {
            return std::future::pending::<()>().await;
        }
        let mut tick = tokio::time::interval(Duration::from_secs(args.churn_interval_secs.max(1)));
        tick.tick().await;
        let mut round = 0u64;
        loop {
            tick.tick().await;
            round += 1;
            let s = sim.churn(args.churn, args.seed.wrapping_add(round));
            println!("churn round {round}: {s}");
        }
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        () = churn => {}
    }
    println!("Stopping; served {} requests.", sim.requests().len());
    sim.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        args: SimulateArgs,
    }

    #[test]
    fn the_shape_flag() {
        let shape = |argv: &[&str]| Cmd::try_parse_from(argv).map(|c| c.args.shape);
        assert_eq!(shape(&["simulate"]).unwrap(), Shape::Rich);
        assert_eq!(
            shape(&["simulate", "--shape", "published"]).unwrap(),
            Shape::Published
        );
        assert_eq!(
            shape(&["simulate", "--shape", "rich"]).unwrap(),
            Shape::Rich
        );
        let e = shape(&["simulate", "--shape", "soap"]).unwrap_err();
        assert!(
            e.to_string().contains("possible values: rich, published"),
            "{e}"
        );
    }
}
