//! Following a live tail (logs, events) of every node of a cluster at once: each node's
//! own stream (sequence numbers are each node's), each resuming after the last of its
//! entries shown, each entry marked with its node.

use serde_json::Value;

use crate::client::{Client, ClientError};

/// How long a node's live tail that ended waits before it is opened again.
const REOPEN: std::time::Duration = std::time::Duration::from_secs(2);

/// One kind of live tail.
#[derive(Clone, Copy)]
pub struct Tail<'a> {
    /// The query (`/api/v1/logs`): a node's newest matching entry, when none was shown.
    pub list: &'a str,
    /// The stream (`/api/v1/logs/stream`), read with `after`.
    pub stream: &'a str,
    /// The query string of filters, without `after`.
    pub filters: &'a str,
    /// What the entries are, in warnings ("logs").
    pub what: &'a str,
}

/// Follows `tail` on every node the asked node lists, after the entries `shown` (each
/// carrying its `node` and that node's `seq`), handing each new entry (with its `node`)
/// to `print`. A tail that ends or cannot be opened is said on stderr and opened again
/// every 2 s until interrupted; a lost node is named and skipped.
pub async fn every_node(
    client: &Client,
    tail: Tail<'_>,
    shown: &[Value],
    print: impl Fn(&Value) + Copy,
) -> Result<(), ClientError> {
    let v: Value = client.get("/api/v1/nodes").await?;
    let tails = v["nodes"].as_array().into_iter().flatten().filter_map(|n| {
        let name = n["name"].as_str()?.to_owned();
        if n["status"] == "lost" {
            eprintln!(
                "warning: node {name} is lost: its new {} are not shown",
                tail.what
            );
            return None;
        }
        let api = match ask_at(n["api"].as_str()?, n["address"].as_str()?) {
            Ok(api) => api,
            Err(why) => {
                eprintln!(
                    "warning: node {name}: {why}; its new {} are not shown",
                    tail.what
                );
                return None;
            }
        };
        let last = shown
            .iter()
            .rev()
            .find(|e| e["node"].as_str() == Some(name.as_str()))
            .and_then(|e| e["seq"].as_u64());
        Some(follow_node(client, tail, name, api, last, print))
    });
    futures::future::join_all(tails).await;
    Ok(())
}

/// Where a node's API is asked from here: where its node list entry says, as a node
/// asks another (`shoal_api::fanout::api_to_ask`).
fn ask_at(api: &str, address: &str) -> Result<std::net::SocketAddr, String> {
    let api = api
        .parse()
        .map_err(|e| format!("API address {api:?}: {e}"))?;
    let address = address
        .parse()
        .map_err(|e| format!("address {address:?}: {e}"))?;
    shoal_api::fanout::api_to_ask(api, address)
}

/// One node's live tail after its entry `last` (none shown: after its newest matching
/// entry), opened again whenever it ends.
async fn follow_node(
    asked: &Client,
    tail: Tail<'_>,
    node: String,
    api: std::net::SocketAddr,
    mut last: Option<u64>,
    print: impl Fn(&Value),
) {
    let Ok(c) = asked.at(&format!("{}://{api}", asked.scheme())) else {
        eprintln!(
            "warning: node {node}'s API address {api} is not usable: its new {} are not shown",
            tail.what
        );
        return;
    };
    let filters = tail.filters;
    loop {
        let after = match last {
            Some(seq) => Ok(seq),
            None => newest_seq(&c, tail).await,
        };
        let ended = match after {
            Ok(after) => {
                last = Some(after);
                let path = format!("{}?{filters}&after={after}", tail.stream);
                c.sse(&path, |data| {
                    if let Ok(mut e) = serde_json::from_str::<Value>(data) {
                        last = e["seq"].as_u64().or(last);
                        e["node"] = Value::from(node.as_str());
                        print(&e);
                    }
                })
                .await
            }
            Err(e) => Err(e),
        };
        match ended {
            Ok(()) => eprintln!("shoal: node {node}'s live tail ended; opening it again"),
            Err(e) => eprintln!(
                "warning: node {node}'s live tail: {e}; trying again in {}s",
                REOPEN.as_secs()
            ),
        }
        tokio::time::sleep(REOPEN).await;
    }
}

/// The sequence number of a node's newest matching entry (0: none yet).
async fn newest_seq(c: &Client, tail: Tail<'_>) -> Result<u64, ClientError> {
    let latest: Value = c
        .get(&format!(
            "{}?{}&limit=1&local=true",
            tail.list, tail.filters
        ))
        .await?;
    Ok(latest[0]["seq"].as_u64().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::ask_at;

    #[test]
    fn a_node_is_asked_where_its_entry_says() {
        let at = |s: &str| s.parse::<std::net::SocketAddr>().expect("address");
        assert_eq!(ask_at("0.0.0.0:7070", "10.0.0.2"), Ok(at("10.0.0.2:7070")));
        assert_eq!(
            ask_at("127.0.0.1:7071", "127.0.0.1"),
            Ok(at("127.0.0.1:7071"))
        );
        assert!(ask_at("not an address", "127.0.0.1").is_err());
    }
}
