//! The pure error book: groups with counts, first/last seen and the latest example.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where an error was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A 5xx answer through the proxy (the instance's or Shoal's own).
    Http,
    /// An instance that exited on its own, or failed to start.
    Crash,
    /// A structured log line at error level.
    Log,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Http => "http",
            Source::Crash => "crash",
            Source::Log => "log",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        match s {
            "http" => Some(Source::Http),
            "crash" => Some(Source::Crash),
            "log" => Some(Source::Log),
            _ => None,
        }
    }
}

/// One occurrence, as the feeders report it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub service: String,
    pub source: Source,
    pub cause: String,
    pub instance: Option<String>,
    pub time_ms: u64,
    /// What the latest occurrence looked like (path, status, trace id, stderr tail…).
    pub example: Value,
}

/// Occurrences of one error: same service, source and cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Stable id of the group (service, source and cause hashed), for `shoal errors ID`.
    pub id: String,
    pub service: String,
    pub source: Source,
    pub cause: String,
    pub count: u64,
    pub first_ms: u64,
    pub last_ms: u64,
    /// Instances it happened on (at most [`MAX_INSTANCES`] kept).
    pub instances: BTreeSet<String>,
    pub latest: Value,
}

/// Instances remembered per group.
pub const MAX_INSTANCES: usize = 16;

/// Which groups a listing wants.
#[derive(Debug, Clone, Default)]
pub struct ErrorQuery {
    pub service: Option<String>,
    pub source: Option<Source>,
    /// Only groups seen at or after this unix ms.
    pub since_ms: Option<u64>,
    /// At most this many, most recently seen first; 0 = all.
    pub limit: usize,
}

/// Bounded set of groups; when full, the group seen least recently is forgotten.
#[derive(Debug)]
pub struct Book {
    max_groups: usize,
    groups: HashMap<String, Group>,
    /// Groups forgotten to stay within `max_groups`.
    pub forgotten: u64,
    /// Whether anything was recorded since [`Book::take_changes`] last looked.
    changed: bool,
}

/// What a book holds, written down to be read back after a restart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    pub forgotten: u64,
    /// Most recently seen first.
    pub groups: Vec<Group>,
}

impl Book {
    pub fn new(max_groups: usize) -> Self {
        Book {
            max_groups: max_groups.max(1),
            groups: HashMap::new(),
            forgotten: 0,
            changed: false,
        }
    }

    /// What it holds, if anything was recorded since the last call.
    pub fn take_changes(&mut self) -> Option<Saved> {
        if !std::mem::take(&mut self.changed) {
            return None;
        }
        Some(Saved {
            forgotten: self.forgotten,
            groups: self.list(&ErrorQuery::default()),
        })
    }

    /// Counts the book as changed (so the next [`Book::take_changes`] gives it).
    pub fn mark_changed(&mut self) {
        self.changed = true;
    }

    /// Adds the groups of `saved` (a previous run's) to what it holds: a group
    /// recorded meanwhile is merged (counts added, times widened, the newer
    /// example kept); past `max_groups`, the groups seen least recently are
    /// forgotten, as always.
    pub fn restore(&mut self, saved: Saved) {
        self.forgotten += saved.forgotten;
        for mut old in saved.groups {
            // Its id is its key's hash: made again, so a doctored file cannot
            // file a group under another's id.
            let id = group_id(&old.service, old.source, &old.cause);
            match self.groups.get_mut(&id) {
                Some(g) => {
                    if old.last_ms > g.last_ms {
                        g.latest = old.latest;
                    }
                    g.count += old.count;
                    g.first_ms = g.first_ms.min(old.first_ms);
                    g.last_ms = g.last_ms.max(old.last_ms);
                    for i in old.instances {
                        note_instance(&mut g.instances, i);
                    }
                }
                None => {
                    let mut instances = BTreeSet::new();
                    for i in std::mem::take(&mut old.instances) {
                        note_instance(&mut instances, i);
                    }
                    self.groups.insert(
                        id.clone(),
                        Group {
                            id,
                            instances,
                            ..old
                        },
                    );
                }
            }
        }
        while self.groups.len() > self.max_groups {
            self.forget_oldest();
        }
    }

