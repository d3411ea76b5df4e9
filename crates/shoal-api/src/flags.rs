//! Feature flags: list, show, edit (`PATCH`), create or edit (`PUT`) and delete; the
//! writes are `shoal_flags`'s (validated as a whole, compare-and-swap on the key).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shoal_catalog::{flag_key, now_ms};
use shoal_events::Kind;
use shoal_flags::{Flag, FlagChange, FlagError};
use shoal_fleet::Fleet;
use shoal_store::Revision;

use crate::error::{parse_json, ApiError};
use crate::flag_text::describe_change;
use crate::openapi::{
    array, error, json_body, object, ok, path_param, pattern, schema_ref, string, uint, unavailable,
};
use crate::state::ApiState;

/// A flag as `/api/v1/flags` answers it: the stored record, how it evaluated in the last
/// minute, and the store revision of its last write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagView {
    /// The stored flag.
    #[serde(flatten)]
    pub flag: Flag,
    /// Value (`1`/`0`, or a variant) → evaluations by the gateway in the last minute;
    /// empty when this process has no gateway.
    #[serde(default)]
    pub evaluations: BTreeMap<String, u64>,
    /// The mod revision of the flag's key (`shoal/flags/<name>`).
    #[serde(default)]
    pub revision: Revision,
}

/// Evaluation counts of the last minute, from the hook when there is one.
fn counts(st: &ApiState) -> BTreeMap<String, BTreeMap<String, u64>> {
    st.flag_counts.as_ref().map(|f| f()).unwrap_or_default()
}

fn view(fleet: &Fleet, flag: Flag, counts: &BTreeMap<String, BTreeMap<String, u64>>) -> FlagView {
    FlagView {
        evaluations: counts.get(&flag.name).cloned().unwrap_or_default(),
        revision: fleet.mod_revision(&flag_key(&flag.name)),
        flag,
    }
}

/// A 400 unless `name` can name a flag.
fn check_name(name: &str) -> Result<(), ApiError> {
    if shoal_spec::is_flag_name(name) {
        return Ok(());
    }
    Err(ApiError::bad_request(format!("invalid flag name {name:?}"))
        .detail("use 1 to 64 letters, digits, `_` or `-`"))
}

/// A refused flag operation as an API error.
fn refused(e: FlagError) -> ApiError {
    match e {
        // A change that parses but breaks the flag's rules (some span fields, or the
        // stored flag and the change together): 422, apart from a body that does not parse.
        FlagError::Invalid { name, problems } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("flag `{name}` would be invalid; nothing was changed"),
        )
        .detail(problems),
        FlagError::Unknown { name, closest } => {
            let hint = match closest {
                Some(c) => format!("did you mean `{c}`?"),
                None => format!(
                    "create it with PUT /api/v1/flags/{name} (`shoal flag set {name} --create`), \
                     or declare [flags.{name}] in the service file"
                ),
            };
            ApiError::not_found(format!("no flag named `{name}`")).detail(hint)
        }
        FlagError::Syntax { .. } => ApiError::bad_request(e.to_string()),
        FlagError::Conflict { .. } | FlagError::SeedConflict { .. } => {
            ApiError::new(StatusCode::CONFLICT, e.to_string())
        }
        FlagError::Corrupt { .. } => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
        FlagError::Store(s) => ApiError::from(s),
    }
}

/// The 404 of a flag that is not stored, with the closest stored name. `shoal_flags`
/// keeps its suggestion to itself; an empty change without `create` is its read-only
/// way there (a missing flag is refused before anything is written, and an empty change
/// of a flag created meanwhile writes nothing).
async fn unknown(st: &ApiState, name: &str) -> ApiError {
    match shoal_flags::set(st.store.as_ref(), name, &FlagChange::default(), false, 0).await {
        Err(e) => refused(e),
        Ok(_) => ApiError::not_found(format!("no flag named `{name}`")),
    }
}

/// `GET /api/v1/flags`: every flag, by name.
pub async fn list(State(st): State<Arc<ApiState>>) -> Result<Json<Vec<FlagView>>, ApiError> {
    let fleet = st.fleet().await?;
    let counts = counts(&st);
    Ok(Json(
        fleet
            .flags
            .values()
            .map(|f| view(&fleet, f.clone(), &counts))
            .collect(),
    ))
}

