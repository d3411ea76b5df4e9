//! Store writes of the agent API and the check runner: (de)registering services and checks,
//! check verdicts, and the catalog record that mirrors each registered service into
//! `shoal/catalog/<name>/<id>` (`external = true`) so the gateway and DNS route to it.

use shoal_catalog::{catalog_key, decode, encode, Health, InstanceRecord, InstanceState, Weights};
use shoal_store::{CmpOp, Compare, KeyValue, Op, OpResponse, Store, Txn};

use crate::check_model::{worst, CheckDef, CheckRecord, Status};
use crate::error::{ConsulError, Result};
use crate::register::ServiceDef;
use crate::state::{check_key, now_ms, service_key, ConsulState, CHECK_PREFIX};

const MAX_ATTEMPTS: usize = 32;

/// The catalog record of a registered service: version = first tag (or "1"), health = the
/// worst of its checks (passing without checks), address = its own or the node's.
pub fn catalog_record(
    def: &ServiceDef,
    checks: &[&CheckRecord],
    node: &str,
    node_addr: &str,
) -> InstanceRecord {
    let status = worst(checks.iter().map(|c| c.status));
    let output = checks
        .iter()
        .find(|c| c.status == status)
        .map(|c| c.output.clone())
        .unwrap_or_default();
    let address = match def.address.as_str() {
        "" => node_addr.to_string(),
        "localhost" => "127.0.0.1".to_string(),
        a => a.to_string(),
    };
    InstanceRecord {
        id: def.id.clone(),
        service: def.name.clone(),
        version: def.tags.first().cloned().unwrap_or_else(|| "1".to_string()),
        node: node.to_string(),
        address,
        port: def.port,
        pid: None,
        state: InstanceState::Running,
        health: match status {
            Status::Passing => Health::Passing,
            Status::Warning => Health::Warning,
            Status::Critical => Health::Critical,
        },
        health_output: output,
        restarts: 0,
        consecutive_failures: 0,
        crash_loop: false,
        last_exit: None,
        started_ms: def.registered_ms,
        external: true,
        group: String::new(),
        fingerprint: 0,
        deployment: 0,
        healthy_since_ms: None,
        weights: Some(Weights::clamped(def.weights.0, def.weights.1)),
        tags: def.tags.clone(),
    }
}

fn range_of(r: Option<OpResponse>) -> Vec<KeyValue> {
    match r {
        Some(OpResponse::Range(kvs)) => kvs,
        _ => Vec::new(),
    }
}

fn get_of(r: Option<OpResponse>) -> Option<KeyValue> {
    match r {
        Some(OpResponse::Get(kv)) => kv,
        _ => None,
    }
}

/// The checks stored under `CHECK_PREFIX` that belong to `service_id`.
fn checks_of(kvs: &[KeyValue], service_id: &str) -> Vec<(KeyValue, CheckRecord)> {
    kvs.iter()
        .filter_map(|kv| {
            decode::<CheckRecord>(&kv.key, &kv.value)
                .ok()
                .map(|c| (kv.clone(), c))
        })
        .filter(|(_, c)| c.def.service_id == service_id)
        .collect()
}

/// Registers (or replaces) a service with its checks; existing checks keep their verdicts,
/// and other checks of the service stay unless `replace_checks`.
pub async fn register_service(
    st: &ConsulState,
    mut def: ServiceDef,
    checks: Vec<CheckDef>,
    replace_checks: bool,
) -> Result<()> {
    let store = st.store.as_ref();
    for _ in 0..MAX_ATTEMPTS {
        let r = store
            .txn(Txn::new().and_then([Op::get(service_key(&def.id)), Op::range(CHECK_PREFIX)]))
            .await?;
        let mut it = r.responses.into_iter();
        let (old, all_checks) = (get_of(it.next()), range_of(it.next()));
        let old_def = old
            .as_ref()
            .and_then(|kv| decode::<ServiceDef>(&kv.key, &kv.value).ok());
        if let Some(o) = &old_def {
            def.registered_ms = o.registered_ms;
        }
        let now = now_ms();
        let existing = checks_of(&all_checks, &def.id);
        let mut ops = vec![Op::put(service_key(&def.id), encode(&def))];
        let mut records: Vec<CheckRecord> = Vec::new();
        for c in &checks {
            let prev = existing.iter().map(|(_, r)| r).find(|r| r.def.id == c.id);
            let rec = CheckRecord::new(c.clone(), prev, now);
            ops.push(Op::put(check_key(&c.id), encode(&rec)));
            records.push(rec);
        }
        for (kv, rec) in &existing {
            if checks.iter().any(|c| c.id == rec.def.id) {
                continue;
            }
            if replace_checks {
                ops.push(Op::delete(kv.key.clone()));
            } else {
                records.push(rec.clone());
            }
        }
        if let Some(o) = old_def.filter(|o| o.name != def.name) {
            ops.push(Op::delete(catalog_key(&o.name, &o.id)));
        }
        let refs: Vec<&CheckRecord> = records.iter().collect();
        let record = catalog_record(&def, &refs, &st.node, &st.address.to_string());
        ops.push(Op::put(catalog_key(&def.name, &def.id), encode(&record)));
        let guard = Compare::mod_revision(
            service_key(&def.id),
            CmpOp::Equal,
            old.map_or(0, |kv| kv.mod_revision),
        );
        if store
            .txn(Txn::new().when([guard]).and_then(ops))
            .await?
            .succeeded
        {
            tracing::info!(service = %def.name, id = %def.id, checks = checks.len(), "consul service registered");
            return Ok(());
        }
    }
    Err(ConsulError::Conflict(format!(
        "service {:?} kept changing; retry",
        def.id
    )))
}

