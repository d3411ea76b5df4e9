//! What `shoal up` checks before it starts anything: tokens, an API open beyond this machine.

use std::net::SocketAddr;

use anyhow::bail;
use shoal_spec::Spec;

/// An API beyond this machine needs tokens, and TLS (`[platform.tls] api = true`)
/// unless `allow_plaintext_api = true` says otherwise (then a warning at every start).
pub fn refuse_open_public_api(
    addr: SocketAddr,
    tokens: &shoal_api::Tokens,
    api_tls: bool,
    allow_plaintext: bool,
) -> anyhow::Result<()> {
    if addr.ip().is_loopback() {
        return Ok(());
    }
    if !tokens.enabled() {
        bail!(
            "platform.http = {addr} is not a loopback address; Shoal refuses to serve its API beyond this machine without tokens (add [platform.tokens.<name>] with env and rights)"
        );
    }
    match (api_tls, allow_plaintext) {
        (true, _) => {}
        (false, true) => tracing::warn!(
            %addr,
            "the API serves plain HTTP beyond this machine (allow_plaintext_api = true): its tokens cross the network in clear text; set [platform.tls] with api = true"
        ),
        (false, false) => bail!(
            "platform.http = {addr} is not a loopback address; Shoal refuses to send its API's tokens over the network in clear text: set [platform.tls] with api = true (or, knowingly, allow_plaintext_api = true in [platform])"
        ),
    }
    Ok(())
}

/// Reads every configured token's value from its environment variable.
pub fn load_tokens(spec: &Spec) -> anyhow::Result<shoal_api::Tokens> {
    let mut tokens = Vec::new();
    for (name, t) in &spec.platform.tokens {
        let value = std::env::var(&t.env).unwrap_or_default();
        if value.trim().len() < 16 {
            bail!(
                "token `{name}`: environment variable {} must hold the token (at least 16 characters)",
                t.env
            );
        }
        tokens.push(shoal_api::Token {
            name: name.clone(),
            value: value.trim().to_string(),
            rights: t.rights.clone(),
        });
    }
    Ok(shoal_api::Tokens::new(tokens))
}