    /// Counts one occurrence; returns its group id.
    pub fn record(&mut self, s: Sample) -> String {
        let id = group_id(&s.service, s.source, &s.cause);
        if !self.groups.contains_key(&id) && self.groups.len() >= self.max_groups {
            self.forget_oldest();
        }
        let g = self.groups.entry(id.clone()).or_insert_with(|| Group {
            id: id.clone(),
            service: s.service.clone(),
            source: s.source,
            cause: s.cause.clone(),
            count: 0,
            first_ms: s.time_ms,
            last_ms: s.time_ms,
            instances: BTreeSet::new(),
            latest: Value::Null,
        });
        g.count += 1;
        g.first_ms = g.first_ms.min(s.time_ms);
        g.last_ms = g.last_ms.max(s.time_ms);
        if let Some(i) = s.instance {
            note_instance(&mut g.instances, i);
        }
        g.latest = s.example;
        self.changed = true;
        id
    }

    fn forget_oldest(&mut self) {
        let oldest = self
            .groups
            .values()
            .min_by_key(|g| (g.last_ms, g.count))
            .map(|g| g.id.clone());
        if let Some(id) = oldest {
            self.groups.remove(&id);
            self.forgotten += 1;
        }
    }

    /// Matching groups, most recently seen first.
    pub fn list(&self, q: &ErrorQuery) -> Vec<Group> {
        let mut out: Vec<Group> = self
            .groups
            .values()
            .filter(|g| q.service.as_deref().is_none_or(|s| s == g.service))
            .filter(|g| q.source.is_none_or(|s| s == g.source))
            .filter(|g| q.since_ms.is_none_or(|t| g.last_ms >= t))
            .cloned()
            .collect();
        out.sort_by(|a, b| b.last_ms.cmp(&a.last_ms).then(b.count.cmp(&a.count)));
        if q.limit > 0 {
            out.truncate(q.limit);
        }
        out
    }