/// Removes a registered service, its checks and its catalog record; `false` if unknown.
pub async fn deregister_service(store: &dyn Store, id: &str) -> Result<bool> {
    let r = store
        .txn(Txn::new().and_then([Op::get(service_key(id)), Op::range(CHECK_PREFIX)]))
        .await?;
    let mut it = r.responses.into_iter();
    let (Some(kv), all_checks) = (get_of(it.next()), range_of(it.next())) else {
        return Ok(false);
    };
    let def: ServiceDef =
        decode(&kv.key, &kv.value).map_err(|e| ConsulError::bad(e.to_string()))?;
    let mut ops = vec![
        Op::delete(service_key(id)),
        Op::delete(catalog_key(&def.name, id)),
    ];
    ops.extend(
        checks_of(&all_checks, id)
            .into_iter()
            .map(|(kv, _)| Op::delete(kv.key)),
    );
    store.txn(Txn::new().and_then(ops)).await?;
    tracing::info!(service = %def.name, id, "consul service deregistered");
    Ok(true)
}

/// Registers a standalone check (node check, or attached to a registered service).
pub async fn register_check(store: &dyn Store, def: CheckDef) -> Result<()> {
    let mut guards = Vec::new();
    if !def.service_id.is_empty() {
        if store.get(&service_key(&def.service_id)).await?.is_none() {
            // Consul: 404 `ServiceID "x" does not exist`.
            return Err(ConsulError::not_found(format!(
                "ServiceID {:?} does not exist",
                def.service_id
            )));
        }
        guards.push(Compare::version(
            service_key(&def.service_id),
            CmpOp::Greater,
            0,
        ));
    }
    let prev = store
        .get(&check_key(&def.id))
        .await?
        .and_then(|kv| decode::<CheckRecord>(&kv.key, &kv.value).ok());
    let rec = CheckRecord::new(def, prev.as_ref(), now_ms());
    let txn = Txn::new()
        .when(guards)
        .and_then([Op::put(check_key(&rec.def.id), encode(&rec))]);
    if !store.txn(txn).await?.succeeded {
        return Err(ConsulError::not_found(format!(
            "ServiceID {:?} does not exist",
            rec.def.service_id
        )));
    }
    Ok(())
}

/// Removes a check; `false` if unknown.
pub async fn deregister_check(store: &dyn Store, id: &str) -> Result<bool> {
    Ok(store.delete(&check_key(id)).await?.is_some())
}

/// Applies `change` to a stored check atomically; `None` when the check does not exist.
/// `change` returns false to leave the record as it is.
pub async fn update_check<F>(
    store: &dyn Store,
    id: &str,
    mut change: F,
) -> Result<Option<CheckRecord>>
where
    F: FnMut(&mut CheckRecord) -> Result<bool>,
{
    for _ in 0..MAX_ATTEMPTS {
        let Some(kv) = store.get(&check_key(id)).await? else {
            return Ok(None);
        };
        let mut rec: CheckRecord =
            decode(&kv.key, &kv.value).map_err(|e| ConsulError::bad(e.to_string()))?;
        if !change(&mut rec)? {
            return Ok(Some(rec));
        }
        let txn = Txn::new()
            .when([Compare::mod_revision(
                kv.key.clone(),
                CmpOp::Equal,
                kv.mod_revision,
            )])
            .and_then([Op::put(kv.key, encode(&rec))]);
        if store.txn(txn).await?.succeeded {
            return Ok(Some(rec));
        }
    }
    Err(ConsulError::Conflict(format!(
        "check {id:?} kept changing; retry"
    )))
}
