//! Placements per second (bench/cluster.sh): 1,000 instances (100 services of 10) placed
//! on 3 nodes, by `schedule` from nothing in one call and by `place_one` one at a time
//! (as the cluster leader does), ROUNDS rounds each; prints every round and a JSON line.

use std::collections::BTreeMap;
use std::time::Instant;

use shoal_schedule::{place_one, schedule, Group, Node, NodeStatus, Placement, Resources};

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let nodes: Vec<Node> = (0..3)
        .map(|i| Node {
            name: format!("n{i}"),
            capacity: Resources::new(64_000, 262_144),
            labels: BTreeMap::new(),
            status: NodeStatus::Ready,
        })
        .collect();
    let groups: Vec<Group> = (0..100)
        .map(|i| Group {
            service: format!("svc{i:03}"),
            version: "1".into(),
            count: 10,
            request: Resources::new(50, 128),
            constraints: vec![],
        })
        .collect();
    let mut out = Vec::new();
    println!("round  schedule(1000)/s  place_one/s");
    for round in 1..=rounds {
        let t = Instant::now();
        let plan = schedule(&groups, &nodes, &[]);
        let whole = plan.place.len() as f64 / t.elapsed().as_secs_f64();
        assert_eq!(plan.place.len(), 1000);

        let request = |_: &str, _: &str| Resources::new(50, 128);
        let mut current: Vec<Placement> = Vec::with_capacity(1000);
        let t = Instant::now();
        for g in &groups {
            for k in 0..g.count {
                let node = place_one(g, &nodes, &current, request).unwrap_or_default();
                current.push(Placement {
                    id: format!("{}-{k}", g.service),
                    service: g.service.clone(),
                    version: g.version.clone(),
                    node,
                    healthy: false,
                });
            }
        }
        let one = current.len() as f64 / t.elapsed().as_secs_f64();
        println!("{round:>5}  {whole:>16.0}  {one:>11.0}");
        out.push(format!(
            "{{\"round\":{round},\"schedule_per_sec\":{whole:.0},\"place_one_per_sec\":{one:.0}}}"
        ));
    }
    println!("[{}]", out.join(","));
}
