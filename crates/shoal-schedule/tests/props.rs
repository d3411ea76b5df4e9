//! Properties of placement over random clusters: never over capacity, spread even within
//! one instance, deterministic, every group whole or its shortfall explained, and a
//! settled cluster left alone.

use std::collections::BTreeMap;

use proptest::prelude::*;
use shoal_schedule::{schedule, Group, Node, NodeStatus, Placement, Resources};

fn nodes(n: usize, cpu: u64, mem: u64) -> Vec<Node> {
    (0..n)
        .map(|i| Node {
            name: format!("n{i}"),
            capacity: Resources::new(cpu, mem),
            labels: BTreeMap::new(),
            status: NodeStatus::Ready,
        })
        .collect()
}

fn groups(counts: &[(u32, u64, u64)]) -> Vec<Group> {
    counts
        .iter()
        .enumerate()
        .map(|(i, (count, cpu, mem))| Group {
            service: format!("s{i}"),
            version: "1".into(),
            count: *count,
            request: Resources::new(*cpu, *mem),
            constraints: vec![],
        })
        .collect()
}

/// The cluster after a plan: current minus stops plus new placements (new ones healthy).
fn apply(current: &[Placement], plan: &shoal_schedule::Plan, next_id: &mut u32) -> Vec<Placement> {
    let stopped: Vec<&str> = plan.stop.iter().map(|s| s.id.as_str()).collect();
    let mut after: Vec<Placement> = current
        .iter()
        .filter(|p| !stopped.contains(&p.id.as_str()))
        .cloned()
        .collect();
    for p in &plan.place {
        *next_id += 1;
        after.push(Placement {
            id: format!("{next_id:06}"),
            service: p.service.clone(),
            version: p.version.clone(),
            node: p.node.clone(),
            healthy: true,
        });
    }
    after
}

fn used(groups: &[Group], placements: &[Placement], node: &str) -> Resources {
    placements
        .iter()
        .filter(|p| p.node == node)
        .filter_map(|p| groups.iter().find(|g| g.service == p.service))
        .fold(Resources::default(), |acc, g| acc.plus(g.request))
}

proptest! {
    #[test]
    fn never_over_capacity_and_shortfalls_are_explained(
        n in 1usize..6,
        cpu in 100u64..4000,
        mem in 64u64..8192,
        counts in prop::collection::vec((0u32..12, 0u64..900, 0u64..2048), 1..6),
    ) {
        let nodes = nodes(n, cpu, mem);
        let groups = groups(&counts);
        let plan = schedule(&groups, &nodes, &[]);
        let mut id = 0;
        let after = apply(&[], &plan, &mut id);
        for node in &nodes {
            let u = used(&groups, &after, &node.name);
            prop_assert!(u.cpu_millis <= cpu && u.memory_mb <= mem, "{} over: {u:?}", node.name);
        }
        for g in &groups {
            let got = after.iter().filter(|p| p.service == g.service).count() as u32;
            let missing = plan.unplaced.iter().find(|u| u.service == g.service).map_or(0, |u| u.missing);
            prop_assert_eq!(got + missing, g.count);
            if missing > 0 {
                prop_assert!(!plan.unplaced.iter().find(|u| u.service == g.service).map_or(String::new(), |u| u.reason.clone()).is_empty());
            }
        }
    }

    #[test]
    fn spread_is_even_within_one_instance(
        n in 1usize..7,
        counts in prop::collection::vec((0u32..40, 0u64..10, 0u64..10), 1..8),
    ) {
        // Room for everything: spread alone decides.
        let nodes = nodes(n, 1_000_000, 1_000_000);
        let groups = groups(&counts);
        let after = apply(&[], &schedule(&groups, &nodes, &[]), &mut 0);
        for g in &groups {
            let per: Vec<usize> = nodes.iter()
                .map(|nd| after.iter().filter(|p| p.service == g.service && p.node == nd.name).count())
                .collect();
            let (lo, hi) = (per.iter().min().copied().unwrap_or(0), per.iter().max().copied().unwrap_or(0));
            prop_assert!(hi - lo <= 1, "{}: {per:?}", g.service);
        }
    }

    #[test]
    fn deterministic_whatever_the_input_order(
        n in 1usize..5,
        counts in prop::collection::vec((0u32..8, 0u64..500, 0u64..500), 1..5),
        shuffle in any::<u64>(),
    ) {
        let nodes = nodes(n, 2000, 2000);
        let groups = groups(&counts);
        let current = apply(&[], &schedule(&groups, &nodes, &[]), &mut 0);
        // Ask for other counts against the same current placements, inputs reordered.
        let mut other = groups.clone();
        for g in &mut other { g.count = (g.count + 3) % 9; }
        let a = schedule(&other, &nodes, &current);
        let mut rn = nodes.clone();
        let mut ro = other.clone();
        let mut rc = current.clone();
        let k = shuffle as usize;
        let by = k % rn.len().max(1);
        rn.rotate_left(by);
        ro.reverse();
        let by = k % rc.len().max(1);
        rc.rotate_left(by);
        prop_assert_eq!(a, schedule(&ro, &rn, &rc));
    }

    #[test]
    fn a_settled_cluster_is_left_alone_and_lost_nodes_are_replaced(
        n in 2usize..6,
        counts in prop::collection::vec((1u32..10, 0u64..10, 0u64..10), 1..5),
        lose in any::<usize>(),
    ) {
        let mut nodes = nodes(n, 1_000_000, 1_000_000);
        let groups = groups(&counts);
        let mut id = 0;
        let current = apply(&[], &schedule(&groups, &nodes, &[]), &mut id);
        prop_assert!(schedule(&groups, &nodes, &current).is_empty());

        let lost = lose % n;
        nodes[lost].status = shoal_schedule::NodeStatus::Lost;
        let plan = schedule(&groups, &nodes, &current);
        let on_lost = current.iter().filter(|p| p.node == nodes[lost].name).count();
        prop_assert_eq!(plan.stop.len(), on_lost);
        prop_assert!(plan.place.iter().all(|p| p.node != nodes[lost].name));
        let after = apply(&current, &plan, &mut id);
        for g in &groups {
            prop_assert_eq!(after.iter().filter(|p| p.service == g.service).count() as u32, g.count);
        }
    }
}