    pub fn get(&self, id: &str) -> Option<Group> {
        self.groups.get(id).cloned()
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// Adds instance `i` to a group's, unless it already holds [`MAX_INSTANCES`] others.
fn note_instance(instances: &mut BTreeSet<String>, i: String) {
    if instances.len() < MAX_INSTANCES || instances.contains(&i) {
        instances.insert(i);
    }
}

/// 12 hex digits of a 64-bit FNV-1a hash of the group's key: stable across runs.
pub fn group_id(service: &str, source: Source, cause: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [service, source.as_str(), cause] {
        for b in part.bytes().chain([0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{:012x}", h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(service: &str, cause: &str, t: u64, inst: &str) -> Sample {
        Sample {
            service: service.into(),
            source: Source::Http,
            cause: cause.into(),
            instance: Some(inst.into()),
            time_ms: t,
            example: json!({ "t": t }),
        }
    }

    #[test]
    fn repeats_count_in_one_group_with_the_latest_example() {
        let mut b = Book::new(10);
        let a = b.record(sample("web", "HTTP 500 GET /x/*", 10, "web-1"));
        let a2 = b.record(sample("web", "HTTP 500 GET /x/*", 30, "web-2"));
        b.record(sample("web", "HTTP 503 GET /y", 20, "web-1"));
        assert_eq!(a, a2);
        let g = b.get(&a).unwrap_or_else(|| panic!("group {a}"));
        assert_eq!((g.count, g.first_ms, g.last_ms), (2, 10, 30));
        assert_eq!(g.latest, json!({ "t": 30 }));
        assert_eq!(g.instances.len(), 2);
        let listed: Vec<u64> = b
            .list(&ErrorQuery::default())
            .iter()
            .map(|g| g.last_ms)
            .collect();
        assert_eq!(listed, [30, 20], "most recently seen first");
    }

    #[test]
    fn the_book_is_bounded_and_forgets_the_stalest_group() {
        let mut b = Book::new(3);
        for i in 0..10u64 {
            b.record(sample("web", &format!("cause {i}"), i, "web-1"));
        }
        assert_eq!(b.len(), 3);
        assert_eq!(b.forgotten, 7);
        let causes: Vec<String> = b
            .list(&ErrorQuery::default())
            .into_iter()
            .map(|g| g.cause)
            .collect();
        assert_eq!(causes, ["cause 9", "cause 8", "cause 7"]);
    }

    #[test]
    fn listing_filters_by_service_source_time_and_limit() {
        let mut b = Book::new(10);
        b.record(sample("web", "a", 1, "web-1"));
        b.record(sample("api", "b", 2, "api-1"));
        b.record(Sample {
            source: Source::Crash,
            ..sample("api", "c", 3, "api-1")
        });
        let q = |service: Option<&str>, source, since_ms, limit| ErrorQuery {
            service: service.map(str::to_string),
            source,
            since_ms,
            limit,
        };
        assert_eq!(b.list(&q(Some("api"), None, None, 0)).len(), 2);
        assert_eq!(b.list(&q(None, Some(Source::Crash), None, 0)).len(), 1);
        assert_eq!(b.list(&q(None, None, Some(2), 0)).len(), 2);
        assert_eq!(b.list(&q(None, None, None, 1)).len(), 1);
    }

    #[test]
    fn instances_per_group_are_bounded() {
        let mut b = Book::new(10);
        let mut id = String::new();
        for i in 0..100 {
            id = b.record(sample("web", "a", i, &format!("web-{i}")));
        }
        assert_eq!(b.get(&id).map(|g| g.instances.len()), Some(MAX_INSTANCES));
    }

    #[test]
    fn group_ids_are_stable_and_distinct() {
        assert_eq!(
            group_id("a", Source::Http, "x"),
            group_id("a", Source::Http, "x")
        );
        assert_ne!(
            group_id("a", Source::Http, "x"),
            group_id("a", Source::Log, "x")
        );
        assert_ne!(
            group_id("ab", Source::Http, "x"),
            group_id("a", Source::Http, "bx")
        );
        assert_eq!(group_id("a", Source::Http, "x").len(), 12);
    }

    #[test]
    fn a_saved_book_reads_back_whole_and_merges_with_what_came_meanwhile() {
        let mut b = Book::new(10);
        assert_eq!(b.take_changes(), None, "nothing recorded yet");
        let a = b.record(sample("web", "HTTP 500 GET /x/*", 10, "web-1"));
        b.record(sample("web", "HTTP 500 GET /x/*", 30, "web-2"));
        let c = b.record(sample("api", "crash: exit 1", 20, "api-1"));
        let saved = b.take_changes().unwrap_or_else(|| panic!("changed"));
        assert_eq!(b.take_changes(), None, "taken");
        let text = serde_json::to_string(&saved).unwrap_or_else(|e| panic!("{e}"));
        let back: Saved = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));

        let mut again = Book::new(10);
        again.record(sample("web", "HTTP 500 GET /x/*", 40, "web-3"));
        again.restore(back);
        let g = again.get(&a).unwrap_or_else(|| panic!("group {a}"));
        assert_eq!((g.count, g.first_ms, g.last_ms), (3, 10, 40));
        assert_eq!(g.latest, json!({ "t": 40 }), "the newer example stays");
        assert_eq!(g.instances.len(), 3);
        assert_eq!(again.get(&c).map(|g| g.count), Some(1));
        assert_eq!(again.len(), 2);
    }

    #[test]
    fn a_restored_book_keeps_its_bound_and_the_ids_it_makes() {
        let mut b = Book::new(3);
        for t in 0..3 {
            b.record(sample("web", &format!("HTTP 500 GET /{t}"), t, "web-1"));
        }
        let mut saved = b.take_changes().unwrap_or_else(|| panic!("changed"));
        // A doctored id is made again from the group's key.
        saved.groups[0].id = "doctored".into();
        let mut small = Book::new(2);
        small.record(sample("web", "HTTP 502 GET /new", 100, "web-1"));
        small.restore(saved);
        assert_eq!(small.len(), 2);
        assert_eq!(small.forgotten, 2);
        assert!(small.get("doctored").is_none());
        let listed: Vec<u64> = small
            .list(&ErrorQuery::default())
            .iter()
            .map(|g| g.last_ms)
            .collect();
        assert_eq!(listed, [100, 2], "the ones seen least recently went");
    }
}