/// `GET /api/v1/flags/{name}`.
pub async fn show(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> Result<Json<FlagView>, ApiError> {
    check_name(&name)?;
    let fleet = st.fleet().await?;
    match fleet.flags.get(&name) {
        Some(f) => Ok(Json(view(&fleet, f.clone(), &counts(&st)))),
        None => Err(unknown(&st, &name).await),
    }
}

/// `PATCH /api/v1/flags/{name}`: a [`FlagChange`] to an existing flag.
pub async fn patch(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<FlagView>, ApiError> {
    let (_, view) = write(&st, &name, body, false).await?;
    Ok(Json(view))
}

/// `PUT /api/v1/flags/{name}`: a [`FlagChange`], creating the flag (disabled, origin
/// API) when it is missing; 201 when it was created.
pub async fn put(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<FlagView>), ApiError> {
    let (created, view) = write(&st, &name, body, true).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)))
}

/// Applies the body's change; an event tells what changed. Returns whether the flag was
/// created, and its view after the write.
async fn write(
    st: &ApiState,
    name: &str,
    body: Result<Bytes, BytesRejection>,
    create: bool,
) -> Result<(bool, FlagView), ApiError> {
    check_name(name)?;
    let body: Value = parse_json(body)?;
    objects_only(&body)?;
    let change: FlagChange = serde_json::from_value(body).map_err(|e| {
        ApiError::bad_request("request body is not valid JSON for this endpoint")
            .detail(e.to_string())
    })?;
    let store = st.store.as_ref();
    // For the event's "before" and the status; `set` re-reads under compare-and-swap.
    let before = shoal_flags::get(store, name).await.map_err(refused)?;
    let after = shoal_flags::set(store, name, &change, create, now_ms())
        .await
        .map_err(refused)?;
    if before.as_ref() != Some(&after) {
        st.events.emit(
            Kind::Flag,
            "",
            "",
            describe_change(before.as_ref(), &after),
            json!({ "flag": name, "enabled": after.enabled, "rollout": after.rollout, "change": change }),
        );
    }
    // Read-your-writes: the view holds this write (or a newer one) from here on.
    let fleet = st.fleet().await?;
    let flag = fleet.flags.get(name).cloned().unwrap_or(after);
    Ok((before.is_none(), view(&fleet, flag, &counts(st))))
}

/// A 400 unless every rule in a change's lists is a JSON object: serde would read
/// `["X-Beta", ["1"]]` as a `force_on` rule too, which no client means.
fn objects_only(body: &Value) -> Result<(), ApiError> {
    for list in ["force_on_add", "constraints", "variants"] {
        let items = body[list].as_array().map_or(&[][..], Vec::as_slice);
        if let Some(i) = items.iter().position(|item| !item.is_object()) {
            return Err(ApiError::bad_request(format!(
                "`{list}[{i}]` must be a JSON object"
            )));
        }
    }
    Ok(())
}

/// `DELETE /api/v1/flags/{name}`: answers the flag as it was (a flag of the service file
/// comes back on its next deploy).
pub async fn delete(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_name(&name)?;
    let store = st.store.as_ref();
    let before = match shoal_flags::get(store, &name).await {
        Ok(Some(f)) => serde_json::to_value(&f).map_err(ApiError::internal)?,
        Ok(None) => return Err(unknown(&st, &name).await),
        // An unreadable record can be deleted too.
        Err(FlagError::Corrupt { message, .. }) => json!({ "name": name, "unreadable": message }),
        Err(e) => return Err(refused(e)),
    };
    shoal_flags::delete(store, &name).await.map_err(refused)?;
    st.events.emit(
        Kind::Flag,
        "",
        "",
        format!("flag {name}: deleted"),
        json!({ "flag": name, "deleted": true }),
    );
    Ok(Json(before))
}

/// The OpenAPI paths of this file's endpoints.
pub fn openapi_paths() -> Value {
    let name = path_param("name", pattern("^[A-Za-z0-9_-]{1,64}$"), "flag name");
    let flag = schema_ref("FlagView");
    let change = json_body(schema_ref("FlagChange"), true);
    let bad_name = "invalid flag name";
    let bad_body = "the body is not a FlagChange, or the flag name is invalid";
    let invalid = "the flag would break a rule the schema cannot say (across fields, or with the stored flag: an off_variant without variants, a user in both allow and deny, duplicate or all-zero variants; detail: every problem); nothing is written";
    json!({
        "/api/v1/flags": { "get": { "summary": "Every feature flag by name, with its evaluations in the last minute",
            "responses": { "200": ok("flags", array(flag.clone())), "503": unavailable() } } },
        "/api/v1/flags/{name}": {
            "get": { "summary": "One feature flag", "parameters": [name.clone()],
                "responses": { "200": ok("the flag", flag.clone()), "400": error(bad_name),
                    "404": error("no such flag (detail: the closest name)"), "503": unavailable() } },
            "patch": { "summary": "Change a flag's rules; the result is validated as a whole and nothing is written when it is invalid",
                "parameters": [name.clone()], "requestBody": change.clone(),
                "responses": { "200": ok("the flag as stored", flag.clone()), "400": error(bad_body),
                    "404": error("no such flag (detail: the closest name)"), "409": error("the flag kept changing; try again"),
                    "422": error(invalid), "503": unavailable() } },
            "put": { "summary": "Change a flag's rules, creating it (disabled, rollout 100%) when missing",
                "parameters": [name.clone()], "requestBody": change,
                "responses": { "200": ok("changed", flag.clone()), "201": ok("created", flag), "400": error(bad_body),
                    "409": error("the flag kept changing; try again"), "422": error(invalid), "503": unavailable() } },
            "delete": { "summary": "Delete a flag (a flag of the service file comes back on its next deploy)", "parameters": [name],
                "responses": { "200": ok("the deleted flag (or its name and why it could not be read)", json!({ "oneOf": [
                        schema_ref("Flag"), object(&["name", "unreadable"], json!({ "name": string(), "unreadable": string() })) ] })),
                    "400": error(bad_name), "404": error("no such flag (detail: the closest name)"), "503": unavailable() } } }
    })
}

