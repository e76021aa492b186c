//! `cargo xtask <command>`: project automation.

use std::process::ExitCode;

mod bench;
mod bench_swarm;
mod dht_sim;
mod fuzz;
mod soak;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  bench          the Rust node against the JavaScript reference, side by side
                 (cargo xtask bench --help; see docs/performance.md)
  bench-server   a Rust benchmark server (run by `bench`)
  bench-client   a Rust benchmark load generator (run by `bench`)
  bench-swarm    message swarms (tell, ask) over mem and net~shs against raw box-stream
                 baselines (cargo xtask bench-swarm --help)
  dht-sim        the Kademlia DHT (ms-kad) simulated with 100 and 1,000 nodes in memory
                 (cargo xtask dht-sim --help; see docs/dht.md)
  fuzz           run every fuzz target for N minutes (cargo xtask fuzz --help)
  soak           honest and hostile load against one node for N minutes
                 (cargo xtask soak --help)
  help           this text";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("help") | None => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some("bench") => bench::bench(rest),
        Some(role @ ("bench-server" | "bench-client")) => {
            let result = if role == "bench-server" {
                bench::peer_server(rest)
            } else {
                bench::peer_client(rest)
            };
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    println!("{}", serde_json::json!({"event": "fatal", "message": e}));
                    eprintln!("xtask {role}: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Some("bench-swarm") => bench_swarm::bench_swarm(rest),
        Some("dht-sim") => dht_sim::dht_sim(rest),
        Some("fuzz") => fuzz::fuzz(&args[1..]),
        Some("soak") => soak::soak(rest),
        Some(other) => {
            eprintln!("xtask: unknown command `{other}` (try `cargo xtask help`)");
            ExitCode::from(2)
        }
    }
}