/// The OpenAPI schemas of this file's bodies and answers.
pub fn openapi_schemas() -> Value {
    let s = string();
    let header = pattern("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$");
    let key = json!({ "type": "string", "minLength": 1 });
    let keys = array(key.clone());
    let force = json!({ "type": "object", "required": ["header", "values"], "properties": {
        "header": header, "values": { "type": "array", "items": key, "minItems": 1 } } });
    let constraint = json!({ "oneOf": [
        object(&["header", "equals"], json!({ "header": header, "equals": s })),
        object(&["header", "in"], json!({ "header": header, "in": { "type": "array", "items": s, "minItems": 1 } })),
        object(&["path_prefix"], json!({ "path_prefix": pattern("^/") })) ] });
    let variant_name = pattern("^[A-Za-z0-9_.-]{1,64}$");
    let variant = json!({ "type": "object", "required": ["name", "weight"], "properties": {
        "name": variant_name, "weight": uint(u64::from(shoal_spec::MAX_VARIANT_WEIGHT)) } });
    let variants = json!({ "type": "array", "items": variant, "maxItems": shoal_spec::MAX_VARIANTS,
        "description": "empty: an on/off flag; else at least one weight above 0 and no name twice" });
    let rollout = json!({ "type": "number", "minimum": 0, "maximum": 100, "description": "percent of users, sticky by the user header" });
    let flag_props = json!({
        "name": s, "enabled": { "type": "boolean" }, "rollout": rollout,
        "user_header": header, "force_on": array(force.clone()),
        "allow": keys, "deny": keys, "constraints": array(constraint.clone()),
        "variants": variants, "off_variant": variant_name,
        "origin": { "enum": ["file", "api"] },
        "file": { "type": ["object", "null"], "description": "the service file's definition when it last seeded the flag" },
        "updated_ms": uint(u64::MAX), "version": json!({ "type": "integer", "minimum": 0, "description": "writes since creation" }) });
    let flag_fields = [
        "name",
        "enabled",
        "rollout",
        "user_header",
        "force_on",
        "allow",
        "deny",
        "constraints",
        "variants",
        "off_variant",
        "origin",
        "file",
        "updated_ms",
        "version",
    ];
    let mut view_props = flag_props.clone();
    view_props["evaluations"] = json!({ "type": "object", "additionalProperties": uint(u64::MAX),
        "description": "value (1/0 or a variant) → gateway evaluations in the last minute" });
    view_props["revision"] =
        json!({ "type": "integer", "minimum": 0, "description": "mod revision of the flag's key" });
    let mut view_fields = flag_fields.to_vec();
    view_fields.extend(["evaluations", "revision"]);
    let nullable = |v: &Value| {
        let mut v = v.clone();
        v["type"] = json!([v["type"].clone(), "null"]);
        v
    };
    json!({
        "Flag": object(&flag_fields, flag_props),
        "FlagView": object(&view_fields, view_props),
        "FlagChange": { "type": "object", "additionalProperties": false,
            "description": "absent (or null) fields are left as they are; the result is checked as a whole", "properties": {
            "enabled": nullable(&json!({ "type": "boolean" })), "rollout": nullable(&rollout),
            "user_header": nullable(&header),
            "force_on_clear": { "type": "boolean", "description": "remove every force rule (before force_on_add)" },
            "force_on_add": { "type": "array", "items": force, "description": "a rule for a header that has one replaces it" },
            "allow": nullable(&keys), "deny": nullable(&keys), "constraints": nullable(&array(constraint)),
            "variants": nullable(&variants), "off_variant": nullable(&variant_name) } }
    })
}
